"""The "other host" of a redirect: a loopback server that records the headers it receives.

A registry may redirect a blob GET to storage on another host; credentials must not follow.
The proxy (support.proxy) sends that redirect; this server, bound to another loopback address,
is where it leads, so a test can read exactly which headers arrived there.
"""

from __future__ import annotations

import http.client
import threading
import urllib.parse
from dataclasses import dataclass

from . import LoopbackServer, QuietHandler

__all__ = ["Sink", "SinkRequest", "start_sink"]

_UPSTREAM_TIMEOUT = 60.0


@dataclass(frozen=True)
class SinkRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names


class Sink:
    """A tiny HTTP server for redirect targets: records headers, serves stashed bytes.

    Bound to another loopback address (default 127.0.0.2) so it is a different host from the
    registry. Paths not stashed are fetched anonymously from `upstream` when one is given.
    """

    def __init__(self, bind: str = "127.0.0.2", upstream: str | None = None) -> None:
        self.upstream = upstream
        self.requests: list[SinkRequest] = []
        self._stash: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._server = LoopbackServer(bind, _SinkHandler, f"sink@{bind}")
        self._server.sink = self  # type: ignore[attr-defined]
        self.host = self._server.host

    def stash(self, path: str, body: bytes) -> None:
        with self._lock:
            self._stash[path] = body

    def stop(self) -> None:
        self._server.stop()

    def _lookup(self, path: str) -> bytes | None:
        with self._lock:
            found = self._stash.get(path)
        if found is not None or self.upstream is None:
            return found
        conn = http.client.HTTPConnection(self.upstream, timeout=_UPSTREAM_TIMEOUT)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            return body if resp.status == 200 else None
        finally:
            conn.close()


class _SinkHandler(QuietHandler):
    server: LoopbackServer

    def do_GET(self) -> None:
        sink: Sink = self.server.sink  # type: ignore[attr-defined]
        headers = {k.lower(): v for k, v in self.headers.items()}
        with sink._lock:
            sink.requests.append(SinkRequest(self.command, self.path, headers))
        body = sink._lookup(urllib.parse.urlsplit(self.path).path)
        status = 200 if body is not None else 404
        body = body if body is not None else b"not here\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_HEAD = do_GET


def start_sink(bind: str = "127.0.0.2", upstream: str | None = None) -> Sink:
    """Start a Sink on `bind`:<free port>."""
    return Sink(bind, upstream)
