"""The order of a whole release, independent of how images are built.

`Backend` is the narrow seam: the Dagger module implements it with the engine, the tests
with real images built by umoci and pushed by skopeo. The rules that protect users live
here, once:
- every platform is built and smoke-tested before anything is pushed;
- if any platform fails, nothing at all is published;
- a per-arch image already under its SHA tag is reused (no rebuild, no push) unless
  forced, so a re-run resumes instead of replacing what may already be deployed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import anyio

from .concurrency import map_concurrently
from .errors import ReleaseError
from .inputs import Platform
from .report import ReleaseReport
from .specs import ReleaseSpec

Image = TypeVar("Image")


class Backend(Protocol[Image]):
    async def existing(self, tag: str) -> str | None:
        """The digest under `tag` in the target repository, or None."""
        ...

    async def build(self, platform: Platform) -> Image:
        """Build the image for one platform."""
        ...

    async def smoke_test(self, image: Image, platform: Platform) -> None:
        """Raise `PlatformFailed` unless the image passes its smoke test."""
        ...

    async def publish(self, image: Image, platform: Platform, tag: str) -> str:
        """Push the image under `tag` in the target repository; return its digest."""
        ...


class PlatformFailed(ReleaseError):
    """One platform's build or smoke test failed: nothing of it was pushed."""

    def __init__(self, platform: Platform, stage: str, detail: str) -> None:
        self.platform, self.stage = platform, stage
        super().__init__(f"{stage} failed for {platform}:\n{detail}")


class PlatformError(ReleaseError):
    """An unexpected error (not a build or smoke-test verdict) while preparing one platform.

    Raised from the error itself, instead of the task group's ExceptionGroup, so the user
    reads what went wrong and where; the other platforms were cancelled, nothing was pushed.
    """

    def __init__(self, platform: Platform, error: Exception) -> None:
        self.platform, self.error = platform, error
        super().__init__(f"{platform}: {type(error).__name__}: {error}")


class BuildFailed(ReleaseError):
    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = failures
        lines = [f"{platform}: {reason}" for platform, reason in sorted(failures.items())]
        super().__init__("nothing was published; failed platforms:\n  " + "\n  ".join(lines))


@dataclass(frozen=True)
class PlatformResult:
    platform: str
    tag: str
    digest: str | None  # None in a dry run of a platform that was built but not pushed
    reused: bool  # True when the SHA tag already held an image: not rebuilt, not pushed


@dataclass(frozen=True)
class Built(Generic[Image]):
    platform: Platform
    image: Image


async def publish_platform(
    backend: Backend[Image], spec: ReleaseSpec, platform: Platform, *, force: bool = False
) -> PlatformResult:
    """Build, smoke-test and push one platform to its SHA tag (or reuse what is there)."""
    tag = spec.tags.sha_arch[platform]
    if not force and (digest := await backend.existing(tag)) is not None:
        return PlatformResult(str(platform), tag, digest, reused=True)
    image = await _tested_image(backend, platform)
    return PlatformResult(
        str(platform), tag, await backend.publish(image, platform, tag), reused=False
    )


async def _tested_image(backend: Backend[Image], platform: Platform) -> Image:
    """Build and smoke-test: the only way an image reaches `publish`."""
    image = await backend.build(platform)
    await backend.smoke_test(image, platform)
    return image


async def release(
    backend: Backend[Image],
    spec: ReleaseSpec,
    merge: Callable[[], Awaitable[ReleaseReport]],
    *,
    force: bool = False,
    dry_run: bool = False,
) -> tuple[list[PlatformResult], ReleaseReport | None]:
    """All platforms built and tested concurrently, then published, then merged."""
    platforms = list(spec.tags.sha_arch)
    held: dict[Platform, str | None] = dict.fromkeys(platforms)
    if not force:
        for platform in platforms:
            held[platform] = await backend.existing(spec.tags.sha_arch[platform])
    to_build = [p for p in platforms if held[p] is None]

    built: dict[Platform, Image] = {}
    failures: dict[str, str] = {}
    crashed: list[PlatformError] = []

    async with anyio.create_task_group() as group:

        async def build_and_test(platform: Platform) -> None:
            try:
                built[platform] = await _tested_image(backend, platform)
            except ReleaseError as exc:
                failures[str(platform)] = str(exc)
            except Exception as exc:  # e.g. a QueryError reading stdout: stop everything
                crashed.append(PlatformError(platform, exc))
                group.cancel_scope.cancel()

        for platform in to_build:
            group.start_soon(build_and_test, platform)
    if crashed:
        raise crashed[0] from crashed[0].error
    if failures:
        raise BuildFailed(failures)

    results = {
        p: PlatformResult(str(p), spec.tags.sha_arch[p], held[p], reused=True)
        for p in platforms
        if held[p] is not None
    }
    if dry_run:
        results |= {
            p: PlatformResult(str(p), spec.tags.sha_arch[p], None, reused=False) for p in built
        }
        return [results[p] for p in platforms], None

    async def publish(platform: Platform) -> PlatformResult:
        tag = spec.tags.sha_arch[platform]
        digest = await backend.publish(built[platform], platform, tag)
        return PlatformResult(str(platform), tag, digest, reused=False)

    # Every image passed its smoke test: push them together.
    results |= dict(zip(built, await map_concurrently(publish, list(built)), strict=True))
    return [results[p] for p in platforms], await merge()
