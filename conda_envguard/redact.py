"""Credentials never reach envguard's store: tokens and passwords are cut out of every URL."""

from __future__ import annotations

import re

URL_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
# anaconda.org-style channel tokens: https://host/t/<token>/channel
_TOKEN_PATH = re.compile(r"/t/[^/?#]+")
# user:password@ (or a bare user@) right after the scheme
_USERINFO = re.compile(r"^(?P<scheme>[^:]+://)[^/@]+@")
# ?token=..., &api_key=... query parameters
_QUERY_SECRET = re.compile(r"(?P<key>[?&](?:token|access_token|api_key|apikey|password)=)[^&]+")


def redact_url(url: str, placeholder: bool = True) -> str:
    """`url` without credentials. With `placeholder`, a token leaves `/t/<TOKEN>` behind (to
    show one was there); without, the URL is the channel's plain one, which conda can use
    again (and authenticate with the credentials it is configured with)."""
    if url.startswith("file:"):
        return url  # local paths hold no credentials, and may well contain a /t/ dir
    url = _USERINFO.sub(r"\g<scheme>", url)
    url = _TOKEN_PATH.sub("/t/<TOKEN>" if placeholder else "", url)
    return _QUERY_SECRET.sub(r"\g<key><REDACTED>", url)


def redact(text: str, placeholder: bool = True) -> str:
    """Return `text` with the credentials of every URL in it removed (see `redact_url`)."""
    return URL_PATTERN.sub(lambda m: redact_url(m.group(0), placeholder), text)


def with_credentials(url: str, channels) -> str:
    """Give back to a redacted package URL the credentials of the configured channel it is
    from: `https://host/chan/...` becomes `https://user:pw@host/t/TOKEN/chan/...`."""
    for channel in channels:
        channel = str(channel).rstrip("/")
        bare = redact_url(channel, placeholder=False)
        if bare != channel and (url == bare or url.startswith(bare + "/")):
            return channel + url[len(bare) :]
    return url
