"""A Bearer token server that the real registry trusts: the GHCR-style auth flow on loopback.

Flow (as on ghcr.io): the registry answers 401 with
`WWW-Authenticate: Bearer realm=..,service=..,scope=..`; the client GETs the realm with Basic
user:password and receives `{"token": ..., "access_token": ...}` (no `expires_in`, like GHCR);
it retries with `Authorization: Bearer <token>` and the registry itself verifies the JWT.

Registry 2.8 checks the token's issuer, audience (= service), exp/nbf and its signature with a
key it trusts: either an `x5c` header whose chain verifies against `rootcertbundle`, or a `kid`
naming the libtrust key id of a root certificate's key. Both are supported here (`key_hint`);
x5c is the default because it needs no libtrust-specific encoding.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from . import LoopbackServer, QuietHandler
from .tls import self_signed_ca

__all__ = ["ALL_ACTIONS", "TokenRequest", "TokenServer", "libtrust_key_id"]

ALL_ACTIONS = frozenset({"pull", "push", "delete", "*"})


@dataclass(frozen=True)
class TokenRequest:
    """One request the token server saw. Passwords are never kept, only whether one matched."""

    path: str
    service: str | None
    scopes: tuple[str, ...]  # as asked, e.g. ("repository:team/app:pull,push",)
    basic: bool  # whether Basic credentials were sent
    username: str | None
    status: int  # 200, or 401 for wrong credentials
    granted: tuple[str, ...]  # what the token allows, e.g. ("repository:team/app:pull,push",)


class TokenServer:
    """Issues registry JWTs on 127.0.0.1:<free port>, served from a background thread.

    `users` maps username -> password. `permissions` optionally restricts a user's actions
    (default: every requested action). Anonymous requests get a token with no access, or pull
    access when `anonymous_pull` is set (a public repository).
    """

    def __init__(
        self,
        workdir: Path,
        users: dict[str, str],
        *,
        service: str = "release-pipeline-test-registry",
        issuer: str = "release-pipeline-test-token-issuer",
        permissions: dict[str, Iterable[str]] | None = None,
        anonymous_pull: bool = False,
        key_hint: Literal["x5c", "kid"] = "x5c",
        ttl: int = 300,
        bind: str = "127.0.0.1",
    ) -> None:
        self.service = service
        self.issuer = issuer
        self.requests: list[TokenRequest] = []
        self.tokens_issued = 0
        self._users = dict(users)
        self._permissions = {u: frozenset(a) for u, a in (permissions or {}).items()}
        self._anonymous_pull = anonymous_pull
        self._key_hint = key_hint
        self._ttl = ttl
        self._lock = threading.Lock()

        workdir.mkdir(parents=True, exist_ok=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._cert = self_signed_ca(self._key, "release-pipeline test token CA")
        self.rootcertbundle = workdir / "token-root.pem"
        self.rootcertbundle.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        self._x5c = base64.b64encode(self._cert.public_bytes(serialization.Encoding.DER)).decode()
        self.key_id = libtrust_key_id(self._key.public_key())

        self._server = LoopbackServer(bind, _handler_for(self), "token-server")
        self.host = self._server.host
        self.realm = f"http://{self.host}/token"

    def stop(self) -> None:
        """Stop serving and join the threads. Idempotent."""
        self._server.stop()

    def __enter__(self) -> TokenServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def issue(self, subject: str, access: list[dict[str, object]]) -> str:
        """A signed JWT the registry accepts (public so tests can forge variations)."""
        now = int(time.time())
        header: dict[str, object] = {"typ": "JWT", "alg": "ES256"}
        if self._key_hint == "x5c":
            header["x5c"] = [self._x5c]
        else:
            header["kid"] = self.key_id
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + self._ttl,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = f"{_b64url_json(header)}.{_b64url_json(claims)}"
        der = self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)  # JOSE wants raw r || s, not DER
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        with self._lock:
            self.tokens_issued += 1
        return f"{signing_input}.{_b64url(signature)}"

    def _record(self, req: TokenRequest) -> None:
        with self._lock:
            self.requests.append(req)

    def _authenticate(self, authorization: str | None) -> tuple[bool, str | None, bool]:
        """(basic given, username, credentials ok)."""
        if not authorization or not authorization.lower().startswith("basic "):
            return False, None, True
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            username, _, password = decoded.partition(":")
        except (ValueError, UnicodeDecodeError):
            return True, None, False
        expected = self._users.get(username)
        ok = expected is not None and hmac.compare_digest(expected.encode(), password.encode())
        return True, username, ok

    def _grant(self, username: str | None, scopes: list[str]) -> list[tuple[str, str, list[str]]]:
        """(type, name, actions) the token allows: requested actions the user may have."""
        if username is None:
            allowed = frozenset({"pull"}) if self._anonymous_pull else frozenset()
        else:
            allowed = self._permissions.get(username, ALL_ACTIONS)
        grants = []
        for scope in scopes:
            parsed = _parse_scope(scope)
            if parsed is None:
                continue
            typ, name, actions = parsed
            granted = [a for a in actions if a in allowed]
            if granted:
                grants.append((typ, name, granted))
        return grants


def libtrust_key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """docker/libtrust key id: SHA-256 of the DER SPKI, first 240 bits, base32, ':'-grouped."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i : i + 4] for i in range(0, len(b32), 4))


def _parse_scope(scope: str) -> tuple[str, str, list[str]] | None:
    """Parse "repository:team/app:pull,push" -> ("repository", "team/app", ["pull", "push"])."""
    head, sep, actions = scope.rpartition(":")
    typ, sep2, name = head.partition(":")
    if not sep or not sep2 or not name:
        return None
    return typ, name, [a for a in actions.split(",") if a]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _b64url_json(obj: object) -> str:
    return _b64url(json.dumps(obj, separators=(",", ":")).encode())


def _handler_for(server: TokenServer) -> type[QuietHandler]:
    class TokenHandler(QuietHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            scopes = [s for raw in query.get("scope", []) for s in raw.split(" ") if s]
            service = query.get("service", [None])[0]
            basic, username, ok = server._authenticate(self.headers.get("Authorization"))
            if url.path != "/token":
                self._answer(404, {"errors": [{"code": "NOT_FOUND", "message": url.path}]})
                return
            if not ok:
                server._record(
                    TokenRequest(self.path, service, tuple(scopes), basic, username, 401, ())
                )
                self._answer(
                    401,
                    {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]},
                    {"WWW-Authenticate": 'Basic realm="token"'},
                )
                return
            grants = server._grant(username if basic else None, scopes)
            access: list[dict[str, object]] = [
                {"type": t, "name": n, "actions": a} for t, n, a in grants
            ]
            token = server.issue(username or "", access)
            granted = tuple(f"{t}:{n}:{','.join(a)}" for t, n, a in grants)
            server._record(
                TokenRequest(self.path, service, tuple(scopes), basic, username, 200, granted)
            )
            self._answer(200, {"token": token, "access_token": token})

        def do_POST(self) -> None:
            """OAuth2 POST is not offered (GHCR-like): clients must fall back to GET."""
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self._answer(404, {"errors": [{"code": "NOT_FOUND", "message": "use GET"}]})

        def _answer(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

    return TokenHandler
