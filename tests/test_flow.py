"""The release order (flow.py) driven through its seam by a real backend.

`LocalBackend` builds real images with umoci, runs a real smoke command in a subprocess,
and pushes with skopeo to the real registry: the same contract the Dagger backend has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import anyio
import dagger
import pytest
from support.dagger_errors import query_error
from support.images import build_image, list_tags_raw, push_image

from release_pipeline import flow
from release_pipeline.inputs import Platform
from release_pipeline.registry import RegistryClient
from release_pipeline.release import merge
from release_pipeline.specs import release_spec

REPO = "testplanit/testplanit"
SHA = "c804cace" + "0" * 32


@dataclass(frozen=True)
class Built:
    platform: Platform
    seed: str


@dataclass
class LocalBackend:
    host: str
    smoke: list[str]
    seed: str = "v1"
    events: list[tuple[str, str]] = field(default_factory=list)

    async def existing(self, tag: str) -> str | None:
        async with RegistryClient(self.host, secure=False) as client:
            return await client.head_manifest(REPO, tag)

    async def build(self, platform: Platform) -> Built:
        await anyio.to_thread.run_sync(
            partial(
                build_image, arch=platform.architecture, variant=platform.variant, seed=self.seed
            )
        )
        self.events.append(("build", str(platform)))
        return Built(platform, self.seed)

    async def smoke_test(self, image: Built, platform: Platform) -> None:
        self.events.append(("smoke", str(platform)))
        done = await anyio.run_process(self.smoke, env={"PLATFORM": str(platform)}, check=False)
        if done.returncode != 0:
            raise flow.PlatformFailed(platform, "smoke test", done.stderr.decode())

    async def publish(self, image: Built, platform: Platform, tag: str) -> str:
        self.events.append(("publish", str(platform)))
        return await anyio.to_thread.run_sync(
            partial(
                push_image,
                self.host,
                REPO,
                tag,
                arch=platform.architecture,
                variant=platform.variant,
                seed=image.seed,
            )
        )


# Crash-loops on arm64 only, like the 2026-04-22 workers image (a missing module).
ARM_CRASHES = [
    "sh",
    "-c",
    'if [ "$PLATFORM" = linux/arm64 ]; then '
    "echo \"Cannot find module 'next/headers'\" >&2; exit 1; fi",
]
PASSES = ["sh", "-c", "true"]


async def run_release(host, backend, *, force=False, dry_run=False, version="1.0.0"):
    spec = release_spec(f"{host}/{REPO}", version, SHA)

    async def do_merge():
        async with RegistryClient.for_image(spec.image) as client:
            return await merge(spec, client, force=force)

    return await flow.release(backend, spec, do_merge, force=force, dry_run=dry_run)


async def test_every_platform_is_smoke_tested_before_anything_is_pushed(registry):
    backend = LocalBackend(registry.host, PASSES)
    images, report = await run_release(registry.host, backend)
    kinds = [kind for kind, _ in backend.events]
    assert kinds.index("publish") > max(i for i, k in enumerate(kinds) if k == "smoke")
    assert {p for k, p in backend.events if k == "smoke"} == {"linux/amd64", "linux/arm64"}
    assert report is not None and report.latest_moved
    assert [i.reused for i in images] == [False, False]
    assert {i.digest for i in images} == set(report.platforms.values())


async def test_one_failing_platform_publishes_nothing_at_all(registry):
    backend = LocalBackend(registry.host, ARM_CRASHES)
    with pytest.raises(flow.BuildFailed) as err:
        await run_release(registry.host, backend)
    assert "linux/arm64" in str(err.value) and "next/headers" in str(err.value)
    assert "linux/amd64" not in err.value.failures
    assert ("publish", "linux/amd64") not in backend.events
    assert list_tags_raw(registry.host, REPO) == []


async def test_a_rerun_reuses_pushed_images_instead_of_rebuilding(registry):
    first = LocalBackend(registry.host, PASSES)
    images, _ = await run_release(registry.host, first)
    rerun = LocalBackend(registry.host, ARM_CRASHES, seed="v2")  # a rebuild would now fail
    again, report = await run_release(registry.host, rerun, version="1.0.1")
    assert rerun.events == []
    assert [i.reused for i in again] == [True, True]
    assert [i.digest for i in again] == [i.digest for i in images]
    assert report is not None and report.version == "1.0.1"


async def test_force_rebuilds_and_repushes(registry):
    await run_release(registry.host, LocalBackend(registry.host, PASSES))
    forced = LocalBackend(registry.host, PASSES, seed="v2")
    images, report = await run_release(registry.host, forced, force=True, version="1.0.1")
    assert ("build", "linux/amd64") in forced.events
    assert [i.reused for i in images] == [False, False]
    assert report is not None


async def test_dry_run_builds_and_tests_but_publishes_nothing(registry):
    backend = LocalBackend(registry.host, PASSES)
    images, report = await run_release(registry.host, backend, dry_run=True)
    assert report is None and [i.digest for i in images] == [None, None]
    assert [k for k, _ in backend.events].count("smoke") == 2
    assert "publish" not in [k for k, _ in backend.events]
    assert list_tags_raw(registry.host, REPO) == []


async def test_publish_platform_pushes_once_then_resumes(registry):
    spec = release_spec(f"{registry.host}/{REPO}", "1.0.0", SHA)
    arm = spec.platforms[1]
    backend = LocalBackend(registry.host, PASSES)
    first = await flow.publish_platform(backend, spec, arm)
    again = await flow.publish_platform(LocalBackend(registry.host, ARM_CRASHES), spec, arm)
    assert (first.reused, again.reused) == (False, True)
    assert first.digest == again.digest and first.tag == "workers-sha-c804cace-arm64"
    with pytest.raises(flow.PlatformFailed, match="next/headers"):
        await flow.publish_platform(LocalBackend(registry.host, ARM_CRASHES), spec, arm, force=True)
    assert list_tags_raw(registry.host, REPO) == ["workers-sha-c804cace-arm64"]


@dataclass
class FlakyEngineBackend(LocalBackend):
    """arm64's smoke test hits an engine error, not a verdict (e.g. reading its stdout)."""

    async def smoke_test(self, image: Built, platform: Platform) -> None:
        if platform.architecture == "arm64":
            raise query_error("connection reset while reading stdout")
        await super().smoke_test(image, platform)


async def test_an_unexpected_error_surfaces_as_itself_with_its_platform(registry):
    with pytest.raises(flow.PlatformError) as err:
        await run_release(registry.host, FlakyEngineBackend(registry.host, PASSES))
    assert not isinstance(err.value, BaseExceptionGroup)
    assert str(err.value) == "linux/arm64: QueryError: connection reset while reading stdout"
    assert isinstance(err.value.__cause__, dagger.QueryError)
    assert list_tags_raw(registry.host, REPO) == []
