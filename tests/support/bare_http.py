"""One bare HTTP request, for tests that check the harness's servers themselves.

No retries, no auth and a fresh connection each time: a fault the proxy injects or a
challenge a registry sends reaches the test exactly as it went over the wire.
"""

from __future__ import annotations

import http.client
from email.message import Message

__all__ = ["bare_request"]


def bare_request(
    host: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Message, bytes]:
    """One request on a fresh connection, no retries, no auth: sees faults as they are."""
    conn = http.client.HTTPConnection(host, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()
