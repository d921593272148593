"""Integrations of tidings with other systems: ``oslo_messaging`` (an oslo.messaging transport
driver, ``transport_url = tidings://...``) on top of ``bus`` (the client for threaded code)."""
