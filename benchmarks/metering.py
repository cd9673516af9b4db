"""Metering: the harness proxy, plus body bytes, status codes and refused TLS probes."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from support.proxy import Proxy, _ProxyHandler, start_proxy
from support.tokens import TokenServer


@dataclass
class Exchange:
    method: str
    path: str
    status: int | None = None
    up: int = 0  # request body bytes
    down: int = 0  # response body bytes

    @property
    def ping(self) -> bool:
        return self.method in ("GET", "HEAD") and self.path in ("/v2/", "/v2")

    @property
    def api(self) -> bool:
        return self.path.startswith("/v2/") and not self.ping


class _BodyCounter:
    """Wraps the handler's wfile: counts what is written after the headers, minus chunk framing."""

    def __init__(self, raw: Any, handler: MeteredHandler) -> None:
        self._raw = raw
        self._handler = handler

    def write(self, data: bytes) -> int:
        h = self._handler
        if h.exchange is not None and h.headers_sent:
            h.exchange.down += _payload_len(bytes(data), h.chunked)
        return int(self._raw.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


def _payload_len(data: bytes, chunked: bool) -> int:
    if not chunked:
        return len(data)
    head, sep, rest = data.partition(b"\r\n")  # the proxy writes one whole chunk per call
    try:
        return int(head, 16) if sep else len(data)
    except ValueError:
        return len(rest)


class MeteredHandler(_ProxyHandler):
    """The harness proxy's handler, also recording body bytes and statuses per request.

    It also answers a TLS ClientHello the way Go's net/http (the real registry) does, with a
    plain-HTTP 400, so clients that try https first (docker, skopeo) fall back to http as they
    would against the registry itself; the stdlib server would otherwise answer an HTTP/0.9
    error that Go's TLS client cannot recognise. Those probes are counted, not forwarded.
    """

    exchange: Exchange | None = None
    headers_sent = False
    chunked = False

    def setup(self) -> None:
        super().setup()
        self.wfile = _BodyCounter(self.wfile, self)  # type: ignore[assignment]

    def handle_one_request(self) -> None:
        try:
            first = self.rfile.peek(1)[:1]  # type: ignore[attr-defined]
        except (OSError, ValueError):
            first = b""
        if first == b"\x16":  # TLS handshake record
            _meter(self).tls_probe()
            with contextlib.suppress(OSError):
                self.wfile.write(
                    b"HTTP/1.0 400 Bad Request\r\n\r\n"
                    b"Client sent an HTTP request to an HTTPS server.\n"
                )
            self.close_connection = True
            return
        super().handle_one_request()

    def _handle(self) -> None:
        # Recorded before it is forwarded, completed after the answer: a client that exits
        # on its last answer is never measured before its last request is on the books.
        self.exchange = Exchange(self.command, self.path)
        self.headers_sent = self.chunked = False
        _meter(self).begin(self.exchange)
        try:
            super()._handle()
        finally:
            self.exchange = None
            _meter(self).end()

    def _read_length(self, remaining: int) -> Iterator[bytes]:
        for chunk in super()._read_length(remaining):
            if self.exchange is not None:
                self.exchange.up += len(chunk)
            yield chunk

    def send_response_only(self, code: int, message: str | None = None) -> None:
        if self.exchange is not None:
            self.exchange.status = code
        super().send_response_only(code, message)

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() == "transfer-encoding" and "chunked" in value.lower():
            self.chunked = True
        super().send_header(keyword, value)

    def end_headers(self) -> None:
        super().end_headers()
        self.headers_sent = True


class Meter:
    """Everything one proxy saw, plus the token server's requests when there is one."""

    def __init__(self, proxy: Proxy, tokens: TokenServer | None = None) -> None:
        self.proxy = proxy
        self._lock = threading.Condition()
        self.exchanges: list[Exchange] = []
        self.tls_probes = 0
        self.tokens = tokens
        self._in_flight = 0

    def begin(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)
            self._in_flight += 1

    def end(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._lock.notify_all()

    def tls_probe(self) -> None:
        with self._lock:
            self.tls_probes += 1

    def mark(self) -> tuple[int, int, int, int]:
        with self._lock:
            tokens = len(self.tokens.requests) if self.tokens is not None else 0
            counted = len(self.proxy.counted())  # the harness's own count
            return len(self.exchanges), self.tls_probes, tokens, counted

    def since(self, mark: tuple[int, int, int, int]) -> tuple[list[Exchange], int, int]:
        """What arrived after `mark`, once every answer in flight has been sent."""
        with self._lock:
            if not self._lock.wait_for(lambda: self._in_flight == 0, timeout=30):
                raise SystemExit("the proxy still has requests in flight after 30 s")
        now = self.mark()
        with self._lock:
            exchanges = list(self.exchanges[mark[0] :])
        if sum(ex.api for ex in exchanges) != now[3] - mark[3]:
            raise SystemExit("the metered count disagrees with the harness's proxy.counted()")
        return exchanges, now[1] - mark[1], now[2] - mark[2]


def _meter(handler: _ProxyHandler) -> Meter:
    meter: Meter = handler.server.meter  # type: ignore[attr-defined]
    return meter


def start_metered_proxy(
    upstream: str, page_size: int | None = None, tokens: TokenServer | None = None
) -> tuple[Proxy, Meter]:
    proxy = start_proxy(upstream, page_size=page_size)
    meter = Meter(proxy, tokens)
    server = proxy._server
    server.meter = meter  # type: ignore[attr-defined]
    server.RequestHandlerClass = MeteredHandler  # socketserver reads it per connection
    return proxy, meter
