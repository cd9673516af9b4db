"""The tag scheme, in one place: which tags a release writes, and how to read them back.

For flavor F (empty F is the production image, and drops the `-F` parts):

    per arch     N-F-ARCH   vN-F-ARCH   F-sha-S-ARCH
    multi-arch   N-F        vN-F        F-sha-S
    floating     latest-F
    yank marker  N-F-yanked   (written by a rollback; keeps `latest-F` off version N)

Flavors have no '-' and are never an arch name or a reserved word, and a production
prerelease may not end in `-WORD` (a word that could be a flavor or arch), so each tag has
exactly one reading: no input can make a tag of another kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .errors import InvalidInput
from .inputs import TAG, Platform, is_arch_token, looks_like_flavor
from .versions import Version

YANK_SUFFIX = "yanked"


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

    def yank_marker(self, version: Version) -> str:
        return self._join(str(version), self.flavor, YANK_SUFFIX)

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
            or tag.rsplit("-", 1)[-1] == YANK_SUFFIX
            or self.is_per_arch(tag)
        )

    def catalog(self, tags: Iterable[str]) -> Catalog:
        """What a repository's tag list says about this flavor's releases."""
        catalog = Catalog()
        marker_suffix = f"{self._suffix}-{YANK_SUFFIX}"
        for tag in tags:
            if tag.startswith("v"):
                continue  # every release has the unprefixed twin, so read that one
            if (yanked := self._strip_suffix(tag, marker_suffix)) is not None:
                catalog.yanked.add(yanked)
            elif (version := self.version_of(tag)) is not None:
                catalog.versions.add(version)
        return catalog

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


@dataclass
class Catalog:
    versions: set[Version] = field(default_factory=set)
    yanked: set[Version] = field(default_factory=set)

    def is_live(self, version: Version) -> bool:
        """Whether `latest` may carry this version: stable and not yanked by a rollback."""
        return version.stable and version not in self.yanked

    def live(self) -> list[Version]:
        return sorted(v for v in self.versions if self.is_live(v))

    def newest_stable(self) -> Version | None:
        """The version `latest` should carry: the newest live one."""
        return max(self.live(), default=None)


@dataclass(frozen=True)
class ReleaseTags:
    sha_arch: dict[Platform, str]
    version_arch: dict[Platform, tuple[str, str]]
    index: tuple[str, str, str]  # F-sha-S, N-F, vN-F
    latest: str

    def all(self) -> list[str]:
        per_arch = [t for p in self.sha_arch for t in (self.sha_arch[p], *self.version_arch[p])]
        return [*per_arch, *self.index, self.latest]
