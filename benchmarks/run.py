"""Benchmarks: what a release costs in registry requests, bytes and time, next to its peers.

Starts Debian's docker-registry on loopback, seeds it directly (never through the counting
proxy), then runs each workload through the harness's counting proxy (tests/support/proxy.py)
for the project and for the command-line tools of the workflow it replaces (`skopeo copy`
for the per-arch version tags, `docker manifest create` + `docker manifest push` for each
multi-arch tag). Prints one table per workload with the project's targets, PASS or MISS, and
exits 1 when the project misses one. See benchmarks/README.md for what is measured and how.

Usage: python3 benchmarks/run.py [--runs N] [--verbose] [--no-auth] [--oci]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

import status_cost  # noqa: E402 - workload 6, in its own module
from attested import attested_refs  # noqa: E402
from support.images import fetch_raw, list_tags_raw, push_arch_images  # noqa: E402
from support.proxy import WRITE_METHODS, Proxy, _ProxyHandler, start_proxy  # noqa: E402
from support.registry import REGISTRY_BIN, TEST_CREDS, Registry, start_registry  # noqa: E402
from support.tokens import TokenServer  # noqa: E402

FLAVOR = "workers"
TWO = ("linux/amd64", "linux/arm64")
FOUR = ("linux/amd64", "linux/arm64", "linux/arm/v7", "linux/ppc64le")
TEMPLATE_REPO = "bench/template"
TEMPLATE_SHA8 = "00000000"
SEED_TAGS = 10_000
PAGE_SIZE = 1000
METHODS = ("GET", "HEAD", "PUT", "POST", "PATCH", "DELETE")
NOBODY = "65534"

# Project targets (issue 5).
T_FIRST = 15
T_RERUN = 12
T_ROLLBACK = 5
T_PAGES_PER_LISTING = 11
T_DECISION_CPU = 1.0
T_PER_PLATFORM = 4


def token(platform: str) -> str:
    """The tag token of os/arch[/variant], as the project and the CI name it (`armv7`)."""
    return "".join(platform.split("/")[1:])


def sha_for(label: str) -> str:
    return hashlib.sha1(label.encode()).hexdigest()


# ---------------------------------------------------------------------------------------
# Metering: the harness proxy, plus body bytes, status codes and refused TLS probes


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


# ---------------------------------------------------------------------------------------
# One measured run, and a row of the table


@dataclass
class Step:
    """One peer command and what it sent."""

    label: str
    exchanges: list[Exchange]
    tls_probes: int
    tokens: int
    wall: float


@dataclass
class Sample:
    exchanges: list[Exchange]
    tls_probes: int
    wall: float
    tokens: int = 0  # requests to the token server (not through the proxy)
    call: float | None = None  # the project's own call, without process start
    cpu: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)

    def by_method(self) -> dict[str, int]:
        counts = dict.fromkeys(METHODS, 0)
        for ex in self.exchanges:
            if ex.api:
                counts[ex.method] = counts.get(ex.method, 0) + 1
        return counts

    def method(self, name: str) -> int:
        """API requests with this method; "other" = any method but GET, HEAD, PUT, POST."""
        counts = self.by_method()
        if name != "other":
            return counts[name]
        return sum(n for m, n in counts.items() if m not in ("GET", "HEAD", "PUT", "POST"))

    @property
    def challenged(self) -> int:
        return sum(ex.status == 401 for ex in self.exchanges)

    @property
    def everything(self) -> int:
        return len(self.exchanges) + self.tokens

    @property
    def api(self) -> int:
        return sum(ex.api for ex in self.exchanges)

    @property
    def pings(self) -> int:
        return sum(ex.ping for ex in self.exchanges)

    @property
    def others(self) -> int:
        return sum(not ex.api and not ex.ping for ex in self.exchanges)

    @property
    def writes(self) -> int:
        return sum(ex.api and ex.method in WRITE_METHODS for ex in self.exchanges)

    @property
    def up(self) -> int:
        return sum(ex.up for ex in self.exchanges)

    @property
    def down(self) -> int:
        return sum(ex.down for ex in self.exchanges)


@dataclass
class Row:
    name: str
    samples: list[Sample]

    def values(self, get: Callable[[Sample], int]) -> list[int]:
        return [get(s) for s in self.samples]

    def cell(self, get: Callable[[Sample], int]) -> str:
        vals = self.values(get)
        lo, hi = min(vals), max(vals)
        return str(lo) if lo == hi else f"{lo}-{hi}"

    def worst(self, get: Callable[[Sample], int]) -> int:
        return max(self.values(get))

    def median(self, get: Callable[[Sample], float | None]) -> float | None:
        vals = [v for s in self.samples if (v := get(s)) is not None]
        return statistics.median(vals) if vals else None


def measure(meter: Meter, action: Callable[[], Sample | None]) -> Sample:
    """Run `action` and attribute to it every request the proxy saw meanwhile."""
    mark = meter.mark()
    start = time.perf_counter()
    result = action()
    wall = time.perf_counter() - start
    sample = result or Sample([], 0, 0.0)
    sample.exchanges, sample.tls_probes, sample.tokens = meter.since(mark)
    sample.wall = wall
    return sample


# ---------------------------------------------------------------------------------------
# The project: one worker process per run, through its library API


def project_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    return env


def run_project(job: dict[str, Any]) -> Sample:
    """Run merge or promote in a fresh interpreter (its CPU time is then its own)."""
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker"],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        env=project_env(),
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"project {job['op']} failed ({proc.returncode}):\n{proc.stderr}")
    out = json.loads(proc.stdout)
    return Sample([], 0, 0.0, call=out["call"], cpu=out["cpu"], extra=out)


def worker() -> None:
    """The measured side: read a job on stdin, print what happened as JSON."""
    import anyio

    from release_pipeline.auth import Credentials
    from release_pipeline.registry import RegistryClient
    from release_pipeline.release import merge, promote
    from release_pipeline.specs import promote_spec, release_spec
    from release_pipeline.tags import TagScheme

    job = json.load(sys.stdin)
    creds = Credentials(*job["creds"]) if job.get("creds") else None

    async def main() -> dict[str, Any]:
        if job["op"] == "merge":
            spec = release_spec(job["image"], job["version"], job["sha"], FLAVOR, job["platforms"])
            async with RegistryClient.for_image(spec.image, creds) as client:
                c0, t0 = time.process_time(), time.perf_counter()
                report: Any = await merge(spec, client)
                call, cpu = time.perf_counter() - t0, time.process_time() - c0
                stats = dict(client.stats.by_method)
        else:
            pspec = promote_spec(job["image"], job["source"], None, FLAVOR)
            async with RegistryClient.for_image(pspec.image, creds) as client:
                c0, t0 = time.process_time(), time.perf_counter()
                report = await promote(pspec, client)
                call, cpu = time.perf_counter() - t0, time.process_time() - c0
                stats = dict(client.stats.by_method)
        return {"call": call, "cpu": cpu, "stats": stats, "report": report.model_dump()}

    out = anyio.run(main)
    if job.get("decision_from"):
        # The tag list as the merge read it (read again directly, not through the proxy).
        tags = list_tags_raw(job["decision_from"], job["repo"])
        c0 = time.process_time()
        newest = TagScheme(FLAVOR).catalog(tags).newest_stable()
        out["decision_cpu"] = time.process_time() - c0
        out["decision_tags"] = len(tags)
        out["decision_newest"] = str(newest)
    print(json.dumps(out))


# ---------------------------------------------------------------------------------------
# The peers: skopeo and docker, each with fresh private state per release run


class Peers:
    """Runs the workflow's commands. Each release run is one fresh CI job: new skopeo state
    (blob-info cache, auth file) and a new DOCKER_CONFIG (docker manifest's local lists)."""

    def __init__(
        self, work: Path, creds: tuple[str, str] | None = None, host: str | None = None
    ) -> None:
        self.work = work
        work.mkdir(mode=0o755)
        self.creds = creds
        self.host = host  # the registry host the credentials are for (docker config.json)
        self.as_nobody = os.geteuid() == 0 and shutil.which("setpriv") is not None
        self._n = 0
        self.fresh()

    def fresh(self) -> None:
        self._n += 1
        # skopeo runs as `nobody` when we are root: as root it always uses the machine-wide
        # /var/lib/containers/cache; as any other user it uses $XDG_DATA_HOME/containers/cache.
        state = Path(tempfile.mkdtemp(prefix=f"skopeo-{self._n}-", dir=self.work))
        state.chmod(0o777)
        auth = state / "auth.json"
        auth.write_text("{}")
        auth.chmod(0o644)
        base = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        base.pop("DOCKER_CONFIG", None)
        self.skopeo_env = base | {
            "HOME": str(state),
            "XDG_DATA_HOME": str(state / "data"),
            "XDG_CONFIG_HOME": str(state / "config"),
            "XDG_RUNTIME_DIR": str(state / "run"),
            "TMPDIR": str(state),
            "REGISTRY_AUTH_FILE": str(auth),
        }
        self.skopeo_state = state
        docker_config = self.work / f"docker-{self._n}"
        docker_config.mkdir()
        if self.creds is not None and self.host is not None:
            pair = base64.b64encode(":".join(self.creds).encode()).decode()
            config = {"auths": {self.host: {"auth": pair}}}
            (docker_config / "config.json").write_text(json.dumps(config))
        self.docker_env = base | {"DOCKER_CONFIG": str(docker_config)}

    def skopeo_copy(self, src: str, dst: str, *, all_images: bool = False) -> list[str]:
        cmd = ["skopeo", "--insecure-policy", "copy", "--quiet"]
        cmd += ["--all"] if all_images else []
        if self.creds is not None:
            pair = ":".join(self.creds)
            cmd += ["--src-creds", pair, "--dest-creds", pair]
        cmd += ["--src-tls-verify=false", "--dest-tls-verify=false", src, dst]
        return cmd

    def run(self, cmd: list[str]) -> None:
        env = self.docker_env if cmd[0] == "docker" else self.skopeo_env
        if cmd[0] == "skopeo" and self.as_nobody:
            cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *cmd]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise SystemExit(f"peer command failed: {' '.join(cmd)}\n{proc.stderr}")

    def release_cmds(
        self, host: str, repo: str, version: str, sha: str, platforms: Sequence[str]
    ) -> list[tuple[str, list[str]]]:
        """The replaced workflow's merge: copy per-arch version tags, then one manifest list
        per multi-arch tag (latest too: git tags said this version is the newest)."""
        ref = f"{host}/{repo}"
        sha_arch = {p: f"{FLAVOR}-sha-{sha[:8]}-{token(p)}" for p in platforms}
        steps: list[tuple[str, list[str]]] = []
        for p in platforms:
            for name in (f"{version}-{FLAVOR}-{token(p)}", f"v{version}-{FLAVOR}-{token(p)}"):
                cmd = self.skopeo_copy(f"docker://{ref}:{sha_arch[p]}", f"docker://{ref}:{name}")
                steps.append(("skopeo copy (per-arch tag)", cmd))
        lists = {
            f"{version}-{FLAVOR}": [f"{version}-{FLAVOR}-{token(p)}" for p in platforms],
            f"v{version}-{FLAVOR}": [f"v{version}-{FLAVOR}-{token(p)}" for p in platforms],
            f"{FLAVOR}-sha-{sha[:8]}": list(sha_arch.values()),
            f"latest-{FLAVOR}": [f"{version}-{FLAVOR}-{token(p)}" for p in platforms],
        }
        for name, sources in lists.items():
            create = ["docker", "manifest", "create", "--insecure", f"{ref}:{name}"]
            push = ["docker", "manifest", "push", "--insecure", f"{ref}:{name}"]
            steps.append(("docker manifest create", create + [f"{ref}:{s}" for s in sources]))
            steps.append(("docker manifest push", push))
        return steps

    def perform(self, meter: Meter, steps: list[tuple[str, list[str]]]) -> Sample:
        self.fresh()
        sample = Sample([], 0, 0.0)

        def each() -> Sample:
            for label, cmd in steps:
                mark = meter.mark()
                t0 = time.perf_counter()
                self.run(cmd)
                exchanges, probes, tokens = meter.since(mark)
                wall = time.perf_counter() - t0
                sample.steps.append(Step(label, exchanges, probes, tokens, wall))
            return sample

        return measure(meter, each)

    def cache_used(self) -> bool:
        return any(self.skopeo_state.glob("data/containers/cache/*"))


# ---------------------------------------------------------------------------------------
# Seeding, directly to the registry (never through the proxy)


class Seeder:
    """Raw HTTP to the registry itself, keep-alive per thread (Bearer tokens when asked)."""

    def __init__(
        self,
        registry: Registry,
        tokens: TokenServer | None = None,
        creds: tuple[str, str] | None = None,
        *,
        docker_format: bool = True,
    ) -> None:
        self.host = registry.host
        self.docker_format = docker_format
        self.tokens = tokens
        self.creds = creds
        self._local = threading.local()
        self._bearer: dict[str, str] = {}
        self.template: dict[str, tuple[bytes, str, list[str]]] = {}

    def _authorization(self, repo: str) -> dict[str, str]:
        if self.tokens is None or self.creds is None:
            return {}
        if repo not in self._bearer:
            scopes = [f"repository:{repo}:pull,push", f"repository:{TEMPLATE_REPO}:pull"]
            query = urllib.parse.urlencode(
                [("service", self.tokens.service)] + [("scope", x) for x in scopes]
            )
            basic = base64.b64encode(":".join(self.creds).encode()).decode()
            request = urllib.request.Request(
                f"{self.tokens.realm}?{query}", headers={"Authorization": f"Basic {basic}"}
            )
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(request, timeout=30) as resp:
                self._bearer[repo] = json.load(resp)["token"]
        return {"Authorization": f"Bearer {self._bearer[repo]}"}

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(self.host, timeout=60)
        return conn

    def request(
        self, method: str, repo: str, rest: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        """`method /v2/<repo>/<rest>` on this thread's connection."""
        conn = self._conn()
        headers = headers | self._authorization(repo)
        try:
            conn.request(method, f"/v2/{repo}/{rest}", body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            self._local.conn = None
            raise

    def put(self, repo: str, tag: str, body: bytes, media_type: str) -> None:
        status, raw = self.request(
            "PUT", repo, f"manifests/{tag}", body, {"Content-Type": media_type}
        )
        if status != 201:
            raise SystemExit(f"seed PUT {repo}:{tag} answered {status}: {raw[:200]!r}")

    def mount(self, repo: str, digest: str, source: str) -> None:
        status, raw = self.request(
            "POST", repo, f"blobs/uploads/?mount={digest}&from={source}", b"", {}
        )
        if status != 201:
            raise SystemExit(f"seed mount {digest} into {repo} answered {status}: {raw[:200]!r}")

    def push_templates(self, platforms: Iterable[str]) -> None:
        """Real per-arch images (umoci + skopeo), pushed once; releases reuse their blobs."""
        archs = [p.split("/", 1)[1] for p in platforms]
        push_arch_images(
            self.host,
            TEMPLATE_REPO,
            TEMPLATE_SHA8,
            FLAVOR,
            archs,
            docker_format=self.docker_format,
            creds=self.creds,
        )
        for p in platforms:
            tag = f"{FLAVOR}-sha-{TEMPLATE_SHA8}-{token(p)}"
            body, media_type, _ = fetch_raw(self.host, TEMPLATE_REPO, tag, creds=self.creds)
            manifest = json.loads(body)
            blobs = [manifest["config"]["digest"], *(x["digest"] for x in manifest["layers"])]
            self.template[p] = (body, media_type, blobs)

    def per_arch(self, repo: str, sha: str, platforms: Iterable[str]) -> None:
        """What the build jobs leave: `F-sha-S-ARCH`, one distinct image per commit."""
        for p in platforms:
            body, media_type, blobs = self.template[p]
            for digest in blobs:
                self.mount(repo, digest, TEMPLATE_REPO)
            manifest = json.loads(body)
            manifest["annotations"] = {"bench.commit": sha}
            raw = json.dumps(manifest, separators=(",", ":")).encode()
            self.put(repo, f"{FLAVOR}-sha-{sha[:8]}-{token(p)}", raw, media_type)

    def many_tags(self, repo: str, tags: list[str], workers: int = 8) -> None:
        body, media_type, blobs = self.template[TWO[0]]
        for digest in blobs:
            self.mount(repo, digest, TEMPLATE_REPO)

        def put(tag: str) -> None:
            self.put(repo, tag, body, media_type)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(put, tags))


def release_history(count: int) -> list[str]:
    """`count` tags of an older release history (versions 0.x.y, both flavors, every kind)."""
    tags: list[str] = []
    k = 0
    while len(tags) < count:
        version = f"0.{k // 50}.{k % 50}" + ("-rc.1" if k % 20 == 19 else "")
        sha8 = sha_for(f"history-{k}")[:8]
        tags += [
            f"{version}-{FLAVOR}",
            f"v{version}-{FLAVOR}",
            f"{FLAVOR}-sha-{sha8}",
            f"{version}-{FLAVOR}-amd64",
            f"v{version}-{FLAVOR}-amd64",
            f"{version}-{FLAVOR}-arm64",
            f"v{version}-{FLAVOR}-arm64",
            version,  # the production image shares the repository
            f"v{version}",
            f"{version}-amd64",
        ]
        k += 1
    return tags[:count]


def direct_merge(host: str, repo: str, version: str, sha: str, platforms: Sequence[str]) -> None:
    """Set-up only (not measured): a release made by the project straight on the registry."""
    import anyio

    from release_pipeline.registry import RegistryClient
    from release_pipeline.release import merge
    from release_pipeline.specs import release_spec

    async def main() -> None:
        spec = release_spec(f"{host}/{repo}", version, sha, FLAVOR, platforms)
        async with RegistryClient.for_image(spec.image) as client:
            await merge(spec, client)

    anyio.run(main)


# ---------------------------------------------------------------------------------------
# Output


@dataclass
class Check:
    text: str
    value: str
    ok: bool


def secs(n: float | None) -> str:
    return "-" if n is None else f"{n:.3f}"


NAME_WIDTH = 40
COLUMNS: list[tuple[str, int, Callable[[Row], str]]] = [
    ("GET", 5, lambda r: r.cell(lambda s: s.method("GET"))),
    ("HEAD", 5, lambda r: r.cell(lambda s: s.method("HEAD"))),
    ("PUT", 5, lambda r: r.cell(lambda s: s.method("PUT"))),
    ("POST", 5, lambda r: r.cell(lambda s: s.method("POST"))),
    ("oth", 4, lambda r: r.cell(lambda s: s.method("other"))),
    ("API", 5, lambda r: r.cell(lambda s: s.api)),
    ("ping", 5, lambda r: r.cell(lambda s: s.pings)),
    ("tok", 4, lambda r: r.cell(lambda s: s.tokens)),
    ("all", 5, lambda r: r.cell(lambda s: s.everything)),
    ("401", 4, lambda r: r.cell(lambda s: s.challenged)),
    ("TLS", 4, lambda r: r.cell(lambda s: s.tls_probes)),
    ("wr", 4, lambda r: r.cell(lambda s: s.writes)),
    ("B up", 8, lambda r: f"{r.median(lambda s: s.up) or 0:.0f}"),
    ("B down", 9, lambda r: f"{r.median(lambda s: s.down) or 0:.0f}"),
    ("wall s", 8, lambda r: secs(r.median(lambda s: s.wall))),
    ("call s", 7, lambda r: secs(r.median(lambda s: s.call))),
    ("CPU s", 6, lambda r: secs(r.median(lambda s: s.cpu))),
]


def print_table(
    title: str, rows: list[Row], checks: list[Check], notes: Sequence[str] = ()
) -> None:
    print(f"\n== {title}")
    head = f"{'':<{NAME_WIDTH}}" + "".join(f"{name:>{width}}" for name, width, _ in COLUMNS)
    print(head)
    print("-" * len(head))
    for row in rows:
        print(
            f"{row.name:<{NAME_WIDTH}}"
            + "".join(f"{get(row):>{width}}" for _, width, get in COLUMNS)
        )
    for note in notes:
        print(f"  {note}")
    for check in checks:
        verdict = "PASS" if check.ok else "MISS"
        print(f"  target: {check.text:<60} {check.value:>12}  {verdict}")


def describe(exchanges: list[Exchange]) -> list[str]:
    """The requests in order, one line each; the pages of one tag listing on one line."""
    lines: list[str] = []
    i = 0
    while i < len(exchanges):
        ex = exchanges[i]
        j = i + 1
        if ex.path.split("?")[0].endswith("/tags/list") and "last=" not in ex.path:
            while j < len(exchanges) and "last=" in exchanges[j].path:
                j += 1  # the next pages of this listing
        group = exchanges[i:j]
        statuses = "/".join(sorted({str(x.status) for x in group}))
        pages = f" + {len(group) - 1} next pages (last=...)" if len(group) > 1 else ""
        lines.append(
            f"{len(group):>2} x {ex.method:<4} {ex.path}{pages} -> {statuses}  "
            f"[{sum(x.up for x in group)} B up, {sum(x.down for x in group)} B down]"
        )
        i = j
    return lines


def print_peer_steps(sample: Sample) -> None:
    """Requests per peer command kind, from one run."""
    kinds: dict[str, list[Step]] = {}
    for step in sample.steps:
        kinds.setdefault(step.label, []).append(step)
    print("  peers, per command (run 1):")
    for label, steps in kinds.items():
        methods: dict[str, int] = {}
        for e in steps[0].exchanges:
            if e.api:
                methods[e.method] = methods.get(e.method, 0) + 1
        mix = " ".join(f"{m} {n}" for m, n in methods.items())
        api = _span([sum(e.api for e in x.exchanges) for x in steps])
        pings = _span([sum(e.ping for e in x.exchanges) for x in steps])
        tokens = _span([x.tokens for x in steps])
        probes = _span([x.tls_probes for x in steps])
        wall = statistics.median(x.wall for x in steps)
        print(
            f"    {len(steps)} x {label:<27} each: {api} API ({mix}) + {pings} ping + "
            f"{tokens} token; {probes} TLS probes; {wall:.3f} s"
        )


def _span(values: list[int]) -> str:
    return str(values[0]) if min(values) == max(values) else f"{min(values)}-{max(values)}"


# ---------------------------------------------------------------------------------------
# The workloads


@dataclass
class Env:
    """A registry with its counting proxy, seeder and peers (one per auth mode)."""

    registry: Registry
    proxy: Proxy
    meter: Meter
    seeder: Seeder
    peers: Peers
    creds: tuple[str, str] | None = None


@dataclass
class Bench:
    runs: int
    verbose: bool
    checks: list[Check] = field(default_factory=list)
    first_api: int | None = None
    first_peer_api: int | None = None

    def check(self, text: str, value: float, limit: float, fmt: str = "{:.0f}") -> Check:
        c = Check(text, fmt.format(value), value <= limit)
        self.checks.append(c)
        return c

    def project(self, env: Env, op: str, repo: str, **job: Any) -> Sample:
        job |= {"op": op, "image": f"{env.proxy.host}/{repo}", "repo": repo, "creds": env.creds}
        return measure(env.meter, lambda: run_project(job))

    def release(
        self, env: Env, repo: str, version: str, sha: str, platforms: Sequence[str], **job: Any
    ) -> Sample:
        return self.project(
            env, "merge", repo, version=version, sha=sha, platforms=list(platforms), **job
        )

    def peer_release(
        self, env: Env, repo: str, version: str, sha: str, platforms: Sequence[str]
    ) -> Sample:
        steps = env.peers.release_cmds(env.proxy.host, repo, version, sha, platforms)
        return env.peers.perform(env.meter, steps)

    def paired_releases(
        self, env: Env, name: str, version: str, platforms: Sequence[str], passes: int = 1
    ) -> tuple[list[list[Sample]], list[list[Sample]]]:
        """Per run, seed twin repositories alike; the project releases into one and the peers
        into the other, `passes` times each. Returns (ours, theirs), indexed [pass][run]."""
        ours: list[list[Sample]] = [[] for _ in range(passes)]
        theirs: list[list[Sample]] = [[] for _ in range(passes)]
        for i in range(self.runs):
            sha = sha_for(f"{name}-{i}")
            repo_p, repo_d = f"bench/{name}-p{i}", f"bench/{name}-d{i}"
            for repo in (repo_p, repo_d):
                env.seeder.per_arch(repo, sha, platforms)
            for n in range(passes):
                ours[n].append(self.release(env, repo_p, version, sha, platforms))
                theirs[n].append(self.peer_release(env, repo_d, version, sha, platforms))
        return ours, theirs

    def cross_check(self, samples: Iterable[Sample]) -> str:
        """The client's own count (client.stats.by_method) against the proxy's."""
        for s in samples:
            stats = s.extra.get("stats", {})
            if sum(stats.values()) != s.everything:
                seen = {m: n for m, n in s.by_method().items() if n}
                return (
                    f"WARNING: client.stats.by_method {stats} != proxy {seen} "
                    f"+ {s.tokens} token requests"
                )
        return "client.stats.by_method agrees with the proxy's count in every run"

    def show_requests(self, label: str, sample: Sample) -> None:
        print(f"  {label}:")
        for line in describe(sample.exchanges):
            print(f"    {line}")

    # 1 and 2 -------------------------------------------------------------------------

    def first_release_and_rerun(self, env: Env) -> None:
        version = "0.22.8"
        (ours, rerun_ours), (theirs, rerun_theirs) = self.paired_releases(
            env, "first", version, TWO, passes=2
        )
        if not all(s.extra["report"]["latest_moved"] for s in ours):
            raise SystemExit("workload 1: the project did not move latest")
        rows = [
            Row("project: merge", ours),
            Row("peers: skopeo copy + docker manifest", theirs),
        ]
        self.first_api = rows[0].worst(lambda s: s.api)
        self.first_peer_api = rows[1].worst(lambda s: s.api)
        print_table(
            f"Workload 1: first two-platform release ({version}: 4 per-arch version tags, "
            f"3 multi-arch tags, latest) [{self.runs} runs]",
            rows,
            [
                self.check(
                    f"project API requests (excl. /v2/ pings, tokens) <= {T_FIRST}",
                    self.first_api,
                    T_FIRST,
                )
            ],
            [
                self.cross_check(ours),
                f"peers: {rows[1].cell(lambda s: s.api)} API requests, "
                f"{rows[1].cell(lambda s: s.api + s.pings)} with their /v2/ pings "
                "(the brief expected 41 / 61)",
            ],
        )
        self.show_requests("project requests (run 1)", ours[0])
        print_peer_steps(theirs[0])
        if self.verbose:
            self.show_requests("peer requests (run 1)", theirs[0])

        rows = [
            Row("project: merge (re-run)", rerun_ours),
            Row("peers: same commands (fresh job state)", rerun_theirs),
        ]
        print_table(
            f"Workload 2: re-run of the same release [{self.runs} runs]",
            rows,
            [
                self.check("project writes == 0", rows[0].worst(lambda s: s.writes), 0),
                self.check(
                    f"project API requests (excl. /v2/ pings, tokens) <= {T_RERUN}",
                    rows[0].worst(lambda s: s.api),
                    T_RERUN,
                ),
            ],
            [self.cross_check(rerun_ours)],
        )
        self.show_requests("project requests (run 1)", rerun_ours[0])

    # 1, with token auth (no target: what GHCR-style auth adds) -------------------------

    def first_release_with_auth(self, env: Env) -> None:
        version = "0.22.8"
        (ours,), (theirs,) = self.paired_releases(env, "auth", version, TWO)
        rows = [
            Row("project: merge", ours),
            Row("peers: skopeo copy + docker manifest", theirs),
        ]
        print_table(
            "Workload 1 again, with Bearer-token auth (GHCR-style token server; "
            f"informational, no target) [{self.runs} runs]",
            rows,
            [],
            [
                self.cross_check(ours),
                "401 = challenged requests (counted in API/ping); tok = token-server requests",
            ],
        )
        self.show_requests("project requests (run 1)", ours[0])
        print_peer_steps(theirs[0])

    # 3 ------------------------------------------------------------------------------

    def rollback(self, env: Env) -> None:
        older, newer = "0.22.7", "0.22.8"
        ours, copy_all, recreate = [], [], []
        for i in range(self.runs):
            repos = [f"bench/rollback-{kind}{i}" for kind in ("p", "s", "d")]
            for repo in repos:
                for version in (older, newer):
                    sha = sha_for(f"rollback-{version}")
                    env.seeder.per_arch(repo, sha, TWO)
                    direct_merge(env.registry.host, repo, version, sha, TWO)
            ours.append(self.project(env, "promote", repos[0], source=f"{older}-{FLAVOR}"))
            ref = f"{env.proxy.host}/{repos[1]}"
            copy = env.peers.skopeo_copy(
                f"docker://{ref}:{older}-{FLAVOR}",
                f"docker://{ref}:latest-{FLAVOR}",
                all_images=True,
            )
            copy_all.append(env.peers.perform(env.meter, [("skopeo copy --all", copy)]))
            ref = f"{env.proxy.host}/{repos[2]}"
            sources = [f"{ref}:{older}-{FLAVOR}-{token(p)}" for p in TWO]
            create = ["docker", "manifest", "create", "--insecure", f"{ref}:latest-{FLAVOR}"]
            push = ["docker", "manifest", "push", "--insecure", f"{ref}:latest-{FLAVOR}"]
            steps = [("docker manifest create", create + sources), ("docker manifest push", push)]
            recreate.append(env.peers.perform(env.meter, steps))
        marker = f"{newer}-{FLAVOR}-yanked"
        yanked = all(
            s.extra["report"]["yanked"] == [newer] and marker in s.extra["report"]["written"]
            for s in ours
        )
        rows = [
            Row(f"project: promote --from {older}-{FLAVOR}", ours),
            Row("peer: skopeo copy --all (no marker)", copy_all),
            Row("peer: docker manifest (no marker)", recreate),
        ]
        marker_check = Check(
            f"the yank marker {marker} is written", "yes" if yanked else "no", yanked
        )
        self.checks.append(marker_check)
        print_table(
            f"Workload 3: rollback of latest-{FLAVOR} from {newer} to {older} [{self.runs} runs]",
            rows,
            [
                self.check(
                    f"project API requests, yank marker included <= {T_ROLLBACK}",
                    rows[0].worst(lambda s: s.api),
                    T_ROLLBACK,
                ),
                marker_check,
            ],
            [
                self.cross_check(ours),
                "peers write no yank marker; docker manifest re-creates the list from the "
                "per-arch tags (a new digest, not the release's index)",
            ],
        )
        self.show_requests("project requests (run 1)", ours[0])

    # 4 ------------------------------------------------------------------------------

    def big_repository(self, env: Env) -> None:
        repo = "bench/big"
        t0 = time.perf_counter()
        env.seeder.many_tags(repo, release_history(SEED_TAGS))
        seeded = time.perf_counter() - t0
        ours, theirs = [], []
        for i in range(self.runs):
            # Each run is a new newest release into the same big repository.
            version, sha = f"1.0.{2 * i}", sha_for(f"big-p{i}")
            env.seeder.per_arch(repo, sha, TWO)
            ours.append(self.release(env, repo, version, sha, TWO, decision_from=env.registry.host))
            version, sha = f"1.0.{2 * i + 1}", sha_for(f"big-d{i}")
            env.seeder.per_arch(repo, sha, TWO)
            theirs.append(self.peer_release(env, repo, version, sha, TWO))
        listings = [listing_pages(s.exchanges) for s in ours]
        worst_pages = max(max(pages) for pages in listings)
        decision = [s.extra["decision_cpu"] for s in ours]
        cpu = [s.cpu or 0.0 for s in ours]
        rows = [Row("project: merge", ours), Row("peers (read no tag list)", theirs)]
        print_table(
            f"Workload 4: the release into a repository holding {SEED_TAGS:,} tags "
            f"(proxy pages of {PAGE_SIZE}) [{self.runs} runs]",
            rows,
            [
                self.check(
                    f"tag-list requests per listing <= {T_PAGES_PER_LISTING}",
                    worst_pages,
                    T_PAGES_PER_LISTING,
                ),
                self.check(
                    f"project CPU for the decision (catalog, newest_stable) < {T_DECISION_CPU:g} s",
                    max(decision),
                    T_DECISION_CPU - 1e-9,
                    "{:.4f} s",
                ),
            ],
            [
                self.cross_check(ours),
                f"seeded {SEED_TAGS:,} tags in {seeded:.1f} s (direct PUTs of one manifest, "
                "8 threads)",
                f"tag listings per merge: {sorted({len(p) for p in listings})}; requests per "
                f"listing (run 1): {listings[0]}",
                f"tags listed at decision time: {sorted({s.extra['decision_tags'] for s in ours})}",
                f"decision CPU: median {statistics.median(decision) * 1000:.1f} ms, "
                f"max {max(decision) * 1000:.1f} ms",
                f"whole merge() CPU (process_time, incl. HTTP and JSON): median "
                f"{statistics.median(cpu):.3f} s, max {max(cpu):.3f} s",
                f"vs workload 1: +{rows[0].worst(lambda s: s.api) - (self.first_api or 0)} "
                "API requests",
            ],
        )
        self.show_requests("project requests (run 1)", ours[0])

    # 5 ------------------------------------------------------------------------------

    def four_platforms(self, env: Env) -> None:
        version = "0.22.8"
        (ours,), (theirs,) = self.paired_releases(env, "four", version, FOUR)
        rows = [
            Row("project: merge", ours),
            Row("peers: skopeo copy + docker manifest", theirs),
        ]
        added = len(FOUR) - len(TWO)
        ours_now, theirs_now = rows[0].worst(lambda s: s.api), rows[1].worst(lambda s: s.api)
        growth = (ours_now - (self.first_api or 0)) / added
        peer_growth = (theirs_now - (self.first_peer_api or 0)) / added
        print_table(
            f"Workload 5: first release on four platforms ({', '.join(FOUR)}) [{self.runs} runs]",
            rows,
            [
                self.check(
                    f"project API requests added per extra platform <= {T_PER_PLATFORM}",
                    growth,
                    T_PER_PLATFORM,
                    "{:.1f}",
                )
            ],
            [
                self.cross_check(ours),
                f"vs workload 1 (two platforms): project {self.first_api} -> {ours_now}, "
                f"peers {self.first_peer_api} -> {theirs_now} ({peer_growth:.1f} per platform)",
            ],
        )
        self.show_requests("project requests (run 1)", ours[0])
        print_peer_steps(theirs[0])


def listing_pages(exchanges: list[Exchange]) -> list[int]:
    """Requests per tag listing: a listing starts with a tags/list GET without `last=`."""
    pages: list[int] = []
    for ex in exchanges:
        if ex.method == "GET" and ex.path.split("?")[0].endswith("/tags/list"):
            if "last=" not in ex.path or not pages:
                pages.append(0)
            pages[-1] += 1
    return pages or [0]


def check_tools() -> str:
    """Fail early when a tool is missing; return the versions, for the report."""
    missing = [t for t in ("docker", "skopeo", "umoci") if shutil.which(t) is None]
    if not Path(REGISTRY_BIN).exists():
        missing.append("docker-registry")
    if missing:
        raise SystemExit(f"missing tools: {', '.join(missing)} (benchmarks/run installs them)")
    versions = []
    for cmd in (["docker", "--version"], ["skopeo", "--version"], [REGISTRY_BIN, "--version"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
        versions.append(proc.stdout.strip().replace("version ", ""))
    return "; ".join(versions)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per workload (default 5)")
    parser.add_argument("--verbose", action="store_true", help="also print the peers' requests")
    parser.add_argument("--no-auth", action="store_true", help="skip the token-auth variant")
    parser.add_argument(
        "--oci",
        action="store_true",
        help="OCI per-arch image manifests (default: Docker schema 2, which every docker CLI "
        "reads; docker 20.10's `manifest create` cannot read OCI manifests)",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker()
        return 0
    versions = check_tools()
    started = time.perf_counter()
    bench = Bench(args.runs, args.verbose)
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rp-bench-")))
        work.chmod(0o755)  # skopeo runs as nobody and keeps its state below

        def proxied(
            upstream: Registry, page_size: int | None = None, tokens: TokenServer | None = None
        ) -> Any:
            proxy, meter = start_metered_proxy(upstream.host, page_size, tokens)
            stack.callback(proxy.stop)
            return proxy, meter

        registry = start_registry(work / "registry")
        stack.callback(registry.stop)
        seeder = Seeder(registry, docker_format=not args.oci)
        seeder.push_templates(FOUR)
        proxy, meter = proxied(registry)
        peers = Peers(work / "peers")
        plain = Env(registry, proxy, meter, seeder, peers)
        paged_proxy, paged_meter = proxied(registry, PAGE_SIZE)
        paged = Env(registry, paged_proxy, paged_meter, seeder, peers)
        print(f"{versions}; Python {sys.version.split()[0]}; {os.cpu_count()} CPUs")
        print(
            f"docker-registry on {registry.host} (anonymous); counting proxy {proxy.host}; "
            f"paging proxy {paged_proxy.host} (page_size={PAGE_SIZE}); {args.runs} runs per "
            f"workload, wall = median; skopeo runs as "
            f"{'nobody' if peers.as_nobody else 'this user'} with a fresh blob-info cache per "
            "release"
        )
        bench.first_release_and_rerun(plain)
        bench.rollback(plain)
        bench.big_repository(paged)
        bench.checks += [
            Check(*c) for c in status_cost.workload(registry.host, "bench/big", args.runs)
        ]
        bench.four_platforms(plain)
        attested_refs(bench, plain)
        if not peers.cache_used():
            print("\nWARNING: skopeo's private blob-info cache was not used")
        if not args.no_auth:
            tokens = TokenServer(work / "tokens", {TEST_CREDS[0]: TEST_CREDS[1]})
            stack.callback(tokens.stop)
            registry = start_registry(work / "registry-token", token=tokens)
            stack.callback(registry.stop)
            seeder = Seeder(registry, tokens, TEST_CREDS, docker_format=not args.oci)
            seeder.push_templates(TWO)
            proxy, meter = proxied(registry, tokens=tokens)
            peers = Peers(work / "peers-auth", TEST_CREDS, proxy.host)
            bench.first_release_with_auth(
                Env(registry, proxy, meter, seeder, peers, creds=TEST_CREDS)
            )
    missed = [c for c in bench.checks if not c.ok]
    print(
        f"\n{len(bench.checks) - len(missed)}/{len(bench.checks)} project targets met; "
        f"total {time.perf_counter() - started:.0f} s"
    )
    for c in missed:
        print(f"  MISSED: {c.text} ({c.value})")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
