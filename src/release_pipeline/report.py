"""What a release or rollback did, and what `status` read: typed values and JSON."""

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
    tags: dict[str, str]  # every tag pointing at this release's content after the run
    written: list[str]  # tags PUT by this run (plan: tags it would PUT)
    unchanged: list[str]  # tags that already held the right digest
    replaced: dict[str, str]  # tag -> digest it held before --force overwrote it
    latest_moved: bool
    latest_reason: str
    dry_run: bool
    # per-arch SHA tags whose image has no org.opencontainers.image.revision label: merged
    # (other build tools make such images), but nothing showed they are of this commit
    revision_unverified: list[str] = []

    def table(self) -> str:
        verb = "would write" if self.dry_run else "written"
        rows = [
            (tag, digest, verb if tag in self.written else "unchanged")
            for tag, digest in sorted(self.tags.items())
        ]
        rows += [
            (tag, "", f"{verb} (points at a newer release)")
            for tag in self.written
            if tag not in self.tags
        ]
        return _table(
            f"{self.image} {self.version} ({self.flavor or 'production'}, {self.sha[:8]})",
            rows,
            [f"pinned: {self.pinned}", f"latest: {self.latest_reason}"]
            + (
                [
                    "revision not verified (no org.opencontainers.image.revision label): "
                    + ", ".join(self.revision_unverified)
                ]
                if self.revision_unverified
                else []
            ),
        )


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

    def table(self) -> str:
        verb = "would write" if self.dry_run else "written"
        rows = [(tag, self.tags[tag], verb) for tag in self.written]
        notes = [f"pinned: {self.pinned}"]
        if self.yanked:
            notes.append("yanked: " + ", ".join(self.yanked))
        notes.append(f"why: {self.reason}")
        return _table(f"{self.image}:{self.tag} <- {self.source}", rows, notes)


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


class StatusReport(BaseModel):
    """What is live and what a rollback could go back to; read-only."""

    model_config = ConfigDict(frozen=True)

    image: str
    flavor: str
    latest: LatestStatus
    versions: list[VersionStatus]  # newest first (SemVer precedence), at most `limit`
    rollback_candidates: list[str]  # live versions older than latest's, newest first

    def table(self) -> str:
        """One line per version for a person in an incident; `->` marks latest's version."""
        latest = self.latest
        where = "does not exist" if latest.digest is None else f"-> {latest.version or '?'}"
        lines = [f"{self.image} ({self.flavor or 'production'}): {latest.tag} {where}"]
        if latest.digest is not None:
            lines.append(f"  {latest.tag} = {self.image}@{latest.digest}")
            if latest.version is None:
                lines.append("  (that digest is no released version's index)")
        width = max([len(v.version) for v in self.versions] + [7])
        lines.append(
            f"     {'VERSION':<{width}}  {'DIGEST':<71}  {'REVISION':<8}  {'CREATED':<20}  STATE"
        )
        for v in self.versions:
            mark = "->" if v.version == latest.version else "  "
            state = [s for s, on in (("prerelease", v.prerelease), ("yanked", v.yanked)) if on]
            lines.append(
                f"  {mark} {v.version:<{width}}  {v.digest:<71}  {(v.revision or '-')[:8]:<8}  "
                f"{v.created or '-':<20}  {', '.join(state) or 'live'}"
            )
        candidates = ", ".join(self.rollback_candidates) or "none"
        lines.append(f"rollback candidates (newest first): {candidates}")
        return "\n".join(lines)


def _table(title: str, rows: list[tuple[str, str, str]], notes: list[str]) -> str:
    width = max([len(r[0]) for r in rows] + [3])
    lines = [title, f"  {'TAG':<{width}}  {'DIGEST':<71}  STATE"]
    lines += [f"  {tag:<{width}}  {digest:<71}  {state}" for tag, digest, state in rows]
    return "\n".join(lines + notes)
