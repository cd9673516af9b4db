"""What a release or rollback did, and what `status` read: typed values and JSON.

The text a person reads is laid out from these fields by `render.py`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ReleaseReport(BaseModel):
    """Every ref and digest of one release, so deployments can pin `pinned` and roll back."""

    model_config = ConfigDict(frozen=True)

    image: str
    version: str
    sha: str
    flavor: str
    platforms: dict[str, str]  # platform -> per-arch manifest digest
    index_digest: str
    pinned: str  # image@index_digest: what a Deployment should name
    # every tag pointing at this release's content after the run, in write order: per-arch
    # SHA tags, per-arch version tags, multi-arch tags, latest-F
    tags: dict[str, str]
    written: list[str]  # tags PUT by this run (plan: tags it would PUT), in write order
    unchanged: list[str]  # the other tags of `tags`: they already held the right digest
    replaced: dict[str, str]  # tag -> digest it held before --force overwrote it
    latest_moved: bool
    latest_reason: str
    dry_run: bool
    # per-arch SHA tags whose image has no org.opencontainers.image.revision label: merged
    # (other build tools make such images), but nothing showed they are of this commit
    revision_unverified: list[str] = []


class ChannelReport(BaseModel):
    """A channel release: its immutable tags, and whether the channel tag moved, and why."""

    model_config = ConfigDict(frozen=True)

    image: str
    channel: str  # the channel tag (`docs`, `edge-workers`)
    sha: str
    flavor: str
    platforms: dict[str, str]  # platform -> per-arch manifest digest
    index_digest: str
    pinned: str  # image@index_digest
    # every immutable tag of this release, then the channel tags this run wrote -> digest,
    # in write order
    tags: dict[str, str]
    written: list[str]  # tags PUT by this run (dry run: would PUT), in write order
    replaced: dict[str, str]  # tag -> digest it held before --force overwrote it
    moved: bool  # the channel tag was written (dry run: would be)
    forced: bool  # moved only because of --force: not a descendant of what it held
    reason: str  # why the channel moved or stayed, in one sentence
    dry_run: bool
    previous: str | None  # digest the channel held before (None: no channel tag)
    previous_revision: str | None  # the commit that index records (None: none recorded)
    revision: str | None  # the commit the channel holds after the run (dry run: would)
    revision_unverified: list[str] = []


class PromoteReport(BaseModel):
    """A floating tag moved to an existing release (a rollback or a roll-forward)."""

    model_config = ConfigDict(frozen=True)

    image: str
    flavor: str
    tag: str
    source: str
    digest: str
    pinned: str
    version: str | None  # the version the digest was released as, when known
    # versions this run yanked (dry run: would yank), so `merge` never re-promotes them;
    # includes `released_meanwhile`
    yanked: list[str]
    written: list[str]  # tags PUT by this run (dry run: tags it would PUT), in write order
    tags: dict[str, str]  # tag -> digest it holds after the run, for every tag in `written`
    reason: str  # why these versions are yanked (or why none is), in one sentence
    dry_run: bool = False
    previous: str | None = None  # digest the tag held before the run (None: no such tag)
    previous_version: str | None = None  # the version that digest is, when known
    after: str | None = None  # digest the tag holds after the run (dry run: would hold)
    after_version: str | None = None  # the version that is (a newer release may have won)
    restored: list[str] = []  # yanked versions this run put back (dry run: would put back)
    # versions released while this rollback ran: passed over and yanked like the others
    released_meanwhile: list[str] = []
    already_current: bool = False  # the tag already held this release: nothing to move
    pin: PinReport | None = None  # `--pin DIR`: the manifests pinned to `pinned` after


class LatestStatus(BaseModel):
    """Where the floating tag points."""

    model_config = ConfigDict(frozen=True)

    tag: str
    digest: str | None  # None: the tag does not exist
    version: str | None  # None: the digest is no released version's index


class VersionStatus(BaseModel):
    """One released version of a flavor, as the registry holds it."""

    model_config = ConfigDict(frozen=True)

    version: str
    digest: str  # what the version tag holds: the index a Deployment pins
    revision: str | None  # the commit: index annotation, else the image's revision label
    created: str | None  # the image's org.opencontainers.image.created label
    prerelease: bool
    yanked: bool  # a rollback passed over it: `merge` never moves latest to it again
    live: bool  # stable and not yanked: what latest may carry
    # the version whose yank event yanks it: itself, or one holding the same index
    yanked_by: str | None = None
    deployed: bool = False  # `status --manifests`: a reference there pins its index


class DeployedRef(BaseModel):
    """`status --manifests`: one reference of the flavor in the deployment manifests."""

    model_config = ConfigDict(frozen=True)

    path: str
    line: int
    reference: str  # as the file has it
    digest: str | None  # None: a tag, not pinned to any release
    version: str | None  # the release the digest is (None: unpinned, or no release)
    yanked: bool = False  # that version is yanked: the manifests deploy a bad release


class StatusReport(BaseModel):
    """What is live and what a rollback could go back to; read-only."""

    model_config = ConfigDict(frozen=True)

    image: str
    flavor: str
    latest: LatestStatus
    versions: list[VersionStatus]  # newest first (SemVer precedence), at most `limit`
    rollback_candidates: list[str]  # live versions older than latest's, newest first
    deployed: list[DeployedRef] | None = None  # `--manifests` only: what they pin


class PinSite(BaseModel):
    """One reference to the image in the manifests."""

    model_config = ConfigDict(frozen=True)

    path: str  # relative to the manifests directory, '/'-separated
    line: int
    kind: str  # container, kustomize (an images: entry) or helm (values keys)
    old: str  # the reference as the file has it
    new: str  # the pinned reference (left alone: the same as old)


class PinReport(BaseModel):
    """What `pin` changed (dry run: would change; check: what is not pinned)."""

    model_config = ConfigDict(frozen=True)

    image: str
    flavor: str
    version: str | None  # the release pinned, when the digest is one
    digest: str
    pinned: str  # image@digest: what every reference of the flavor now names
    forced: str | None = None  # why only --force let this digest be pinned
    changes: list[PinSite] = []  # references edited (check: not pinned to the release)
    unchanged: list[PinSite] = []  # references already pinned to it
    skipped: list[PinSite] = []  # references of the image left alone: another flavor
    unseen: list[str] = []  # bases the kustomization pinned through builds, not read
    written: list[str] = []  # files written (dry run and check: none)
    dry_run: bool = False
    check: bool = False
    diff: str = ""  # the unified diff (dry run only)


PromoteReport.model_rebuild()  # its `pin` field names PinReport, defined after it
