"""A stand-in for the Dagger engine that answers the queries a release sends, and records them.

It replaces the SDK's `Context.execute` (the one place a query leaves the process), so the
module's functions run unchanged through the SDK: every lazy object, argument conversion and
ID resolution is the SDK's own. Answers, by the last field of each query:
- `defaultPlatform`: the engine's platform, as configured;
- `exists`, `entries`, `contents` on the source: read from a real directory (the preflight);
- `sync` of a `dockerBuild` chain: a new container ID, after a short wait that keeps the build
  in flight, so overlapping builds show in `max_in_flight`;
- `exitCode`/`stdout`/`stderr` of the smoke exec: 0, or a failure for the (target, platform)
  pairs configured to fail;
- `publish`: a real tiny image pushed with skopeo to the real registry, labelled with the
  build's revision, so merge reads real manifests;
- `plaintext`, `id`: what the engine would return.
What it cannot show: the engine's own work (BuildKit solving, layer caching shared between
flavors, QEMU), the CLI's upload itself (see support/context_upload.py), and timings.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from dagger.client._core import Context

from .images import push_image

REVISION = "org.opencontainers.image.revision"


@dataclass
class Build:
    source: str  # the ID of the directory the build reads: one per upload
    target: str
    platform: str
    labels: dict[str, str]
    secrets: list[Any]
    build_args: list[Any]


@dataclass
class StandInEngine:
    source_dir: Path
    registry_host: str
    platform: str = "linux/amd64"
    failing: set[tuple[str, str]] = field(default_factory=set)  # (target, platform)
    build_time: float = 0.2
    queries: list[list[tuple[str, dict[str, Any]]]] = field(default_factory=list)
    builds: dict[str, Build] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)  # secret ID -> plaintext the CLI holds
    published: list[str] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    log: list[str] = field(default_factory=list)  # "build T P", "smoke T P", "publish T P"
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def install(self, monkeypatch: Any) -> None:
        engine = self

        async def execute(ctx: Context, return_type: object = None) -> object:
            await ctx.resolve_ids()
            chain = [(f.name, dict(f.args)) for f in ctx.selections]
            engine.queries.append(chain)
            value = await engine.answer(chain)
            # As the SDK types an engine answer (e.g. `Platform` from its scalar).
            return ctx.converter.structure(value, return_type) if return_type else value

        monkeypatch.setattr(Context, "execute", execute)

    async def answer(self, chain: list[tuple[str, dict[str, Any]]]) -> object:
        last, args = chain[-1]
        if last == "defaultPlatform":
            return self.platform
        if last == "id":
            return f"{chain[-2][0]}ID:{next(self._ids)}"
        if last == "plaintext":
            return self.secrets[chain[0][1]["id"]]
        if last in ("exists", "entries", "contents"):
            return self._read(chain)
        if last == "sync":
            return await self._sync(chain)
        # A synced container's chain starts at its ID; the built one (what flow publishes) at
        # the source: the engine finds that build in its cache.
        build = self.builds.get(chain[0][1]["id"]) or _parse_build(chain)
        if last in ("exitCode", "stdout", "stderr"):
            fails = (build.target, build.platform) in self.failing
            if last == "exitCode":
                self.log.append(f"smoke {build.target} {build.platform}")
            return {"exitCode": 1 if fails else 0, "stdout": "ok\n", "stderr": "crashed\n"}[last]
        if last == "publish":
            return await self._publish(build, args["address"])
        raise AssertionError(f"the stand-in has no answer for {last}: {chain}")

    def _read(self, chain: list[tuple[str, dict[str, Any]]]) -> object:
        last, args = chain[-1]
        if last == "contents":
            return (self.source_dir / chain[-2][1]["path"]).read_text()
        path = self.source_dir / args.get("path", ".")
        if last == "entries":
            return sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
        kind = str(args.get("expectedType", ""))
        return path.is_dir() if "DIRECTORY" in kind else path.is_file()

    async def _sync(self, chain: list[tuple[str, dict[str, Any]]]) -> str:
        build = _parse_build(chain)
        self.log.append(f"build {build.target} {build.platform}")
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await anyio.sleep(self.build_time)
        self.in_flight -= 1
        container = f"ContainerID:{next(self._ids)}"
        self.builds[container] = build
        return container

    async def _publish(self, build: Build, address: str) -> str:
        self.log.append(f"publish {build.target} {build.platform}")
        repo_tag = address.split("/", 1)[1]
        repo, _, tag = repo_tag.rpartition(":")
        arch = build.platform.split("/")[1]
        digest = await anyio.to_thread.run_sync(
            lambda: push_image(
                self.registry_host,
                repo,
                tag,
                arch=arch,
                labels={REVISION: build.labels[REVISION]},
                seed=build.target,
            )
        )
        self.published.append(address)
        return f"{address}@{digest}"

    def sources(self) -> set[str]:
        """The directories the builds read: one per context upload."""
        return {b.source for b in self.builds.values()}


def _parse_build(chain: list[tuple[str, dict[str, Any]]]) -> Build:
    names = [name for name, _ in chain]
    if "dockerBuild" not in names:
        raise AssertionError(f"the stand-in has no answer for {chain[-1][0]}: {chain}")
    build_args = dict(chain[names.index("dockerBuild")][1])
    return Build(
        source=str(chain[0][1]["id"]),
        target=build_args["target"],
        platform=str(build_args["platform"]),
        labels={a["name"]: a["value"] for n, a in chain if n == "withLabel"},
        secrets=list(build_args.get("secrets", [])),
        build_args=list(build_args.get("buildArgs", [])),
    )
