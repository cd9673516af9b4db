"""The tag scheme, in one place: which tags a release writes, and how to read them back.

For flavor F (empty F is the production image, and drops the `-F` parts):

    per arch     N-F-ARCH   vN-F-ARCH   F-sha-S-ARCH
    multi-arch   N-F        vN-F        F-sha-S
    floating     latest-F   (and any WORD-F a person moves with `promote --to`)
    events       N-F-yanked, N-F-G_yanked, N-F-G_restored   (G = 1, 2, ...: the generation)

A channel C of flavor F (a floating tag that follows a branch, `ChannelScheme`) writes the
same per-arch SHA tags and SHA index, plus:

    channel      C-F   C-F-ARCH      (C when F is empty or F itself: `docs` of flavor docs)
    releases     C-F_SHA             (SHA: the full commit, 40 hex)
    events       C-F_SHA-yanked, C-F_SHA-G_yanked, C-F_SHA-G_restored

Flavors have no '-' and are never an arch name or a reserved word, and a production
prerelease may not end in `-WORD` (a word that could be a flavor or arch), so each tag has
exactly one reading: no input can make a tag of another kind. Event tags are write-once
too: a rollback that passes over N writes the next yank, `promote --from N` the matching
restore, and N is yanked while its newest yank is newer than its newest restore
(`releases.Ledger`). `G_word` can be neither a flavor (which starts with a letter) nor a
SemVer prerelease (which has no '_'), so an event tag never reads as a version tag. The
same '_' keeps a channel's release tags apart from every version, SHA and event tag: 40 hex
digits after a '_' fit in no flavor (at most 32 characters).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from release_pipeline.errors import InvalidInput
from release_pipeline.rules.inputs import (
    RESERVED_FLAVORS,
    TAG,
    Platform,
    is_arch_token,
    looks_like_flavor,
)
from release_pipeline.rules.versions import Version

YANK_SUFFIX = "yanked"
RESTORE_SUFFIX = "restored"
_EVENT = re.compile(r"(?:(?P<gen>[1-9][0-9]{0,5})_)?(?P<kind>yanked|restored)")
_SHA8 = re.compile(r"[0-9a-fA-F]{8}")
_CHANNEL_RELEASE = re.compile(r"(?P<channel>.+)_(?P<sha>[0-9a-f]{40})")
_CHANNEL_WORD = re.compile(r"[a-z][a-z0-9]{0,31}")
EventKind = Literal["yanked", "restored"]
TagKind = Literal["version", "sha", "per-arch", "event", "floating", "channel", "other"]
IMMUTABLE_KINDS = frozenset({"version", "sha", "per-arch", "event", "channel"})
# What a ledger is keyed by: a flavor's versions, or a channel's commits.
Key = TypeVar("Key", Version, str)


@dataclass(frozen=True)
class Event(Generic[Key]):
    """One yank or restore of a release (a version, or a channel's commit), as its event tag
    names it."""

    release: Key
    kind: EventKind
    generation: int


@dataclass(frozen=True)
class TagReading:
    """What a tag is, whichever flavor wrote it: the one reading the scheme allows."""

    kind: TagKind
    flavor: str | None  # None: no flavor's scheme writes this tag


def _event(last: str) -> tuple[EventKind, int] | None:
    match = _EVENT.fullmatch(last)
    if match is None or (match["kind"] == RESTORE_SUFFIX and match["gen"] is None):
        return None
    kind: EventKind = "yanked" if match["kind"] == YANK_SUFFIX else "restored"
    return kind, int(match["gen"] or 1)


def version_flavor(tag: str) -> str | None:
    """The flavor whose multi-arch version tag (`N-F`, `vN-F`) `tag` is, or None."""
    if TagScheme("").version_of(tag) is not None:
        return ""
    _, _, last = tag.rpartition("-")
    if not _is_flavor_word(last):
        return None
    return last if TagScheme(last).version_of(tag) is not None else None


def _is_flavor_word(word: str) -> bool:
    return looks_like_flavor(word) and word not in RESERVED_FLAVORS and not is_arch_token(word)


def _sha_flavor(tag: str) -> str | None:
    head, sep, short = tag.rpartition("sha-")
    if not sep or _SHA8.fullmatch(short) is None:
        return None
    if head == "":
        return ""
    flavor = head[:-1]
    return flavor if head.endswith("-") and _is_flavor_word(flavor) else None


def read_tag(tag: str) -> TagReading:
    """Classify any tag of a repository that several flavors (and other images) share."""
    if (channel := _channel_release(tag)) is not None:
        return TagReading("channel", channel)
    rest, _, last = tag.rpartition("-")
    event = rest and _event(last) is not None and not rest.startswith("v")
    if event and (flavor := version_flavor(rest)) is not None:
        return TagReading("event", flavor)
    if rest and is_arch_token(last):
        flavor = version_flavor(rest)
        flavor = _sha_flavor(rest) if flavor is None else flavor
        if flavor is not None:
            return TagReading("per-arch", flavor)
    if (flavor := _sha_flavor(tag)) is not None:
        return TagReading("sha", flavor)
    if (flavor := version_flavor(tag)) is not None:
        return TagReading("version", flavor)
    if tag == "latest":
        return TagReading("floating", "")
    if tag.startswith("latest-") and _is_flavor_word(tag[len("latest-") :]):
        return TagReading("floating", tag[len("latest-") :])
    return TagReading("other", None)


def _channel_release(tag: str) -> str | None:
    """The flavor of the channel whose release or event tag `tag` is ('' when the channel
    tag names no flavor), or None."""
    rest, _, last = tag.rpartition("-")
    body = rest if rest and _event(last) is not None else tag
    match = _CHANNEL_RELEASE.fullmatch(body)
    if match is None:
        return None
    _, _, flavor = match["channel"].rpartition("-")
    return flavor if "-" in match["channel"] else ""


def is_immutable_anywhere(tag: str) -> bool:
    """Whether any flavor's scheme writes `tag` once (version, SHA, per-arch, event)."""
    return read_tag(tag).kind in IMMUTABLE_KINDS


@dataclass(frozen=True)
class TagScheme:
    """Tag names for one flavor."""

    flavor: str

    def _join(self, *parts: str) -> str:
        return "-".join(p for p in parts if p)

    def check_version(self, version: Version, field: str = "version") -> None:
        """Refuse a version whose tags could be read as another kind of tag."""
        last = str(version).rsplit("-", 1)[-1]
        if (
            not self.flavor
            and not version.stable
            and (looks_like_flavor(last) or is_arch_token(last))
        ):
            raise InvalidInput(
                field,
                f"a production prerelease must not end in '-{last}': its tag would read as "
                f"another image's tag (use e.g. -{last}.1)",
            )

    def version_tags(self, version: Version) -> tuple[str, str]:
        return self._join(str(version), self.flavor), self._join(f"v{version}", self.flavor)

    def version_arch_tags(self, version: Version, platform: Platform) -> tuple[str, str]:
        plain, prefixed = self.version_tags(version)
        return self._join(plain, platform.token), self._join(prefixed, platform.token)

    def sha_tag(self, sha: str) -> str:
        return self._join(self.flavor, "sha", sha[:8])

    def sha_arch_tag(self, sha: str, platform: Platform) -> str:
        return self._join(self.sha_tag(sha), platform.token)

    @property
    def latest(self) -> str:
        return self._join("latest", self.flavor)

    def yank_marker(self, version: Version, generation: int = 1) -> str:
        word = YANK_SUFFIX if generation == 1 else f"{generation}_{YANK_SUFFIX}"
        return self._join(str(version), self.flavor, word)

    def restore_marker(self, version: Version, generation: int) -> str:
        return self._join(str(version), self.flavor, f"{generation}_{RESTORE_SUFFIX}")

    def event_of(self, tag: str) -> Event[Version] | None:
        """The yank or restore of this flavor's version that an event tag records, else None."""
        rest, _, last = tag.rpartition("-")
        event = _event(last)
        if event is None or rest.startswith("v"):
            return None
        version = self._strip_suffix(rest, self._suffix)
        return None if version is None else Event(version, *event)

    # The ledger's view (`releases.EventScheme`): a release is a version, named by `N-F`.

    def release_of(self, tag: str) -> Version | None:
        """The version `N-F` names; `vN-F` is skipped (every release has the unprefixed twin)."""
        return None if tag.startswith("v") else self.version_of(tag)

    def release_tag(self, version: Version) -> str:
        return self.version_tags(version)[0]

    def version_of(self, tag: str) -> Version | None:
        """The version a multi-arch version tag (`N-F`, `vN-F`) names, else None."""
        body = tag[1:] if tag.startswith("v") else tag
        return self._strip_suffix(body, self._suffix)

    def is_per_arch(self, tag: str) -> bool:
        """Whether `tag` names one platform's image (`N-F-ARCH`, `vN-F-ARCH`, `F-sha-S-ARCH`),
        whichever shape it holds: a buildx index for one platform is no multi-arch release."""
        rest, _, last = tag.rpartition("-")
        return is_arch_token(last) and (
            self.version_of(rest) is not None
            or (rest.startswith(self._sha_prefix) and len(rest) == len(self._sha_prefix) + 8)
        )

    def is_immutable(self, tag: str) -> bool:
        """Whether `tag` is one a release or rollback writes once (anything but floating)."""
        return (
            self.version_of(tag) is not None
            or tag.startswith(self._sha_prefix)
            or _event(tag.rsplit("-", 1)[-1]) is not None
            or self.is_per_arch(tag)
        )

    @property
    def _sha_prefix(self) -> str:
        return self._join(self.flavor, "sha") + "-"

    @property
    def _suffix(self) -> str:
        return f"-{self.flavor}" if self.flavor else ""

    def _strip_suffix(self, tag: str, suffix: str) -> Version | None:
        if not tag.endswith(suffix):
            return None
        version = Version.from_tag_part(tag[: len(tag) - len(suffix)])
        if version is None:
            return None
        try:
            self.check_version(version)
        except InvalidInput:
            return None  # e.g. production `1.2.3-amd64` is a per-arch tag, not a version
        return version

    def release_tags(
        self, version: Version, sha: str, platforms: Iterable[Platform]
    ) -> ReleaseTags:
        """Every immutable tag one release writes, after checking each is a valid tag."""
        self.check_version(version)
        platforms = tuple(platforms)
        tags = ReleaseTags(
            sha_arch={p: self.sha_arch_tag(sha, p) for p in platforms},
            version_arch={p: self.version_arch_tags(version, p) for p in platforms},
            index=(self.sha_tag(sha), *self.version_tags(version)),
            latest=self.latest,
        )
        for tag in tags.all():
            if TAG.fullmatch(tag) is None:
                raise InvalidInput(
                    "version",
                    f"makes the tag '{tag[:40]}...' longer than 128 "
                    "characters or otherwise invalid",
                )
        return tags


@dataclass(frozen=True)
class ReleaseTags:
    sha_arch: dict[Platform, str]
    version_arch: dict[Platform, tuple[str, ...]]  # a channel release writes none
    index: tuple[str, ...]  # F-sha-S, then N-F, vN-F (a channel release: F-sha-S only)
    latest: str  # the floating tag: latest-F, or the channel tag

    def all(self) -> list[str]:
        per_arch = [t for p in self.sha_arch for t in (self.sha_arch[p], *self.version_arch[p])]
        return [*per_arch, *self.index, self.latest]


@dataclass(frozen=True)
class ChannelScheme:
    """The tags of channel `channel` of flavor `flavor`: a floating tag that follows a branch.

    Its ledger (`releases.Ledger[str]`) is keyed by full commit SHAs: `C-F_SHA` is written
    once, holding the commit's index, by each release that moves the channel, before the
    channel tag; yank and restore events follow the version scheme's generations."""

    flavor: str
    channel: str

    def check(self, field: str = "channel") -> None:
        """Refuse a channel whose tags could be read as another kind of tag."""
        if _CHANNEL_WORD.fullmatch(self.channel) is None:
            raise InvalidInput(
                field, "must be a lower-case word [a-z][a-z0-9]*, at most 32 characters"
            )
        if self.channel in {*RESERVED_FLAVORS, RESTORE_SUFFIX} or is_arch_token(self.channel):
            raise InvalidInput(
                field,
                "must not be a word the tag scheme uses (latest, sha, yanked, restored, or "
                "an architecture name)",
            )
        if read_tag(self.tag).kind != "other":
            raise InvalidInput(field, f"makes the tag {self.tag}, which reads as another kind")

    @property
    def tag(self) -> str:
        """`C-F`; `C` alone when the flavor is empty or the channel is the flavor's name."""
        bare = self.flavor in ("", self.channel)
        return self.channel if bare else f"{self.channel}-{self.flavor}"

    def arch_tag(self, platform: Platform) -> str:
        return f"{self.tag}-{platform.token}"

    def floating_tags(self, platforms: Iterable[Platform]) -> list[str]:
        """Every tag that moves with the channel, in write order: per-arch, then the channel."""
        return [*(self.arch_tag(p) for p in platforms), self.tag]

    def release_tags(self, sha: str, platforms: Iterable[Platform]) -> ReleaseTags:
        """The immutable tags of a channel release: the flavor's SHA tags, no version tags."""
        self.check()
        scheme, platforms = TagScheme(self.flavor), tuple(platforms)
        return ReleaseTags(
            sha_arch={p: scheme.sha_arch_tag(sha, p) for p in platforms},
            version_arch={p: () for p in platforms},
            index=(scheme.sha_tag(sha),),
            latest=self.tag,
        )

    def release_of(self, tag: str) -> str | None:
        match = _CHANNEL_RELEASE.fullmatch(tag)
        return match["sha"] if match is not None and match["channel"] == self.tag else None

    def release_tag(self, sha: str) -> str:
        return f"{self.tag}_{sha}"

    def event_of(self, tag: str) -> Event[str] | None:
        rest, _, last = tag.rpartition("-")
        event = _event(last)
        sha = self.release_of(rest) if event is not None else None
        return None if sha is None or event is None else Event(sha, *event)

    def yank_marker(self, sha: str, generation: int = 1) -> str:
        word = YANK_SUFFIX if generation == 1 else f"{generation}_{YANK_SUFFIX}"
        return f"{self.release_tag(sha)}-{word}"

    def restore_marker(self, sha: str, generation: int) -> str:
        return f"{self.release_tag(sha)}-{generation}_{RESTORE_SUFFIX}"
