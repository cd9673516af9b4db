"""What a release or rollback did, as typed values other pipelines can chain and as JSON."""

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
    yanked: list[str]  # versions marked yanked by this run, so `merge` never re-promotes them
    written: list[str]
    dry_run: bool = False

    def table(self) -> str:
        rows = [(tag, self.digest if tag == self.tag else "", "written") for tag in self.written]
        notes = [f"pinned: {self.pinned}"]
        if self.yanked:
            notes.append("yanked: " + ", ".join(self.yanked))
        return _table(f"{self.image}:{self.tag} <- {self.source}", rows, notes)


def _table(title: str, rows: list[tuple[str, str, str]], notes: list[str]) -> str:
    width = max([len(r[0]) for r in rows] + [3])
    lines = [title, f"  {'TAG':<{width}}  {'DIGEST':<71}  STATE"]
    lines += [f"  {tag:<{width}}  {digest:<71}  {state}" for tag, digest, state in rows]
    return "\n".join(lines + notes)
