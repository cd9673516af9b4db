"""Registry credentials and the challenge/token dance (Basic, or Bearer as GHCR does it).

The password lives in a `Credentials` object whose repr hides it; it is sent only to the
registry origin itself or to the token realm that registry names, and only over HTTPS
unless that host is loopback. The one exception is a registry the user named with
`--plain-http`: its own origin then gets the credentials over plain HTTP, as asked; a
token realm still has to be HTTPS or loopback.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from release_pipeline.errors import AuthError
from release_pipeline.rules.inputs import is_loopback_host

_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)

    def basic(self) -> str:
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode()


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "basic" or "bearer", lower case
    params: dict[str, str]

    @classmethod
    def parse(cls, header: str | None, host: str) -> Challenge:
        if not header:
            raise AuthError(f"{host} answered 401 without a WWW-Authenticate challenge")
        scheme, _, rest = header.strip().partition(" ")
        scheme = scheme.lower()
        if scheme not in ("basic", "bearer"):
            raise AuthError(f"{host} asks for unsupported auth scheme {scheme[:20]!r}")
        return cls(scheme, dict(_PARAM.findall(rest)))


def check_realm(realm: str, registry_host: str) -> str:
    """A realm receives the password: refuse one that would get it in clear text."""
    parts = urlsplit(realm)
    if parts.scheme == "https" or (
        parts.scheme == "http" and is_loopback_host(parts.hostname or "")
    ):
        return realm
    raise AuthError(
        f"{registry_host} names a token realm that is not HTTPS; refusing to send credentials there"
    )
