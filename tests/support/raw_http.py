"""One HTTP request to a registry, with its auth dance, through nothing but urllib.

Deliberately shares nothing with src/release_pipeline: end-to-end tests read and write
registries through this to check what the pipeline did. The host's proxy variables are never
used (the registries are on loopback), and an HTTP error status is an answer to assert on,
not an exception.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any

__all__ = ["RawResponse", "raw_request"]


@dataclass
class RawResponse:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _NoProxyOpener:
    """urllib opener that never uses proxy variables and never raises on HTTP statuses."""

    def __init__(self) -> None:
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def open(self, req: urllib.request.Request, timeout: float) -> RawResponse:
        try:
            with self._opener.open(req, timeout=timeout) as resp:
                return RawResponse(resp.status, resp.headers, resp.read())
        except urllib.error.HTTPError as err:
            with err:
                return RawResponse(err.code, err.headers, err.read())


_opener = _NoProxyOpener()


def raw_request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
    creds: tuple[str, str] | None = None,
    timeout: float = 30,
) -> RawResponse:
    """One HTTP request with the registry auth dance when challenged.

    On 401 it answers a Basic challenge with `creds`, or a Bearer challenge by fetching a token
    from the realm (with Basic `creds` if given, anonymously otherwise) and retrying. Redirects
    are followed; Authorization is never sent to the redirect target.
    """
    resp = _send(method, url, headers, data, None, timeout)
    if resp.status != 401:
        return resp
    challenge = resp.headers.get("WWW-Authenticate", "")
    scheme, params = _parse_challenge(challenge)
    if scheme == "basic" and creds:
        return _send(method, url, headers, data, _basic(creds), timeout)
    if scheme == "bearer" and "realm" in params:
        token = _fetch_token(params, creds, timeout)
        if token is not None:
            return _send(method, url, headers, data, f"Bearer {token}", timeout)
    return resp


def _send(
    method: str,
    url: str,
    headers: Mapping[str, str] | None,
    data: bytes | None,
    authorization: str | None,
    timeout: float,
) -> RawResponse:
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if authorization:
        req.add_unredirected_header("Authorization", authorization)
    return _opener.open(req, timeout)


def _basic(creds: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', rest))


def _fetch_token(
    params: dict[str, str], creds: tuple[str, str] | None, timeout: float
) -> str | None:
    query: dict[str, str] = {k: params[k] for k in ("service", "scope") if k in params}
    url = params["realm"] + ("?" + urllib.parse.urlencode(query) if query else "")
    resp = _send("GET", url, None, None, _basic(creds) if creds else None, timeout)
    if resp.status != 200:
        return None
    body = resp.json()
    token = body.get("token") or body.get("access_token")
    return str(token) if token else None
