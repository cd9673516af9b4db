"""Test support: a real registry, tiny images, a token server and a fault-injecting proxy.

Everything here talks to real processes over loopback (127.0.0.0/8) only. This module holds
the small piece of plumbing shared by the in-process servers (token server, proxy, sink): a
threaded HTTP server that can be stopped without leaking handler threads, even when clients
keep idle keep-alive connections open.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["LoopbackServer", "QuietHandler"]


class QuietHandler(BaseHTTPRequestHandler):
    """Request handler that speaks HTTP/1.1 and keeps the test output clean."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle on, the body waits for the
    # client's delayed ACK (~40 ms on Linux) and every proxied request pays it.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default per-request stderr line: tests read recorded requests instead."""


class LoopbackServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer run in a background thread, stoppable without leaking threads.

    The stdlib server either joins handler threads (hanging on idle keep-alive clients) or
    forgets them (daemon threads). This one tracks each connection, shuts its socket down on
    stop so a blocked read returns, then joins the thread.
    """

    daemon_threads = True
    block_on_close = False

    def __init__(
        self, bind: str, handler: type[socketserver.BaseRequestHandler], name: str
    ) -> None:
        if not bind.startswith("127."):
            raise ValueError(f"test servers bind to loopback only, not {bind!r}")
        super().__init__((bind, 0), handler)
        self._live_lock = threading.Lock()
        self._live: dict[threading.Thread, socket.socket] = {}
        self._serve_thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
        )
        self._serve_thread.start()
        self._stopped = False

    @property
    def host(self) -> str:
        """The "127.0.0.1:PORT" address clients use."""
        addr, port = self.server_address[:2]
        return f"{addr!s}:{port}"

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._run_request, args=(request, client_address), daemon=True
        )
        with self._live_lock:
            self._live[thread] = request
        thread.start()

    def _run_request(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._live_lock:
                self._live.pop(threading.current_thread(), None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up mid-answer are normal here (fault injection, retries)."""

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, unblock and join every handler thread. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self.shutdown()
        self.server_close()
        self._serve_thread.join(timeout)
        with self._live_lock:
            live = list(self._live.items())
        for _, sock in live:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread, _ in live:
            thread.join(timeout)
