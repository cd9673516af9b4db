"""The Dagger object types `status` returns: the report as typed fields other pipelines can
chain (`latest().version()`), plus `json`, the same report the CLI prints with `--json`.

Absent values (no floating tag, no label) are "" here: the JSON keeps them as null.
Real annotations, no `from __future__ import annotations`: see release_types for why.
"""

from typing import Annotated

import dagger
from dagger import Doc

from release_pipeline.dagger.typed import object_type
from release_pipeline.verbs.report import StatusReport


@object_type
class LatestTag:
    """Where the floating tag points; empty digest: it does not exist; empty version: the
    digest is no released version's index."""

    tag: Annotated[str, Doc("the floating tag, e.g. latest-workers")] = dagger.field()
    digest: Annotated[str, Doc("the digest it points at (empty: the tag does not exist)")] = (
        dagger.field()
    )
    version: Annotated[str, Doc("the released version with that index digest (empty: none)")] = (
        dagger.field()
    )


@object_type
class VersionInfo:
    """One released version: `live` versions are what latest may carry."""

    version: Annotated[str, Doc("a released version, normalised (no v)")] = dagger.field()
    digest: Annotated[str, Doc("its multi-arch index digest")] = dagger.field()
    revision: Annotated[
        str,
        Doc(
            "its git commit: the index's revision annotation, else its images' label (empty: none)"
        ),
    ] = dagger.field()
    created: Annotated[str, Doc("its org.opencontainers.image.created label (empty: none)")] = (
        dagger.field()
    )
    prerelease: Annotated[bool, Doc("true for a SemVer prerelease, which latest never carries")] = (
        dagger.field()
    )
    yanked: Annotated[
        bool, Doc("true when a rollback yanked it, so latest never moves back to it")
    ] = dagger.field()
    live: Annotated[bool, Doc("true when latest may carry it: stable and not yanked")] = (
        dagger.field()
    )
    yanked_by: Annotated[
        str,
        Doc(
            "the version whose yank event yanked it: itself, or one holding the same index "
            "(the same images released again); empty: not yanked"
        ),
    ] = dagger.field()
    deployed: Annotated[
        bool, Doc("true when the manifests given to status pin its index (deployed)")
    ] = dagger.field()


@object_type
class Status:
    """What is live, the versions newest first, and the versions a rollback can go back to."""

    image: Annotated[str, Doc("HOST/REPO that was read")] = dagger.field()
    flavor: Annotated[str, Doc("the image flavor (empty: the production image)")] = dagger.field()
    latest: Annotated[LatestTag, Doc("where latest-FLAVOR points")] = dagger.field()
    versions: Annotated[list[VersionInfo], Doc("the released versions, newest first")] = (
        dagger.field()
    )
    rollback_candidates: Annotated[
        list[str], Doc("live versions older than the one latest carries: where a rollback can go")
    ] = dagger.field()
    json: Annotated[str, Doc("the whole status report as JSON, from this one read")] = (
        dagger.field()
    )


def status_object(report: StatusReport) -> Status:
    latest = report.latest
    return Status(
        image=report.image,
        flavor=report.flavor,
        latest=LatestTag(tag=latest.tag, digest=latest.digest or "", version=latest.version or ""),
        versions=[
            VersionInfo(
                version=v.version,
                digest=v.digest,
                revision=v.revision or "",
                created=v.created or "",
                prerelease=v.prerelease,
                yanked=v.yanked,
                live=v.live,
                yanked_by=v.yanked_by or "",
                deployed=v.deployed,
            )
            for v in report.versions
        ],
        rollback_candidates=report.rollback_candidates,
        json=report.model_dump_json(indent=2),
    )
