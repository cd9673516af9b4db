"""The order of a whole release, independent of how images are built.

`Backend` is the narrow seam: the Dagger module implements it with the engine, the tests
with real images built by umoci and pushed by skopeo. The rules that protect users live
here, once:
- every platform (of every flavor released together) is built and smoke-tested before
  anything is pushed;
- if any platform of any flavor fails, nothing at all is published;
- a per-arch image already under its SHA tag is reused (no rebuild, no push) only when its
  revision label is this very commit, and only after it passes the smoke test again (a
  container start from the pushed image), so a re-run resumes instead of replacing what
  may already be deployed;
- anything else under that tag (an older workflow's image without the label, another
  commit's) stops the release before anything is pushed, unless forced: `force` rebuilds,
  tests and replaces it, and the result names the digest it replaced.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import anyio

from release_pipeline.errors import ReleaseError, shown
from release_pipeline.registry.concurrency import map_concurrently
from release_pipeline.rules.inputs import Platform
from release_pipeline.rules.manifests import REVISION
from release_pipeline.rules.specs import ReleaseSpec
from release_pipeline.verbs.per_arch import Held
from release_pipeline.verbs.report import ReleaseReport

Image = TypeVar("Image")


class Backend(Protocol[Image]):
    async def existing(self, tag: str) -> Held | None:
        """What `tag` holds in the target repository (`per_arch.held`), or None."""
        ...

    async def build(self, platform: Platform) -> Image:
        """Build the image for one platform."""
        ...

    async def pull(self, digest: str, platform: Platform) -> Image:
        """The image already pushed as `digest` (an image, or a buildx index holding it),
        ready for `smoke_test`: a container start from those bytes, not a rebuild."""
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


class NotReusable(ReleaseError):
    """Per-arch tags hold images this pipeline did not test for this commit."""

    def __init__(self, problems: list[str], sha: str) -> None:
        self.problems = problems
        super().__init__(
            f"nothing was pushed: per-arch tags hold images not built and tested for commit "
            f"{sha} by this pipeline (--force rebuilds, tests and replaces them):\n  "
            + "\n  ".join(problems)
        )


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
    reused: bool  # True when the SHA tag held this commit's image: pulled and re-tested
    replaced: str | None = None  # the digest `force` replaced under the tag


def _problem(held: Held, spec: ReleaseSpec, platform: Platform) -> str | None:
    """Why the image under a per-arch tag may not be reused, or None if it may."""
    if held.config is None:
        return f"{held.tag} holds {held.digest}, which is unusable ({held.unusable})"
    label = held.config.revision
    if label is None:
        return f"{held.tag} holds {held.digest} with no {REVISION} label"
    if label != spec.sha:
        return f"{held.tag} holds {held.digest} labelled {REVISION}={shown(label)}"
    if held.config.platform != platform:
        return f"{held.tag} holds {held.digest}, an image for {held.config.platform}"
    return None


async def _survey(
    backend: Backend[Image], spec: ReleaseSpec, platforms: list[Platform], *, force: bool
) -> dict[Platform, Held | None]:
    """What every per-arch tag holds; refuses (before any build or push) what may not be
    reused, unless forced."""
    tags = [spec.tags.sha_arch[p] for p in platforms]
    held = dict(zip(platforms, await map_concurrently(backend.existing, tags), strict=True))
    if not force:
        problems = [
            problem
            for p, h in held.items()
            if h is not None and (problem := _problem(h, spec, p)) is not None
        ]
        if problems:
            raise NotReusable(problems, spec.sha)
    return held


def _old(held: Held | None, digest: str) -> str | None:
    return held.digest if held is not None and held.digest != digest else None


async def _tested_image(backend: Backend[Image], platform: Platform, reuse: Held | None) -> Image:
    """Build (or pull what is reused) and smoke-test: the only way an image is published or
    counts as tested."""
    if reuse is None:
        image = await backend.build(platform)
    else:
        image = await backend.pull(reuse.digest, platform)
    try:
        await backend.smoke_test(image, platform)
    except PlatformFailed as exc:
        if reuse is None:
            raise
        raise PlatformFailed(
            platform, f"smoke test of {reuse.tag} ({reuse.digest})", str(exc)
        ) from None
    return image


@dataclass(frozen=True)
class FlavorJob(Generic[Image]):
    """One flavor of a release: its backend (Dockerfile target, smoke command), its spec
    (tags) and how to merge it once every image of every flavor is published."""

    name: str
    backend: Backend[Image]
    spec: ReleaseSpec
    merge: Callable[[], Awaitable[ReleaseReport]] | None  # None: publish only


@dataclass(frozen=True)
class FlavorOutcome:
    name: str
    images: list[PlatformResult]
    report: ReleaseReport | None  # None in a dry run, or for a job without a merge


async def release(
    backend: Backend[Image],
    spec: ReleaseSpec,
    merge: Callable[[], Awaitable[ReleaseReport]],
    *,
    force: bool = False,
    dry_run: bool = False,
) -> tuple[list[PlatformResult], ReleaseReport | None]:
    """One flavor: `release_flavors` with a single job."""
    job = FlavorJob(spec.flavor, backend, spec, merge)
    (done,) = await release_flavors([job], force=force, dry_run=dry_run)
    return done.images, done.report


async def release_flavors(
    jobs: Sequence[FlavorJob[Image]], *, force: bool = False, dry_run: bool = False
) -> list[FlavorOutcome]:
    """Every flavor x platform built (or pulled) and tested concurrently; only when all
    passed, every new image is published, then each flavor is merged, in the given order."""
    helds = [
        await _survey(job.backend, job.spec, list(job.spec.tags.sha_arch), force=force)
        for job in jobs
    ]
    reuses = [{p: h for p, h in held.items() if h is not None and not force} for held in helds]
    work = [(i, p) for i, job in enumerate(jobs) for p in job.spec.tags.sha_arch]

    def key(i: int, platform: Platform) -> str:
        return str(platform) if len(jobs) == 1 else f"{jobs[i].name} {platform}"

    built: dict[tuple[int, Platform], Image] = {}
    failures: dict[str, str] = {}
    crashed: list[PlatformError] = []

    async with anyio.create_task_group() as group:

        async def build_and_test(i: int, platform: Platform) -> None:
            try:
                built[i, platform] = await _tested_image(
                    jobs[i].backend, platform, reuses[i].get(platform)
                )
            except ReleaseError as exc:
                failures[key(i, platform)] = str(exc)
            except Exception as exc:  # e.g. a QueryError reading stdout: stop everything
                crashed.append(PlatformError(platform, exc))
                group.cancel_scope.cancel()

        for i, platform in work:
            group.start_soon(build_and_test, i, platform)
    if crashed:
        raise crashed[0] from crashed[0].error
    if failures:
        raise BuildFailed(failures)

    results: dict[tuple[int, Platform], PlatformResult] = {
        (i, p): PlatformResult(str(p), jobs[i].spec.tags.sha_arch[p], h.digest, reused=True)
        for i, reuse in enumerate(reuses)
        for p, h in reuse.items()
    }
    to_push = [(i, p) for i, p in work if p not in reuses[i]]

    async def publish(item: tuple[int, Platform]) -> PlatformResult:
        i, platform = item
        tag = jobs[i].spec.tags.sha_arch[platform]
        if dry_run:
            return PlatformResult(str(platform), tag, None, reused=False)
        digest = await jobs[i].backend.publish(built[item], platform, tag)
        return PlatformResult(
            str(platform), tag, digest, reused=False, replaced=_old(helds[i][platform], digest)
        )

    # Every image of every flavor passed its smoke test: push the new ones together.
    results |= dict(zip(to_push, await map_concurrently(publish, to_push), strict=True))
    outcomes = []
    for i, job in enumerate(jobs):
        images = [results[i, p] for p in job.spec.tags.sha_arch]
        merged = None if dry_run or job.merge is None else await job.merge()
        outcomes.append(FlavorOutcome(job.name, images, merged))
    return outcomes
