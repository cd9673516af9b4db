"""The test proxy's HTTP plumbing: forward a client's request upstream and relay the answer.

Bodies are streamed both ways (Content-Length or chunked) rather than buffered, so pushing
a layer through the proxy costs what it costs against the registry. The handlers that fake
answers (support.proxy, support.hostile_answers, support.tag_pages) build on these steps.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import struct
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from . import LoopbackServer, QuietHandler

if TYPE_CHECKING:
    from .proxy import Proxy

__all__ = ["ForwardingHandler", "passable"]

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "expect",
    }
)
_CHUNK = 64 * 1024
_UPSTREAM_TIMEOUT = 60.0


class ForwardingHandler(QuietHandler):
    """Request handler steps shared by every kind of answer: upstream, client side, replies."""

    server: LoopbackServer

    @property
    def proxy(self) -> Proxy:
        return self.server.proxy  # type: ignore[attr-defined,no-any-return]

    # -- upstream ------------------------------------------------------------------------

    def _forward(
        self, method: str, body: Iterator[bytes] | None, path: str | None = None
    ) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
        """Send the client's request upstream (headers kept, body streamed)."""
        conn = http.client.HTTPConnection(self.proxy.upstream, timeout=_UPSTREAM_TIMEOUT)
        try:
            conn.putrequest(method, path or self.path, skip_host=True, skip_accept_encoding=True)
            has_host = False
            for name, value in self.headers.items():
                lname = name.lower()
                if lname in _HOP_BY_HOP:
                    continue
                has_host = has_host or lname == "host"
                conn.putheader(name, value)
            if not has_host:
                conn.putheader("Host", self.proxy.host)
            chunked = body is not None and "Content-Length" not in self.headers
            if chunked:
                conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            for chunk in body or ():
                if chunked:
                    if chunk:
                        conn.send(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                else:
                    conn.send(chunk)
            if chunked:
                conn.send(b"0\r\n\r\n")
            return conn.getresponse(), conn
        except BaseException:
            conn.close()
            raise

    def _fetch(self, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
        """GET path upstream with the client's headers; whole answer in memory."""
        resp, conn = self._forward("GET", None, path)
        with contextlib.closing(conn):
            return resp.status, resp.getheaders(), resp.read()

    def _relay(self, resp: http.client.HTTPResponse, conn: http.client.HTTPConnection) -> None:
        """Stream the upstream answer to the client."""
        with contextlib.closing(conn):
            self.send_response_only(resp.status, resp.reason)
            for name, value in resp.getheaders():
                if name.lower() not in _HOP_BY_HOP:
                    self.send_header(name, value)
            no_body = self.command == "HEAD" or resp.status in (204, 304) or resp.status < 200
            length = resp.getheader("Content-Length")
            if no_body:
                self.end_headers()
                return
            if length is None:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while True:
                chunk = resp.read1(_CHUNK) if length is None else resp.read(_CHUNK)
                if not chunk:
                    break
                self.wfile.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if length is None else chunk)
            if length is None:
                self.wfile.write(b"0\r\n\r\n")

    # -- client side ---------------------------------------------------------------------

    def _body(self) -> Iterator[bytes] | None:
        """The request body as a stream (Content-Length or chunked), or None."""
        if "Content-Length" in self.headers:
            return self._read_length(int(self.headers["Content-Length"]))
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        return None

    def _read_length(self, remaining: int) -> Iterator[bytes]:
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, _CHUNK))
            if not chunk:
                raise ConnectionError("client closed mid-body")
            remaining -= len(chunk)
            yield chunk

    def _read_chunked(self) -> Iterator[bytes]:
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            yield from self._read_length(size)
            self.rfile.readline()

    def _drain(self) -> None:
        """Read and drop the body so the keep-alive connection stays in sync."""
        for _ in self._body() or ():
            pass

    def _reset(self) -> None:
        """Close the client connection abruptly: RST, no answer (SO_LINGER 0)."""
        self.close_connection = True
        sock = self.connection
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            fd = sock.detach()  # close the fd now, bypassing socketserver's graceful shutdown
            socket.close(fd)

    def _answer(self, status: int, body: bytes, headers: Sequence[tuple[str, str]] = ()) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json_error(self, status: int, code: str, message: str) -> None:
        body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
        self._answer(status, body, [("Content-Type", "application/json")])


def passable(headers: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Upstream headers worth re-sending with a body we rebuild (length is recomputed)."""
    drop = _HOP_BY_HOP | {"content-length", "date", "server"}
    return [(k, v) for k, v in headers if k.lower() not in drop]
