"""Seeding, directly to the registry (never through the proxy): template images, each
commit's per-arch images, a long release history, and set-up releases."""

from __future__ import annotations

import base64
import http.client
import json
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

from naming import FLAVOR, TWO, sha_for, token
from support.images import fetch_raw, push_arch_images
from support.registry import Registry
from support.tokens import TokenServer

TEMPLATE_REPO = "bench/template"
TEMPLATE_SHA8 = "00000000"


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

    from release_pipeline.registry.client import RegistryClient
    from release_pipeline.rules.specs import release_spec
    from release_pipeline.verbs.release import merge

    async def main() -> None:
        spec = release_spec(f"{host}/{repo}", version, sha, FLAVOR, platforms)
        async with RegistryClient.for_image(spec.image) as client:
            await merge(spec, client)

    anyio.run(main)
