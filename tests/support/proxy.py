"""Loopback reverse proxy in front of a real registry: counting, paging, faults, hostility.

Debian's registry 2.8 cannot page tag lists, fail on demand or lie, yet the pipeline must
cope with registries that do (GHCR, ECR, a compromised mirror). Rather than mocking HTTP,
this proxy forwards real traffic to a real registry and changes only what a test asks for:

- counting: every request is recorded, so tests can assert how many calls a step made;
- paging (`page_size`, support.tag_pages): tag lists are answered page by page with
  `Link: <...>; rel="next"`;
- faults (`Faults`, support.faults): seeded random 429/5xx, connection resets, delays, and
  writes that are applied upstream but whose answer is lost;
- `refuse_writes`: every write gets 403 DENIED (a read-only token);
- hostile answers (`Hostile`, support.hostile_answers): tampered, oversized, invalid or
  unknown manifests, endless tag lists, blob redirects to another host (support.sink checks
  no credentials follow), and a `rewrite` hook that may change any answer's status, headers
  and body (`Answer`).

This module holds the proxy a test starts and the per-request choice among those; the
streaming itself is support.forwarding. The Host header is forwarded unchanged, so the
registry builds upload URLs (Location) that point back at the proxy and every step of a
push goes through it.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import LoopbackServer
from .forwarding import passable
from .hostile_answers import Answer, Hostile, HostileAnswers
from .tag_pages import TagPages

if TYPE_CHECKING:
    # support.faults needs WRITE_METHODS from here; the proxy only calls a Faults it is given.
    from .faults import Faults

__all__ = ["WRITE_METHODS", "Proxy", "start_proxy"]

WRITE_METHODS = frozenset({"PUT", "POST", "PATCH", "DELETE"})


class Proxy:
    """A running proxy. `host` is what clients use; `requests` is every (method, path?query)."""

    def __init__(
        self,
        upstream: str,
        *,
        page_size: int | None = None,
        faults: Faults | None = None,
        refuse_writes: bool = False,
        hostile: Hostile | None = None,
        bind: str = "127.0.0.1",
    ) -> None:
        if not upstream.startswith("127."):
            raise ValueError(f"upstream must be a loopback host:port, not {upstream!r}")
        self.upstream = upstream
        self.page_size = page_size
        self.faults = faults
        self.refuse_writes = refuse_writes
        self.hostile = hostile or Hostile()
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server = LoopbackServer(bind, _ProxyHandler, f"proxy->{upstream}")
        self._server.proxy = self  # type: ignore[attr-defined]
        self.host = self._server.host

    def url(self, path: str) -> str:
        return f"http://{self.host}{path}"

    def counted(self) -> list[tuple[str, str]]:
        """Registry API calls: requests minus /v2/ pings and anything outside /v2/."""
        with self._lock:
            return [
                (m, p)
                for m, p in self.requests
                if p.startswith("/v2/") and not (m in ("GET", "HEAD") and p in ("/v2/", "/v2"))
            ]

    def reset(self) -> None:
        """Forget recorded requests (fault counters live on the Faults object)."""
        with self._lock:
            self.requests.clear()

    def stop(self) -> None:
        """Stop serving and join handler threads. Idempotent."""
        self._server.stop()

    def _record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))


def start_proxy(
    upstream: str,
    *,
    page_size: int | None = None,
    faults: Faults | None = None,
    refuse_writes: bool = False,
    hostile: Hostile | None = None,
    bind: str = "127.0.0.1",
) -> Proxy:
    """Start a proxy on `bind`:<free port> in front of `upstream` ("127.0.0.1:PORT")."""
    return Proxy(
        upstream,
        page_size=page_size,
        faults=faults,
        refuse_writes=refuse_writes,
        hostile=hostile,
        bind=bind,
    )


class _Reset(Exception):
    """Abort the exchange with a TCP reset instead of an answer."""


class _ProxyHandler(HostileAnswers, TagPages):
    """Per request, in order: refuse a write, inject a fault, lie, page, rewrite or forward."""

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def _handle(self) -> None:
        proxy = self.proxy
        method = self.command
        proxy._record(method, self.path)
        path = urllib.parse.urlsplit(self.path).path
        try:
            if proxy.refuse_writes and method in WRITE_METHODS:
                self._drain()
                self._json_error(403, "DENIED", "writes are refused by this test proxy")
                return
            faults = proxy.faults
            fault = faults.pick(method, self.path) if faults is not None else None
            if fault == "reset":
                raise _Reset
            if fault in ("429", "500", "502", "503"):
                self._drain()
                self._injected_status(int(fault))
                return
            if fault == "delay" and faults is not None:
                time.sleep(faults.delay)
            if fault == "drop_after_write":
                resp, conn = self._forward(method, self._body())
                with contextlib.closing(conn):
                    resp.read()
                raise _Reset
            if self._hostile(method, path) or self._paged_tags(method, path):
                return
            if proxy.hostile.rewrite is not None:
                self._rewritten(proxy.hostile.rewrite, method)
                return
            self._relay(*self._forward(method, self._body()))
        except _Reset:
            self._reset()

    def _rewritten(self, rewrite: Callable[[Answer], None], method: str) -> None:
        """Forward, read the whole answer, let `rewrite` change it, then answer with it."""
        resp, conn = self._forward(method, self._body())
        with contextlib.closing(conn):
            answer = Answer(method, self.path, resp.status, resp.getheaders(), resp.read())
        rewrite(answer)
        self._answer(answer.status, answer.body, passable(answer.headers))

    def _injected_status(self, status: int) -> None:
        faults = self.proxy.faults
        headers = [("Content-Type", "application/json")]
        if status == 429:
            if faults is not None and faults.retry_after is not None:
                headers.append(("Retry-After", faults.retry_after))
            code = "TOOMANYREQUESTS"
        else:
            code = "UNAVAILABLE" if status == 503 else "UNKNOWN"
        body = json.dumps(
            {"errors": [{"code": code, "message": f"injected {status} by test proxy"}]}
        ).encode()
        self._answer(status, body, headers)
