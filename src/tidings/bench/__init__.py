"""``tidings bench``: producer / consumer / observer load against any Zaqar v2 server, and
``tidings bench compare``: two servers, interleaved, their ratios and a regression gate."""
