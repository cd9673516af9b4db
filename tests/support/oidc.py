"""The OIDC token endpoint a runner asks for an ID token, on loopback.

A module of its own so the caller runs (actions_runner.py) and the scripts run alone
(test_workflow_scripts.py) get the same token: a JWT whose job_workflow_ref and
job_workflow_sha are what GitHub derives from the caller's `uses:` line.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

OIDC_REQUEST_TOKEN = "oidc-request-token-77aa"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@contextmanager
def oidc_server(claims: dict[str, str]) -> Iterator[str]:
    """Serve {"value": JWT(claims)} to a GET with the runner's request token; yields the URL
    a runner puts in ACTIONS_ID_TOKEN_REQUEST_URL (it already has a query string)."""
    jwt = ".".join(
        [_b64(b'{"alg":"RS256","typ":"JWT"}'), _b64(json.dumps(claims).encode()), _b64(b"sig")]
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's name
            ok = self.headers.get("Authorization") == f"bearer {OIDC_REQUEST_TOKEN}"
            body = json.dumps({"value": jwt}).encode() if ok else b"{}"
            self.send_response(200 if ok else 401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/token?api-version=2.0"
    finally:
        server.shutdown()
        server.server_close()
