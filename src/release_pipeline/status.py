"""`status`: what a floating tag points at, the versions behind it and where a rollback can go.

Read-only, and priced for an incident on a rate-limited registry: one tag listing, one HEAD
of the floating tag, then per version shown one GET of its index. For a version `merge`
released that is all: the index it writes records on each image's entry what it read from
that image's config (the revision it checked, the `created` time), so revision and creation
time come from the index alone. Any other version (an index or Docker list written by other
tools, images without a revision label, a version tag holding one image) has its labels read
from a platform image and its config: up to two more requests, as a config's digest is only
in its image manifest. Versions of one commit share those images, which are read once. Only
when the floating tag points below the versions shown is it looked for further down, one
HEAD per older version (as `promote --from sha256:...` does).

Which versions are live, yanked and candidates comes from `tags.Catalog`, the rule `merge`
and `promote` already apply; this module only reads and reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from .concurrency import map_concurrently
from .manifests import (
    CREATED,
    MAX_MANIFEST_BYTES,
    REVISION,
    Descriptor,
    Manifest,
    config_labels,
    plain,
    platform_images,
)
from .promote import released_as
from .registry import RegistryClient
from .report import LatestStatus, StatusReport, VersionStatus
from .specs import StatusSpec
from .versions import Version


@dataclass(frozen=True)
class _Labels:
    revision: str | None
    created: str | None


async def status(spec: StatusSpec, client: RegistryClient) -> StatusReport:
    """Where `latest-F` points, the newest `spec.limit` versions, and the rollback candidates."""
    repo, scheme = spec.image.repository, spec.scheme
    listed = await client.list_tags(repo)
    catalog = scheme.catalog(listed)
    newest_first = sorted(catalog.versions, reverse=True)
    shown = newest_first[: spec.limit]
    held = await client.head_manifest(repo, scheme.latest) if scheme.latest in listed else None

    indexes = await map_concurrently(
        partial(client.get_manifest, repo), [scheme.version_tags(v)[0] for v in shown]
    )
    recorded = [_recorded(m) for m in indexes]
    # Where nothing is recorded, the image whose labels speak for the version; a commit's
    # versions share it: read once.
    sources = [
        _label_source(m) if r is None else None for m, r in zip(indexes, recorded, strict=True)
    ]
    known = {m.digest: m for m in indexes if not m.is_index}
    unique = sorted({d for d in sources if d is not None})
    read = await map_concurrently(partial(_labels, client, repo, known), unique)
    labels = dict(zip(unique, read, strict=True))

    rows = []
    for version, manifest, record, source in zip(shown, indexes, recorded, sources, strict=True):
        found = labels[source] if source is not None else (record or _Labels(None, None))
        annotated = manifest.annotation(REVISION) if manifest.is_index else None
        rows.append(
            VersionStatus(
                version=str(version),
                digest=manifest.digest,
                revision=plain(annotated) or found.revision,
                created=found.created,
                prerelease=not version.stable,
                yanked=version in catalog.yanked,
                live=catalog.is_live(version),
            )
        )

    current = await _current(client, repo, spec, held, rows, newest_first[spec.limit :])
    candidates = [] if current is None else [v for v in reversed(catalog.live()) if v < current]
    return StatusReport(
        image=str(spec.image),
        flavor=spec.flavor,
        latest=LatestStatus(
            tag=scheme.latest, digest=held, version=None if current is None else str(current)
        ),
        versions=rows,
        rollback_candidates=[str(v) for v in candidates[: spec.limit]],
    )


async def _current(
    client: RegistryClient,
    repo: str,
    spec: StatusSpec,
    held: str | None,
    rows: list[VersionStatus],
    older: list[Version],
) -> Version | None:
    """The version whose index the floating tag holds: the newest one, as `promote` names it."""
    if held is None:
        return None
    for row in rows:
        if row.digest == held:
            return Version.parse(row.version)
    return await released_as(client, repo, spec.scheme, older, held)


def _recorded(manifest: Manifest) -> _Labels | None:
    """The labels `merge` recorded in a version's index, on its first platform image (all
    platforms of a commit share them), or None when it recorded none there.

    `merge` records the revision only once checked against the commit, and the `created`
    label whenever it is `plain`: on an entry with a recorded revision, the annotations are
    all the labels status would read, and no `created` means the image has none it shows.
    (Another tool annotating entries the same way is taken at its word, as its index's own
    revision annotation already is.)"""
    first = _first_image(manifest) if manifest.is_index else None
    annotations = first.annotations if first is not None else {}
    revision = plain(annotations.get(REVISION))
    return None if revision is None else _Labels(revision, plain(annotations.get(CREATED)))


def _label_source(manifest: Manifest) -> str | None:
    """The image whose labels speak for a version (all platforms of a commit share them):
    the version tag's own image, or its index's first platform image."""
    if not manifest.is_index:
        return manifest.digest
    first = _first_image(manifest)
    return first.digest if first is not None else None


def _first_image(index: Manifest) -> Descriptor | None:
    """An index's first platform image: all platforms of a commit share their labels."""
    children = platform_images(index)
    return children[0] if children else None


async def _labels(
    client: RegistryClient, repo: str, known: dict[str, Manifest], digest: str
) -> _Labels:
    image = known.get(digest) or await client.get_manifest(repo, digest)
    config = image.config().digest
    labels = config_labels(
        await client.get_blob(repo, config, max_bytes=MAX_MANIFEST_BYTES), config
    )
    return _Labels(plain(labels.get(REVISION)), plain(labels.get(CREATED)))
