"""`status`: what a floating tag points at, the versions behind it and where a rollback can go.

Read-only, and priced for an incident on a rate-limited registry: one tag listing, one HEAD
of the floating tag, then per version shown one GET of its index. For a version `merge`
released that is all, labels or not: the index it writes records on each image's entry
what it read from that image's config (the revision it checked, or that there was none, and
the `created` time), so revision and creation time come from the index alone. Any other
version (an index or Docker list written by other tools, or by a `merge` that predates the
no-revision mark, a version tag holding one image) has its labels read
from a platform image and its config: up to two more requests, as a config's digest is only
in its image manifest. Versions of one commit share those images, which are read once. Only
when the floating tag points below the versions shown is it looked for further down, one
HEAD per older version (as `promote --from sha256:...` does).

Which versions are live, yanked and candidates comes from `releases.Releases`, the rule
`merge` and `promote` apply (the candidates are the versions `promote --from` takes, filtered:
live, older than latest's, not its index); this module only reads and reports. Reads the
rule adds: one HEAD per yanked version not shown (its index digest), and one per candidate
not shown (it must not be latest's index).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from release_pipeline.registry.client import RegistryClient
from release_pipeline.registry.concurrency import map_concurrently
from release_pipeline.rules.manifests import (
    CREATED,
    MAX_MANIFEST_BYTES,
    NO_REVISION_LABEL,
    REVISION,
    Descriptor,
    Manifest,
    config_labels,
    plain,
    platform_images,
)
from release_pipeline.rules.releases import Ledger, Releases
from release_pipeline.rules.specs import StatusSpec
from release_pipeline.rules.versions import Version
from release_pipeline.verbs.deployed import deployed
from release_pipeline.verbs.holdings import find_version, read_releases, with_digests
from release_pipeline.verbs.pin_tree import ManifestTree
from release_pipeline.verbs.report import LatestStatus, StatusReport, VersionStatus


@dataclass(frozen=True)
class _Labels:
    revision: str | None
    created: str | None


async def status(
    spec: StatusSpec, client: RegistryClient, manifests: ManifestTree | None = None
) -> StatusReport:
    """Where `latest-F` points, the newest `spec.limit` versions, and the rollback candidates;
    with `manifests`, which of them the deployment manifests pin (`deployed`)."""
    repo, scheme = spec.image.repository, spec.scheme
    listed = await client.list_tags(repo)
    shown = Releases(Ledger.read(scheme, listed)).versions[: spec.limit]
    held = await client.head_manifest(repo, scheme.latest) if scheme.latest in listed else None

    indexes = await map_concurrently(
        partial(client.get_manifest, repo), [scheme.version_tags(v)[0] for v in shown]
    )
    known = {v: m.digest for v, m in zip(shown, indexes, strict=True)}
    releases = await read_releases(client, repo, scheme, listed, known=known)
    recorded = [_recorded(m) for m in indexes]
    # Where nothing is recorded, the image whose labels speak for the version; a commit's
    # versions share it: read once.
    sources = [
        _label_source(m) if r is None else None for m, r in zip(indexes, recorded, strict=True)
    ]
    images = {m.digest: m for m in indexes if not m.is_index}
    unique = sorted({d for d in sources if d is not None})
    read = await map_concurrently(partial(_labels, client, repo, images), unique)
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
                yanked=releases.yanked(version),
                live=releases.live(version),
                yanked_by=_str(releases.yanked_by(version)),
            )
        )

    # Only when latest points below the versions shown: one HEAD per older version.
    releases, current = await find_version(client, repo, releases, held)
    # A candidate must not hold latest's index: read the digests of those not shown.
    older = [v for v in releases.versions if current is None or v < current]
    releases = await with_digests(
        client, repo, releases, [v for v in older if releases.live(v)][: spec.limit]
    )
    candidates = [v for v in releases.candidates(held) if v in releases.digests]
    refs = None
    if manifests is not None:
        refs, releases = await deployed(client, spec, releases, manifests)
        pinned = {r.version for r in refs}
        rows = [r.model_copy(update={"deployed": r.version in pinned}) for r in rows]
    return StatusReport(
        image=str(spec.image),
        flavor=spec.flavor,
        latest=LatestStatus(tag=scheme.latest, digest=held, version=_str(current)),
        versions=rows,
        rollback_candidates=[str(v) for v in candidates[: spec.limit]],
        deployed=refs,
    )


def _str(version: Version | None) -> str | None:
    return None if version is None else str(version)


def _recorded(manifest: Manifest) -> _Labels | None:
    """The labels `merge` recorded in a version's index, on its first platform image (all
    platforms of a commit share them), or None when it recorded none there.

    `merge` records the revision only once checked against the commit, that the image had
    no revision label (`NO_REVISION_LABEL`) when it had none, and the `created` label
    whenever it is `plain`: on an entry with either mark, the annotations are all the labels
    status would read, and no `created` means the image has none it shows. (Another tool
    annotating entries the same way is taken at its word, as its index's own revision
    annotation already is.)"""
    first = _first_image(manifest) if manifest.is_index else None
    annotations = first.annotations if first is not None else {}
    revision = plain(annotations.get(REVISION))
    if revision is None and annotations.get(NO_REVISION_LABEL) != "true":
        return None
    return _Labels(revision, plain(annotations.get(CREATED)))


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
