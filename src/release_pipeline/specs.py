"""A whole release or rollback request, validated before anything touches the network."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import InvalidInput
from .inputs import (
    DEFAULT_FLAVOR,
    DEFAULT_PLATFORMS,
    ImageRef,
    Platform,
    parse_digest,
    parse_flavor,
    parse_image,
    parse_limit,
    parse_platforms,
    parse_sha,
    parse_tag,
)
from .tags import ReleaseTags, TagScheme
from .versions import Version


@dataclass(frozen=True)
class ReleaseSpec:
    image: ImageRef
    version: Version
    sha: str
    flavor: str
    platforms: tuple[Platform, ...]

    @property
    def scheme(self) -> TagScheme:
        return TagScheme(self.flavor)

    @property
    def tags(self) -> ReleaseTags:
        return self.scheme.release_tags(self.version, self.sha, self.platforms)


def release_spec(
    image: str,
    version: str,
    sha: str,
    flavor: str = DEFAULT_FLAVOR,
    platforms: Sequence[str] = DEFAULT_PLATFORMS,
) -> ReleaseSpec:
    """Validate every field; raises `InvalidInput` naming the first field that breaks a rule."""
    spec = ReleaseSpec(
        image=parse_image(image),
        version=Version.parse(version),
        sha=parse_sha(sha),
        flavor=parse_flavor(flavor),
        platforms=parse_platforms(tuple(platforms)),
    )
    spec.tags  # noqa: B018 - builds and checks every tag the release would write
    return spec


@dataclass(frozen=True)
class PromoteSpec:
    image: ImageRef
    source: str  # a tag, or sha256:DIGEST
    target: str
    flavor: str

    @property
    def scheme(self) -> TagScheme:
        return TagScheme(self.flavor)


def promote_spec(
    image: str, source: str, target: str | None = None, flavor: str = DEFAULT_FLAVOR
) -> PromoteSpec:
    flavor = parse_flavor(flavor)
    scheme = TagScheme(flavor)
    ref = parse_image(image)
    if source.startswith("sha256:"):
        source = parse_digest(source, "from")
    else:
        source = parse_tag(source, "from")
    target = scheme.latest if target is None else parse_tag(target, "to")
    if target != scheme.latest and scheme.is_immutable(target):
        raise InvalidInput(
            "to",
            "must be a floating tag: version, SHA, per-arch and yank-marker tags are immutable",
        )
    if target == scheme.latest and scheme.is_per_arch(source):
        raise InvalidInput(
            "from",
            f"names a per-arch tag; {target} must name a multi-arch release (a version or SHA "
            "tag without the arch)",
        )
    return PromoteSpec(ref, source, target, flavor)


@dataclass(frozen=True)
class StatusSpec:
    image: ImageRef
    flavor: str
    limit: int  # versions shown, newest first

    @property
    def scheme(self) -> TagScheme:
        return TagScheme(self.flavor)


def status_spec(image: str, flavor: str = DEFAULT_FLAVOR, limit: str = "20") -> StatusSpec:
    """Validate what `status` reads; the limit comes as text from the CLI and Dagger alike."""
    return StatusSpec(parse_image(image), parse_flavor(flavor), parse_limit(limit))
