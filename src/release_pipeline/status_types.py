"""The Dagger object types `status` returns: the report as typed fields other pipelines can
chain (`latest().version()`), plus `json`, the same report the CLI prints with `--json`.

Absent values (no floating tag, no label) are "" here: the JSON keeps them as null.
"""

from __future__ import annotations

import dagger

from .report import StatusReport
from .typed_dagger import object_type


@object_type
class LatestTag:
    """Where the floating tag points; empty digest: it does not exist; empty version: the
    digest is no released version's index."""

    tag: str = dagger.field()
    digest: str = dagger.field()
    version: str = dagger.field()


@object_type
class VersionInfo:
    """One released version: `live` versions are what latest may carry."""

    version: str = dagger.field()
    digest: str = dagger.field()
    revision: str = dagger.field()
    created: str = dagger.field()
    prerelease: bool = dagger.field()
    yanked: bool = dagger.field()
    live: bool = dagger.field()


@object_type
class Status:
    """What is live, the versions newest first, and the versions a rollback can go back to."""

    image: str = dagger.field()
    flavor: str = dagger.field()
    latest: LatestTag = dagger.field()
    versions: list[VersionInfo] = dagger.field()
    rollback_candidates: list[str] = dagger.field()
    json: str = dagger.field()


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
            )
            for v in report.versions
        ],
        rollback_candidates=report.rollback_candidates,
        json=report.model_dump_json(indent=2),
    )
