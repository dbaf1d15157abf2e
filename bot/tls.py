"""The TLS context the process's outgoing HTTPS clients share.

Building one loads the whole CA bundle (about 40 ms of CPU); each ``httpx.AsyncClient`` and
each Telegram request object would otherwise build its own, several per app started.
"""

from __future__ import annotations

import ssl
from functools import cache

import httpx


@cache
def client_tls() -> ssl.SSLContext:
    """What httpx verifies with by default (certifi's bundle, or SSL_CERT_FILE/SSL_CERT_DIR),
    built once."""
    return httpx.create_ssl_context()
