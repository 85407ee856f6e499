"""Credentials never reach envguard's store: tokens and passwords are cut out of every URL.

Secrets an env keeps itself (the variables of `conda env config vars set`, assignments in its
activation scripts) are masked in everything that can leave the machine: their values become
SECRET, by the variable's name (SECRET_NAMES, and the setting `envguard_secret_vars`) and,
inside any value, a URL's credentials. The originals stay in the snapshot's private file only
(see `envfiles.PRIVATE`).
"""

from __future__ import annotations

import fnmatch
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


# -- secrets of an env ---------------------------------------------------------------------
SECRET = "<REDACTED>"
_TOKEN_MASK = "/t/<TOKEN>"
# Names whose values are secrets, matched case-insensitively (HF_TOKEN, WANDB_API_KEY,
# AWS_SECRET_ACCESS_KEY, PGPASSWORD, GITHUB_PAT is not: list such names in envguard_secret_vars).
SECRET_NAMES = (
    "*TOKEN*",
    "*SECRET*",
    "*PASSWORD*",
    "*PASSWD*",
    "*_PASS",
    "*_PWD",
    "*_KEY",
    "*APIKEY*",
    "*API_KEY*",
    "*CREDENTIAL*",
    "*PRIVATE_KEY*",
    "*CONNECTION_STRING*",
)
# conda's marker of a variable unset with `conda env config vars unset`: not a value
_UNSET = "***unset***"


def _extra_names() -> tuple[str, ...]:
    from .settings import secret_vars

    return secret_vars()


def is_secret_name(name: str, extra: tuple[str, ...] | None = None) -> bool:
    """Does `name` match SECRET_NAMES or `extra` (default: envguard_secret_vars)?"""
    upper = name.upper()
    patterns = SECRET_NAMES + (_extra_names() if extra is None else tuple(extra))
    return any(fnmatch.fnmatchcase(upper, p.upper()) for p in patterns)


def mask_value(name: str, value: str, extra: tuple[str, ...] | None = None) -> str:
    """`value` of the variable `name` as it may leave the machine: SECRET for a secret name
    (`extra`: see `is_secret_name`), else with the credentials of its URLs masked
    (user:SECRET@, /t/<TOKEN>, ?token=SECRET)."""
    if not value or value == _UNSET:
        return value
    if is_secret_name(name, extra):
        return SECRET
    return URL_PATTERN.sub(lambda m: _mask_url(m.group(0)), value)


def _mask_url(url: str) -> str:
    if url.startswith("file:"):
        return url
    match = _USERINFO.match(url)
    if match:
        user, colon, _ = url[len(match["scheme"]) : match.end() - 1].partition(":")
        userinfo = f"{user}:{SECRET}" if colon else SECRET
        url = f"{match['scheme']}{userinfo}@{url[match.end() :]}"
    url = _TOKEN_PATH.sub(_TOKEN_MASK, url)
    return _QUERY_SECRET.sub(rf"\g<key>{SECRET}", url)


def is_masked(text: str) -> bool:
    """Does `text` hold a secret's mask (its value not known here)?"""
    return SECRET in text or _TOKEN_MASK in text


# Assignments in scripts: `export NAME=v`, `NAME=v`, `set NAME=v`, `set "NAME=v"` (cmd),
# `$Env:NAME = "v"` (PowerShell); `setenv NAME v` (csh), `set -gx NAME v` (fish).
_ASSIGNMENT = re.compile(
    r"""^(?P<lead>[ \t]*(?:export[ \t]+|set[ \t]+"?|\$env:)?)(?P<name>[A-Za-z_][A-Za-z0-9_]*)"""
    r"""(?P<sep>[ \t]*=[ \t]*)(?P<value>.*?)(?P<end>\r?)$""",
    re.IGNORECASE | re.MULTILINE,
)
_SPACED = re.compile(
    r"^(?P<lead>[ \t]*(?:setenv|set(?:[ \t]+-\w+)+)[ \t]+)(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?P<sep>[ \t]+)(?P<value>.*?)(?P<end>\r?)$",
    re.IGNORECASE | re.MULTILINE,
)


def mask_assignments(text: str, extra: tuple[str, ...] | None = None) -> str:
    """A script with the values assigned to secret names masked; the mask is quoted, so the
    script still runs (an unquoted `<` would be a redirection)."""

    def mask(m: re.Match) -> str:
        value = m["value"]
        masked = mask_value(m["name"], value.strip("\"'"), extra)
        if masked == value.strip("\"'"):
            return m.group(0)
        if value[:1] in "\"'" and value[:1]:
            quoted = f"{value[0]}{masked}{value[0]}"
        elif m["lead"].endswith('"'):
            quoted = f'{masked}"'  # cmd's set "NAME=value"
        else:
            quoted = f'"{masked}"'
        return f"{m['lead']}{m['name']}{m['sep']}{quoted}{m['end']}"

    return _SPACED.sub(mask, _ASSIGNMENT.sub(mask, text))
