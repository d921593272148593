"""tidings: a multi-tenant messaging and notification service speaking the Zaqar v2 API."""

__version__ = "0.1.0"
