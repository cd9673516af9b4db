"""The Dagger object types `publish-platform`, `merge`, `plan`, `release` and `promote`
return, and their converters from the library's reports: typed fields other pipelines can
chain (`release(...).pinned()`), plus `json`, the same report the CLI prints with `--json`.

Absent values (no digest yet, no replaced image) are "" here: the JSON keeps them as null.
The types are registered with the SDK when this module is imported (main imports it).
Every field is `Annotated[T, Doc(...)]`: the SDK sends a field's description from
`get_doc(field.type)` (dagger/mod/_module.py, `Module._typedefs`), and under
`from __future__ import annotations` that type is a string with no Doc, so this module
keeps real annotations.
"""

import dataclasses
import json
from typing import Annotated

import dagger
from dagger import Doc

from release_pipeline.dagger.typed import object_type
from release_pipeline.rules.inputs import parse_platform
from release_pipeline.rules.specs import ReleaseSpec
from release_pipeline.rules.tags import TagScheme
from release_pipeline.verbs import flow
from release_pipeline.verbs.report import PromoteReport, ReleaseReport


@object_type
class TagRef:
    """A tag and the digest it points at after the run."""

    tag: Annotated[str, Doc("a tag this release's content is under after the run")] = dagger.field()
    digest: Annotated[str, Doc("the sha256 digest that tag points at")] = dagger.field()


@object_type
class PlatformImage:
    """One platform's image under its immutable SHA tag."""

    platform: Annotated[str, Doc("os/arch[/variant] of this image, e.g. linux/arm64")] = (
        dagger.field()
    )
    tag: Annotated[str, Doc("its immutable per-arch SHA tag, e.g. workers-sha-c804cace-arm64")] = (
        dagger.field()
    )
    digest: Annotated[
        str, Doc("sha256 digest of the per-arch image (a dry run: empty, nothing was pushed)")
    ] = dagger.field()
    reused: Annotated[
        bool, Doc("true when the image already under the SHA tag was kept, not rebuilt")
    ] = dagger.field()
    replaced: Annotated[str, Doc("the digest --force replaced under the SHA tag (empty: none)")] = (
        dagger.field(default="")
    )
    emulated: Annotated[
        bool, Doc("true when this engine built and smoke-tested it under QEMU, not natively")
    ] = dagger.field(default=False)
    flavors: Annotated[
        list[TagRef],
        Doc("with --flavors: every flavor's per-arch SHA tag and digest, in --flavors order"),
    ] = dagger.field(default=list)
    json: Annotated[str, Doc("every flavor's image as JSON, from this one run")] = dagger.field(
        default=""
    )


@object_type
class FlavorRelease:
    """One flavor of a release of several (--flavors): what its deployments pin."""

    name: Annotated[str, Doc("the flavor's name in --flavors")] = dagger.field()
    flavor: Annotated[str, Doc("its tag suffix (empty: the production image)")] = dagger.field()
    index_digest: Annotated[str, Doc("sha256 digest of its index (a dry run: empty)")] = (
        dagger.field()
    )
    pinned: Annotated[str, Doc("IMAGE@INDEX_DIGEST: what its deployments name")] = dagger.field()
    json: Annotated[str, Doc("its whole report as JSON")] = dagger.field()


@object_type
class Report:
    """What a release did: pin `pinned` in deployments; every tag and digest is listed."""

    image: Annotated[str, Doc("HOST/REPO the release was published to")] = dagger.field()
    version: Annotated[str, Doc("the released version, normalised (no v)")] = dagger.field()
    sha: Annotated[str, Doc("the full git commit SHA the images were built from")] = dagger.field()
    flavor: Annotated[str, Doc("the image flavor (empty: the production image)")] = dagger.field()
    index_digest: Annotated[
        str, Doc("sha256 digest of the multi-arch index (a dry run: empty)")
    ] = dagger.field()
    pinned: Annotated[
        str, Doc("IMAGE@INDEX_DIGEST: what a deployment should name, so a rollback is a re-pin")
    ] = dagger.field()
    platforms: Annotated[list[PlatformImage], Doc("each platform's per-arch image")] = (
        dagger.field()
    )
    tags: Annotated[
        list[TagRef],
        Doc("every tag pointing at this release's content after the run, with its digest"),
    ] = dagger.field()
    written: Annotated[list[str], Doc("tags this run wrote (plan: tags merge would write)")] = (
        dagger.field()
    )
    latest_moved: Annotated[bool, Doc("whether latest-FLAVOR now points at this release")] = (
        dagger.field()
    )
    latest_reason: Annotated[str, Doc("why latest-FLAVOR moved or stayed, in one sentence")] = (
        dagger.field()
    )
    dry_run: Annotated[bool, Doc("true when nothing was written (plan, or release --dry-run)")] = (
        dagger.field()
    )
    json: Annotated[
        str,
        Doc("the whole report as JSON (the CLI's --json shape plus `images`), from this one run"),
    ] = dagger.field()
    revision_unverified: Annotated[
        list[str],
        Doc("per-arch SHA tags whose image has no org.opencontainers.image.revision label"),
    ] = dagger.field(default=list)
    emulated: Annotated[
        list[str],
        Doc("platforms this engine built and smoke-tested under QEMU, not natively"),
    ] = dagger.field(default=list)
    flavors: Annotated[
        list[FlavorRelease],
        Doc(
            "with --flavors: every flavor released, in --flavors order (the fields above: "
            "the first)"
        ),
    ] = dagger.field(default=list)


@object_type
class Promotion:
    """A floating tag moved to an existing release; `yanked` versions will not get it back."""

    tag: Annotated[str, Doc("the floating tag moved")] = dagger.field()
    source: Annotated[str, Doc("the TAG or sha256:DIGEST it was pointed at, as given")] = (
        dagger.field()
    )
    digest: Annotated[str, Doc("the index digest the tag holds after the run")] = dagger.field()
    pinned: Annotated[str, Doc("IMAGE@DIGEST of that release")] = dagger.field()
    version: Annotated[
        str, Doc("the version that digest was released as (empty: not a released version)")
    ] = dagger.field()
    yanked: Annotated[
        list[str],
        Doc("versions marked yanked by this run, so merge never moves latest back to them"),
    ] = dagger.field()
    written: Annotated[
        list[str], Doc("tags written by this run (a dry run: tags it would write), in write order")
    ] = dagger.field()
    reason: Annotated[
        str, Doc("why these versions are yanked, or why none is, in one sentence")
    ] = dagger.field()
    dry_run: Annotated[bool, Doc("true when nothing was written")] = dagger.field()
    previous: Annotated[
        str, Doc("the digest the tag held before the run (empty: the tag did not exist)")
    ] = dagger.field()
    previous_version: Annotated[
        str, Doc("the version that previous digest was released as (empty: none known)")
    ] = dagger.field()
    after_version: Annotated[
        str, Doc("the version the tag holds after the run (a newer release may have won)")
    ] = dagger.field()
    restored: Annotated[
        list[str], Doc("yanked versions this run put back (a dry run: would put back)")
    ] = dagger.field()
    released_meanwhile: Annotated[
        list[str], Doc("versions released while this rollback ran: passed over and yanked too")
    ] = dagger.field()
    already_current: Annotated[
        bool, Doc("true when the tag already held this release: nothing was written")
    ] = dagger.field()
    manifests: Annotated[
        dagger.Directory | None,
        Doc("with --pin: the manifests pinned to `pinned` (export it back to the ops checkout)"),
    ] = dagger.field(default=None)
    json: Annotated[str, Doc("the whole promotion report as JSON, from this one run")] = (
        dagger.field()
    )


def platform_image_object(outcomes: list[flow.FlavorOutcome], emulated: list[str]) -> PlatformImage:
    """The first flavor's image, and every flavor's under `flavors` when there are several."""
    images = [o.images[0] for o in outcomes]
    first = images[0]
    several = len(outcomes) > 1
    payload = [
        {"name": o.name, **dataclasses.asdict(i)} for o, i in zip(outcomes, images, strict=True)
    ]
    return PlatformImage(
        platform=first.platform,
        tag=first.tag,
        digest=first.digest or "",
        reused=first.reused,
        replaced=first.replaced or "",
        emulated=first.platform in emulated,
        flavors=[TagRef(tag=i.tag, digest=i.digest or "") for i in images] if several else [],
        json=json.dumps({"images": payload, "emulated": emulated}, indent=2),
    )


def report_object(
    done: ReleaseReport,
    images: list[flow.PlatformResult],
    emulated: list[str] | None = None,
    **extra: object,
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
            emulated=p in (emulated or []),
        )
        for p, digest in done.platforms.items()
    ]
    payload = json.loads(done.model_dump_json())
    # Per-arch tags that --force replaced are listed with the tags merge replaced.
    payload["replaced"] |= {r.tag: r.replaced for r in images if r.replaced}
    payload["images"] = [dataclasses.asdict(r) for r in images]
    payload["emulated"] = emulated or []
    payload["flavors"] = []  # release with --flavors: each flavor's report
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
        emulated=emulated or [],
    )


def release_object(
    outcomes: list[flow.FlavorOutcome],
    specs: list[ReleaseSpec],
    image: str,
    emulated: list[str],
    reproducibility: str,
) -> Report:
    """`release`'s report: one flavor's, or with several the first's, every one under
    `flavors` and the whole list in `json`'s `flavors`."""
    reports = [
        dry_run_report_object(spec, image, o.images, emulated)
        if o.report is None
        else report_object(o.report, o.images, emulated)
        for o, spec in zip(outcomes, specs, strict=True)
    ]
    first = reports[0]
    whole = json.loads(first.json) | {"reproducibility": reproducibility}
    if len(reports) > 1:
        first.flavors = [
            FlavorRelease(
                name=o.name,
                flavor=r.flavor,
                index_digest=r.index_digest,
                pinned=r.pinned,
                json=r.json,
            )
            for o, r in zip(outcomes, reports, strict=True)
        ]
        whole["flavors"] = [
            {"name": o.name, **json.loads(r.json)} for o, r in zip(outcomes, reports, strict=True)
        ]
    first.json = json.dumps(whole, indent=2)
    return first


def dry_run_report_object(
    spec: ReleaseSpec,
    image: str,
    images: list[flow.PlatformResult],
    emulated: list[str] | None = None,
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
    return report_object(done, images, emulated, would_write=spec.tags.all())


def promotion_object(done: PromoteReport, manifests: dagger.Directory | None = None) -> Promotion:
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
        previous=done.previous or "",
        previous_version=done.previous_version or "",
        after_version=done.after_version or "",
        restored=done.restored,
        released_meanwhile=done.released_meanwhile,
        already_current=done.already_current,
        json=done.model_dump_json(indent=2),
        manifests=manifests,
    )
