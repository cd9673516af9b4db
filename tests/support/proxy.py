"""Loopback reverse proxy in front of a real registry: counting, paging, faults, hostility.

Debian's registry 2.8 cannot page tag lists, fail on demand or lie, yet the pipeline must
cope with registries that do (GHCR, ECR, a compromised mirror). Rather than mocking HTTP,
this proxy forwards real traffic to a real registry and changes only what a test asks for:

- counting: every request is recorded, so tests can assert how many calls a step made;
- paging (`page_size`): tag lists are answered page by page with `Link: <...>; rel="next"`;
- faults (`Faults`): seeded random 429/5xx, connection resets, delays, and writes that are
  applied upstream but whose answer is lost;
- `refuse_writes`: every write gets 403 DENIED (a read-only token);
- hostile answers (`Hostile`): tampered, oversized, invalid or unknown manifests, endless
  tag lists, blob redirects to another host (support.sink checks no credentials follow),
  and a `rewrite` hook that may change any answer's status, headers and body (`Answer`).

The Host header is forwarded unchanged, so the registry builds upload URLs (Location) that
point back at the proxy and every step of a push goes through it.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import random
import re
import socket
import struct
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from . import LoopbackServer, QuietHandler
from .sink import Sink

__all__ = [
    "FAULT_KINDS",
    "WRITE_METHODS",
    "Answer",
    "Faults",
    "Hostile",
    "Proxy",
    "start_proxy",
]

WRITE_METHODS = frozenset({"PUT", "POST", "PATCH", "DELETE"})
FAULT_KINDS = ("429", "500", "502", "503", "reset", "delay", "drop_after_write")
UNKNOWN_CHILD_TYPE = "application/vnd.example.unknown+json"

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
_TAGS_RE = re.compile(r"^/v2/(?P<name>.+)/tags/list$")
_MANIFEST_RE = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$")
_BLOB_RE = re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<digest>[a-z0-9]+:[a-fA-F0-9]+)$")
_CHUNK = 64 * 1024
_UPSTREAM_TIMEOUT = 60.0


@dataclass
class Faults:
    """Seeded, thread-safe fault injection.

    Each request that matches `methods` and `path` (a regex searched in the path with query)
    gets, with probability `rate`, one kind drawn from `kinds` among those that apply to it
    (`drop_after_write` applies to writes only). `sequence`, when given, decides the first
    matching requests deterministically instead (None = no fault); `rate` applies after it.
    `limit` caps the total number of injected faults. `injected` counts faults by kind.
    """

    rate: float = 0.0
    seed: int = 0
    kinds: Sequence[str] = FAULT_KINDS
    methods: frozenset[str] | None = None
    path: str | None = None
    retry_after: str | None = "0"
    delay: float = 0.05
    sequence: Sequence[str | None] = ()
    limit: int | None = None
    injected: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        unknown = {k for k in (*self.kinds, *self.sequence) if k is not None} - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULT_KINDS}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        self.methods = frozenset(m.upper() for m in self.methods) if self.methods else None
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()
        self._matched = 0
        self._path_re = re.compile(self.path) if self.path else None

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.injected.values())

    def pick(self, method: str, path: str) -> str | None:
        """The fault to inject into this request, or None."""
        if self.methods is not None and method not in self.methods:
            return None
        if self._path_re is not None and not self._path_re.search(path):
            return None
        with self._lock:
            index = self._matched
            self._matched += 1
            if self.limit is not None and sum(self.injected.values()) >= self.limit:
                return None
            if index < len(self.sequence):
                kind = self.sequence[index]
                if kind == "drop_after_write" and method not in WRITE_METHODS:
                    kind = None
            else:
                applicable = [
                    k for k in self.kinds if k != "drop_after_write" or method in WRITE_METHODS
                ]
                # Always draw, so one request's method does not shift later draws.
                hit = self._random.random() < self.rate
                choice = self._random.randrange(len(applicable)) if applicable else 0
                kind = applicable[choice] if hit and applicable else None
            if kind is not None:
                self.injected[kind] += 1
            return kind


@dataclass
class Answer:
    """An upstream answer, whole, as a `Hostile.rewrite` hook sees and changes it. Content-
    Length is recomputed from `body`; header values must encode as Latin-1 (HTTP/1.1)."""

    method: str
    path: str  # with the query
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def set_header(self, name: str, value: str) -> None:
        """Replace every `name` header (case-insensitive) with one holding `value`."""
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        self.headers.append((name, value))


@dataclass
class Hostile:
    """Answers a malicious or broken registry would give. Patterns are regexes searched in
    the request path (a repository name, "manifests/v1", a digest... all work)."""

    tamper_manifest_for: str | None = None
    """Manifest GETs: one byte changed (a digest hex digit), original Docker-Content-Digest."""
    oversize_manifest_for: str | None = None
    """Manifest GET/HEAD: a valid JSON manifest of `oversize_bytes` bytes."""
    oversize_bytes: int = 5 * 1024 * 1024
    invalid_json_for: str | None = None
    """Manifest GET/HEAD: `{not json` with a manifest content type and its digest."""
    unknown_child_for: str | None = None
    """Manifest GET/HEAD: an OCI index whose child has an unknown media type."""
    endless_tags: bool = False
    """Tag lists page forever: every page links to a next one."""
    redirect_blobs_to: str | Sink | None = None
    """Blob GETs: 307 to http://<host>/same/path. With a Sink, the proxy first fetches the
    blob upstream (with the client's credentials) and hands it to the sink to serve."""
    rewrite: Callable[[Answer], None] | None = None
    """Every answer not faked above is read whole and handed to this hook, which may change
    it in place (status, headers, body) before the client gets it: a lying registry."""


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


class _ProxyHandler(QuietHandler):
    server: LoopbackServer

    @property
    def proxy(self) -> Proxy:
        return self.server.proxy  # type: ignore[attr-defined,no-any-return]

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    # -- dispatch ------------------------------------------------------------------------

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

    def _rewritten(self, rewrite: Callable[[Answer], None], method: str) -> None:
        """Forward, read the whole answer, let `rewrite` change it, then answer with it."""
        resp, conn = self._forward(method, self._body())
        with contextlib.closing(conn):
            answer = Answer(method, self.path, resp.status, resp.getheaders(), resp.read())
        rewrite(answer)
        self._answer(answer.status, answer.body, _passable(answer.headers))

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

    # -- paging --------------------------------------------------------------------------

    def _paged_tags(self, method: str, path: str) -> bool:
        match = _TAGS_RE.match(path)
        hostile = self.proxy.hostile
        if method != "GET" or not match or not (self.proxy.page_size or hostile.endless_tags):
            return False
        name = match.group("name")
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        last = query.get("last", [None])[0]
        try:
            n_asked = int(query["n"][0]) if query.get("n") else None
        except ValueError:
            self._json_error(400, "PAGINATION_NUMBER_INVALID", "n must be an integer")
            return True
        limit = self.proxy.page_size or 100
        n = max(0, min(n_asked, limit)) if n_asked is not None else limit
        if hostile.endless_tags:
            start = int(last.rsplit("-", 1)[1]) + 1 if last and last.startswith("endless-") else 0
            page = [f"endless-{i:08d}" for i in range(start, start + max(n, 1))]
            more = True
        else:
            status, headers, raw = self._fetch(f"/v2/{name}/tags/list")
            if status != 200:
                self._answer(status, raw, _passable(headers))
                return True
            tags = sorted(json.loads(raw).get("tags") or [])
            after = [t for t in tags if last is None or t > last]
            page, more = after[:n], len(after) > n and n > 0
        headers_out = [
            ("Content-Type", "application/json; charset=utf-8"),
            ("Docker-Distribution-Api-Version", "registry/2.0"),
        ]
        if more and page:
            nxt = urllib.parse.urlencode({"n": n or 1, "last": page[-1]})
            headers_out.append(("Link", f'</v2/{name}/tags/list?{nxt}>; rel="next"'))
        body = json.dumps({"name": name, "tags": page}).encode()
        self._answer(200, body, headers_out)
        return True

    # -- hostile answers -----------------------------------------------------------------

    def _hostile(self, method: str, path: str) -> bool:
        hostile = self.proxy.hostile
        manifest = _MANIFEST_RE.match(path)
        if manifest and method in ("GET", "HEAD"):
            if _hit(hostile.oversize_manifest_for, path):
                self._fake_manifest(_oversize_manifest(hostile.oversize_bytes), _OCI_MANIFEST)
                return True
            if _hit(hostile.invalid_json_for, path):
                self._fake_manifest(b"{not json", _OCI_MANIFEST)
                return True
            if _hit(hostile.unknown_child_for, path):
                self._fake_manifest(_unknown_child_index(), _OCI_INDEX)
                return True
            if method == "GET" and _hit(hostile.tamper_manifest_for, path):
                status, headers, body = self._fetch(self.path)
                if status == 200:
                    body = _tamper(body)
                self._answer(status, body, _passable(headers))
                return True
        blob = _BLOB_RE.match(path)
        if blob and method == "GET" and hostile.redirect_blobs_to is not None:
            target = hostile.redirect_blobs_to
            if isinstance(target, Sink):
                status, headers, body = self._fetch(self.path)
                if status != 200:
                    self._answer(status, body, _passable(headers))
                    return True
                target.stash(path, body)
                target_host = target.host
            else:
                target_host = target
            self._drain()
            self._answer(307, b"", [("Location", f"http://{target_host}{self.path}")])
            return True
        return False

    def _fake_manifest(self, body: bytes, media_type: str) -> None:
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self._answer(
            200,
            body,
            [
                ("Content-Type", media_type),
                ("Docker-Content-Digest", digest),
                ("Docker-Distribution-Api-Version", "registry/2.0"),
            ],
        )


_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def _passable(headers: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Upstream headers worth re-sending with a body we rebuild (length is recomputed)."""
    drop = _HOP_BY_HOP | {"content-length", "date", "server"}
    return [(k, v) for k, v in headers if k.lower() not in drop]


def _hit(pattern: str | None, path: str) -> bool:
    return pattern is not None and re.search(pattern, path) is not None


def _tamper(body: bytes) -> bytes:
    """Change one byte, keeping valid JSON when possible: a hex digit of the first digest."""
    match = re.search(rb"sha256:[0-9a-f]{64}", body)
    pos = match.end() - 1 if match else len(body) - 1
    if pos < 0:
        return b"x"
    old = body[pos : pos + 1]
    new = b"0" if old != b"0" else b"1"
    if not match:
        new = bytes([body[pos] ^ 0x01])
    return body[:pos] + new + body[pos + 1 :]


def _oversize_manifest(size: int) -> bytes:
    head = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": _OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + "0" * 64,
                "size": 2,
            },
            "layers": [],
            "annotations": {"padding": ""},
        },
        separators=(",", ":"),
    ).encode()
    pad = max(0, size - len(head))
    return head.replace(b'"padding":""', b'"padding":"' + b"x" * pad + b'"')


def _unknown_child_index() -> bytes:
    child = json.dumps({"unknown": True}).encode()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": _OCI_INDEX,
            "manifests": [
                {
                    "mediaType": UNKNOWN_CHILD_TYPE,
                    "digest": "sha256:" + hashlib.sha256(child).hexdigest(),
                    "size": len(child),
                    "platform": {"architecture": "amd64", "os": "linux"},
                }
            ],
        },
        separators=(",", ":"),
    ).encode()
