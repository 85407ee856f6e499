"""Credentials never reach envguard's store: tokens and passwords are cut out of every URL."""

from __future__ import annotations

import re

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
# anaconda.org-style channel tokens: https://host/t/<token>/channel
_TOKEN_PATH = re.compile(r"/t/[^/?#]+")
# user:password@ (or a bare user@) right after the scheme
_USERINFO = re.compile(r"^(?P<scheme>[^:]+://)[^/@]+@")
# ?token=..., &api_key=... query parameters
_QUERY_SECRET = re.compile(r"(?P<key>[?&](?:token|access_token|api_key|apikey|password)=)[^&]+")


def redact_url(url: str) -> str:
    if url.startswith("file:"):
        return url  # local paths hold no credentials, and may well contain a /t/ dir
    url = _USERINFO.sub(r"\g<scheme>", url)
    url = _TOKEN_PATH.sub("/t/<TOKEN>", url)
    return _QUERY_SECRET.sub(r"\g<key><REDACTED>", url)


def redact(text: str) -> str:
    """Return `text` with every credential in a URL replaced by a placeholder."""
    return _URL.sub(lambda m: redact_url(m.group(0)), text)
