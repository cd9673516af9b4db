"""What may go under a floating tag: the one rule `status`, `promote`, `merge` and dry runs read.

Pure: no I/O. `holdings.py` reads what the rule needs (a tag list, and digests only where a
yank makes them matter) and hands it here.

The rule, for one flavor F of a repository that may also hold other flavors and other images:
- A *release* of F is a version whose multi-arch version tag `N-F` is listed, whatever it
  holds: this pipeline's index, or what earlier tooling left there (a single-platform image,
  a Docker manifest list, a buildx/imagetools index). Nothing else (another flavor's tags,
  `docs`, per-arch tags, event tags) is ever one of F's releases.
- *Yanked*: a version whose newest yank event is newer than its newest restore event (event
  tags, `tags.TagScheme.event_of`: known from the tag list alone), and any version whose index
  digest is one a yanked version holds: images are per commit, so releasing a yanked commit
  again under a new version brings back the same index, and it stays off the floating tag.
- *Live*: stable and not yanked. `latest-F` carries the newest live version, and `merge`
  and `promote` both end by converging on it.
- `promote --from` (for `latest-F`) accepts every stable release of F, live or yanked: a
  yanked one is put back (a restore event for each yanked version holding its index).
- The *rollback candidates* `status` lists are, of those, the live ones older than the
  version `latest-F` holds whose index is not the one it holds: the same set, filtered.
- The version `latest-F` holds: of the versions whose index is its digest, the newest
  stable one (an rc and its final release from one commit share the index).

`Ledger` is the yank/restore bookkeeping alone, keyed by a flavor's versions or by a
channel's commits (`tags.ChannelScheme`): both yank and restore by the same generations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Generic, Protocol

from release_pipeline.rules.tags import Event, Key
from release_pipeline.rules.versions import Version


class EventScheme(Protocol[Key]):
    """How a ledger's releases and events are tagged: `tags.TagScheme` (keyed by version) or
    `tags.ChannelScheme` (keyed by commit)."""

    def release_of(self, tag: str) -> Key | None: ...
    def release_tag(self, release: Key) -> str: ...
    def event_of(self, tag: str) -> Event[Key] | None: ...
    def yank_marker(self, release: Key, generation: int = 1) -> str: ...
    def restore_marker(self, release: Key, generation: int) -> str: ...


@dataclass(frozen=True)
class Ledger(Generic[Key]):
    """What a tag list alone says about one flavor (or channel): its releases and their
    yank/restore events. `versions` are the releases, whichever their key."""

    scheme: EventScheme[Key]
    versions: frozenset[Key]
    yanks: Mapping[Key, int] = field(default_factory=dict)  # newest yank generation
    restores: Mapping[Key, int] = field(default_factory=dict)  # newest restore generation

    @classmethod
    def read(cls, scheme: EventScheme[Key], tags: Iterable[str]) -> Ledger[Key]:
        versions: set[Key] = set()
        newest: dict[str, dict[Key, int]] = {"yanked": {}, "restored": {}}
        for tag in tags:
            if (event := scheme.event_of(tag)) is not None:
                seen = newest[event.kind]
                seen[event.release] = max(seen.get(event.release, 0), event.generation)
            elif (version := scheme.release_of(tag)) is not None:
                versions.add(version)
        return cls(scheme, frozenset(versions), newest["yanked"], newest["restored"])

    def with_tags(self, tags: Iterable[str]) -> Ledger[Key]:
        """This ledger after writing `tags` (event or release tags of its scheme)."""
        return Ledger.read(self.scheme, [*self.tags(), *tags])

    def tags(self) -> list[str]:
        """Tags that read back as this ledger (the newest event of each kind suffices)."""
        scheme = self.scheme
        return (
            [scheme.release_tag(v) for v in self.versions]
            + [scheme.yank_marker(v, g) for v, g in self.yanks.items()]
            + [scheme.restore_marker(v, g) for v, g in self.restores.items()]
        )

    def marked(self, version: Key) -> bool:
        """Whether the release's own events say yanked."""
        return self.yanks.get(version, 0) > self.restores.get(version, 0)

    def marked_versions(self) -> list[Key]:
        return sorted(v for v in self.versions if self.marked(v))

    def yank_tag(self, version: Key) -> str:
        """The event tag that yanks `version` (not yanked now): the next generation."""
        return self.scheme.yank_marker(version, self.restores.get(version, 0) + 1)

    def restore_tag(self, version: Key) -> str:
        """The event tag that puts back `version` (yanked now): its newest yank's generation."""
        return self.scheme.restore_marker(version, self.yanks[version])


@dataclass(frozen=True)
class Releases:
    """A ledger plus the index digests read for it: every question of the rule, answered.

    Digests matter only once something is yanked; `holdings` reads the digest of every
    yanked version then, and of the versions a question is about (`unsettled`)."""

    ledger: Ledger[Version]
    digests: Mapping[Version, str] = field(default_factory=dict)

    @cached_property
    def versions(self) -> list[Version]:
        """Newest first (SemVer precedence)."""
        return sorted(self.ledger.versions, reverse=True)

    @cached_property
    def yanked_digests(self) -> frozenset[str]:
        return frozenset(
            d for v in self.ledger.marked_versions() if (d := self.digests.get(v)) is not None
        )

    def with_digests(self, digests: Mapping[Version, str]) -> Releases:
        return Releases(self.ledger, {**self.digests, **digests})

    def with_tags(self, tags: Iterable[str]) -> Releases:
        return Releases(self.ledger.with_tags(tags), self.digests)

    def yanked(self, version: Version) -> bool:
        return self.yanked_by(version) is not None

    def yanked_by(self, version: Version) -> Version | None:
        """The version whose own yank event yanks `version`: itself, else the newest yanked
        version holding its index (the same images released again); None: not yanked."""
        if self.ledger.marked(version):
            return version
        digest = self.digests.get(version)
        sharing = self.yanked_as(digest) if digest is not None else []
        return sharing[-1] if sharing else None

    def live(self, version: Version) -> bool:
        """Stable and not yanked: what the floating tag may carry."""
        return version in self.ledger.versions and version.stable and not self.yanked(version)

    def yanked_as(self, digest: str) -> list[Version]:
        """The yanked versions whose index is `digest`, oldest first."""
        return [v for v in self.ledger.marked_versions() if self.digests.get(v) == digest]

    def unsettled(self, versions: Iterable[Version] | None = None) -> list[Version]:
        """Of `versions` (default: all), those whose liveness waits on their digest: stable,
        not marked, digest unknown, while some yanked digest exists."""
        if not self.yanked_digests:
            return []
        chosen = self.versions if versions is None else versions
        return [
            v for v in chosen if v.stable and not self.ledger.marked(v) and v not in self.digests
        ]

    def next_unsettled(self) -> Version | None:
        """The newest version whose digest must be read before `newest_live` is decided."""
        for version in self.versions:
            if not version.stable or self.ledger.marked(version):
                continue
            if not self.yanked_digests or version in self.digests:
                if not self.yanked(version):
                    return None  # the newest live one is decided
                continue
            return version
        return None

    def newest_live(self) -> Version | None:
        """The version the floating tag must carry (a version of unknown digest counts as
        live: callers settle `next_unsettled` first)."""
        return next((v for v in self.versions if self.live(v)), None)

    def holding(self, digest: str | None) -> Version | None:
        """The version a floating tag holding `digest` names: the newest stable one of those
        whose index it is, else the newest of them."""
        sharing = [v for v in self.versions if digest is not None and self.digests.get(v) == digest]
        return next((v for v in sharing if v.stable), sharing[0] if sharing else None)

    def promotable(self, version: Version) -> bool:
        """Whether `promote --from` takes `version` for the floating tag: any stable release
        of this flavor, live (a rollback or roll-forward) or yanked (a restore)."""
        return version in self.ledger.versions and version.stable

    def candidates(self, held: str | None) -> list[Version]:
        """Where a rollback can go (newest first): promotable, live, older than the version
        the floating tag holds, and not its index. Needs the digests of those versions."""
        current = self.holding(held)
        return [
            v
            for v in self.versions
            if self.promotable(v)
            and self.live(v)
            and (current is None or v < current)
            and (held is None or self.digests.get(v) != held)
        ]

    def passed_over(self, target: Version, digest: str) -> list[Version]:
        """The live versions a move of the floating tag to `target` (index `digest`) goes
        below, oldest first: each gets a yank event. A newer version with the same index is
        the same images, not passed over."""
        return sorted(
            v
            for v in self.ledger.versions
            if v > target and self.live(v) and self.digests.get(v) != digest
        )
