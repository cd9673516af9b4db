"""A TCP relay that counts connections: how many attempts a client made, whatever it spoke.

The HTTP proxy (`proxy.py`) counts requests, but a TLS handshake that fails, or plain HTTP
sent to an HTTPS port, never becomes a request it could parse. Every attempt of a client
opens a new connection (a failed handshake leaves none to reuse), so the number of
connections accepted here is the number of attempts. Bytes pass through untouched, so the
registry behind it answers exactly as it would directly.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading

from . import LoopbackServer

__all__ = ["Relay"]


class Relay:
    """Listens on 127.0.0.1:<free port> and forwards each connection to `upstream`."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.rpartition(":")
        self._upstream = (host, int(port))
        self._lock = threading.Lock()
        self._connections = 0
        self._server = LoopbackServer("127.0.0.1", _handler_for(self), "tcp-relay")
        self.host = self._server.host

    @property
    def connections(self) -> int:
        with self._lock:
            return self._connections

    def stop(self) -> None:
        self._server.stop()

    def _accepted(self) -> None:
        with self._lock:
            self._connections += 1


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def _handler_for(relay: Relay) -> type[socketserver.BaseRequestHandler]:
    class RelayHandler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            relay._accepted()
            client: socket.socket = self.request
            with socket.create_connection(relay._upstream, timeout=60) as upstream:
                back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
                back.start()
                _pump(client, upstream)
                back.join(60)

    return RelayHandler
