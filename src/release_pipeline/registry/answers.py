"""What a registry sends in headers, checked where it enters (`registry.py` calls these).

A registry, or a mirror in front of one, is hostile until what it sent matches a grammar:
digests, auth challenges, tokens and URLs are printed by `status`, quoted in conflicts and
errors, or put into the next request, and their text reaches terminals, CI logs and job
summaries. Each value either matches its grammar here or the request fails with an error
that quotes it through `errors.shown` (clipped, no control characters, no `::`). Nothing
past this module sees the raw header text.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import httpx

from release_pipeline.errors import AuthError, RegistryError
from release_pipeline.rules.inputs import is_digest

# A URL a registry names (Location, Link, a token realm): printable ASCII, no spaces.
_URL_TEXT = re.compile(r"[!-~]{1,4096}")
_IPV6_HOST = re.compile(r"\[[0-9A-Fa-f:.]+\](?::[0-9]+)?")
# RFC 6750's b64token: what a bearer token may hold, since it goes into a header as is.
B64TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")
# RFC 7235's auth-scheme (a token: no ':', no control characters).
_AUTH_SCHEME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}")


def content_digest(headers: httpx.Headers, where: str) -> str | None:
    """The Docker-Content-Digest header, None when absent. A value outside the digest
    grammar is refused without being echoed (it could hold anything, a pasted token too):
    `status` and tag conflicts print what this returns."""
    value: str | None = headers.get("docker-content-digest")
    if value is not None and not is_digest(value):
        raise RegistryError(
            f"{where}: the registry sent a Docker-Content-Digest of {len(value)} characters "
            "that is not sha256: and 64 lower-case hex digits"
        )
    return value


def auth_challenge(headers: httpx.Headers, host: str) -> str | None:
    """A 401's WWW-Authenticate header, None when absent. It must read as a challenge
    (printable ASCII, an RFC 7235 scheme first): auth errors name its scheme."""
    value: str | None = headers.get("www-authenticate")
    if value is None:
        return None
    scheme = value.strip().partition(" ")[0]
    if not (value.isascii() and value.isprintable()) or _AUTH_SCHEME.fullmatch(scheme) is None:
        raise AuthError(
            f"{host} answered 401 with a WWW-Authenticate header of {len(value)} characters "
            "that is no challenge (not echoed: it could hold anything)"
        )
    return value


def checked_url(base: str | None, reference: str, what: str) -> str:
    """A URL the registry named, joined to the URL it answered (`base`; None for a token
    realm, which must be absolute). Errors and retry lines show the request it names, so
    it must be printable ASCII with no spaces and no `::` outside an IPv6 host literal."""
    try:
        url = reference if base is None else urljoin(base, reference)
        host = urlsplit(url).netloc.rpartition("@")[2]
    except ValueError:  # an unclosed '[' in the host
        url, host = reference, ""
    outside = url.replace(host, "", 1) if _IPV6_HOST.fullmatch(host) else url
    if _URL_TEXT.fullmatch(url) is None or "::" in outside or host == "":
        raise RegistryError(
            f"{what}: the registry named a URL of {len(reference)} characters; not followed "
            "nor echoed (a URL must have a host, be printable ASCII and hold no spaces and no "
            "double colon)"
        )
    return url
