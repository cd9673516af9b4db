"""The Dagger object types `publish-platform`, `merge`, `plan`, `release` and `promote`
return, and their converters from the library's reports: typed fields other pipelines can
chain (`release(...).pinned()`), plus `json`, the same report the CLI prints with `--json`.

Absent values (no digest yet, no replaced image) are "" here: the JSON keeps them as null.
The types are registered with the SDK when this module is imported (main imports it).
"""

from __future__ import annotations

import dataclasses
import json

import dagger

from . import flow
from .inputs import parse_platform
from .report import PromoteReport, ReleaseReport
from .specs import ReleaseSpec
from .tags import TagScheme
from .typed_dagger import object_type


@object_type
class PlatformImage:
    """One platform's image under its immutable SHA tag."""

    platform: str = dagger.field()
    tag: str = dagger.field()
    digest: str = dagger.field()
    reused: bool = dagger.field()
    replaced: str = dagger.field(default="")  # the digest --force replaced under the tag


@object_type
class TagRef:
    """A tag and the digest it points at after the run."""

    tag: str = dagger.field()
    digest: str = dagger.field()


@object_type
class Report:
    """What a release did: pin `pinned` in deployments; every tag and digest is listed."""

    image: str = dagger.field()
    version: str = dagger.field()
    sha: str = dagger.field()
    flavor: str = dagger.field()
    index_digest: str = dagger.field()
    pinned: str = dagger.field()
    platforms: list[PlatformImage] = dagger.field()
    tags: list[TagRef] = dagger.field()
    written: list[str] = dagger.field()
    latest_moved: bool = dagger.field()
    latest_reason: str = dagger.field()
    dry_run: bool = dagger.field()
    json: str = dagger.field()
    revision_unverified: list[str] = dagger.field(default=list)


@object_type
class Promotion:
    """A floating tag moved to an existing release; `yanked` versions will not get it back."""

    tag: str = dagger.field()
    source: str = dagger.field()
    digest: str = dagger.field()
    pinned: str = dagger.field()
    version: str = dagger.field()
    yanked: list[str] = dagger.field()
    written: list[str] = dagger.field()
    reason: str = dagger.field()
    dry_run: bool = dagger.field()
    json: str = dagger.field()


def platform_image_object(result: flow.PlatformResult) -> PlatformImage:
    return PlatformImage(
        platform=result.platform,
        tag=result.tag,
        digest=result.digest or "",
        reused=result.reused,
        replaced=result.replaced or "",
    )


def report_object(
    done: ReleaseReport, images: list[flow.PlatformResult], **extra: object
) -> Report:
    """The typed report, and its `json` field: every typed field in the CLI's `--json` shape
    plus `images`, so a caller gets the whole report from one query (one run of release)."""
    reused = {r.platform: r.reused for r in images}
    replaced = {r.platform: r.replaced or "" for r in images}
    scheme = TagScheme(done.flavor)
    platforms = [
        PlatformImage(
            platform=p,
            tag=scheme.sha_arch_tag(done.sha, parse_platform(p)),
            digest=digest,
            reused=reused.get(p, True),
            replaced=replaced.get(p, ""),
        )
        for p, digest in done.platforms.items()
    ]
    payload = json.loads(done.model_dump_json())
    # Per-arch tags that --force replaced are listed with the tags merge replaced.
    payload["replaced"] |= {r.tag: r.replaced for r in images if r.replaced}
    payload["images"] = [dataclasses.asdict(r) for r in images]
    return Report(
        image=done.image,
        version=done.version,
        sha=done.sha,
        flavor=done.flavor,
        index_digest=done.index_digest,
        pinned=done.pinned,
        platforms=platforms,
        tags=[TagRef(tag=t, digest=d) for t, d in done.tags.items()],
        written=done.written,
        latest_moved=done.latest_moved,
        latest_reason=done.latest_reason,
        dry_run=done.dry_run,
        json=json.dumps(payload | extra, indent=2),
        revision_unverified=done.revision_unverified,
    )


def dry_run_report_object(
    spec: ReleaseSpec, image: str, images: list[flow.PlatformResult]
) -> Report:
    """A release that stopped after the smoke tests: `image` is where it would have pushed."""
    done = ReleaseReport(
        image=image,
        version=str(spec.version),
        sha=spec.sha,
        flavor=spec.flavor,
        platforms={r.platform: r.digest or "" for r in images},
        index_digest="",
        pinned="",
        tags={},
        written=[],
        unchanged=[],
        replaced={},
        latest_moved=False,
        latest_reason="dry run: every platform built and passed its smoke test; nothing "
        "was published.",
        dry_run=True,
    )
    return report_object(done, images, would_write=spec.tags.all())


def promotion_object(done: PromoteReport) -> Promotion:
    return Promotion(
        tag=done.tag,
        source=done.source,
        digest=done.digest,
        pinned=done.pinned,
        version=done.version or "",
        yanked=done.yanked,
        written=done.written,
        reason=done.reason,
        dry_run=done.dry_run,
        json=done.model_dump_json(indent=2),
    )
