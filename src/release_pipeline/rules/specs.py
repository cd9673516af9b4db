"""A whole release or rollback request, validated before anything touches the network."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from release_pipeline.errors import InvalidInput
from release_pipeline.rules.inputs import (
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
from release_pipeline.rules.tags import (
    ChannelScheme,
    ReleaseTags,
    TagScheme,
    is_immutable_anywhere,
    read_tag,
)
from release_pipeline.rules.versions import Version

_COMMIT_PREFIX = re.compile(r"[0-9a-f]{7,40}")


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
class ChannelSpec:
    """A channel release: commit `sha` for channel `channel` of `flavor` (`docs`, `edge`)."""

    image: ImageRef
    channel: str
    sha: str
    flavor: str
    platforms: tuple[Platform, ...]

    @property
    def scheme(self) -> ChannelScheme:
        return ChannelScheme(self.flavor, self.channel)

    @property
    def tags(self) -> ReleaseTags:
        return self.scheme.release_tags(self.sha, self.platforms)


def channel_spec(
    image: str,
    channel: str,
    sha: str,
    flavor: str = DEFAULT_FLAVOR,
    platforms: Sequence[str] = DEFAULT_PLATFORMS,
) -> ChannelSpec:
    """Validate every field of a channel release, as `release_spec` does a version's."""
    spec = ChannelSpec(
        image=parse_image(image),
        channel=channel,
        sha=parse_sha(sha),
        flavor=parse_flavor(flavor),
        platforms=parse_platforms(tuple(platforms)),
    )
    spec.tags  # noqa: B018 - checks the channel and builds every tag the release writes
    return spec


@dataclass(frozen=True)
class ChannelPromoteSpec:
    """A rollback (or roll-forward) of a channel to one of its releases: `source` is that
    commit, or a prefix of it (at least 7 hex digits) that names one release only."""

    image: ImageRef
    channel: str
    source: str
    flavor: str

    @property
    def scheme(self) -> ChannelScheme:
        return ChannelScheme(self.flavor, self.channel)


def channel_promote_spec(
    image: str, channel: str, source: str, flavor: str = DEFAULT_FLAVOR
) -> ChannelPromoteSpec:
    spec = ChannelPromoteSpec(parse_image(image), channel, source.lower(), parse_flavor(flavor))
    spec.scheme.check()
    if _COMMIT_PREFIX.fullmatch(spec.source) is None:
        raise InvalidInput(
            "from", "must name a commit of the channel: 7 to 40 hex digits of its SHA"
        )
    return spec


@dataclass(frozen=True)
class PromoteSpec:
    """A promote request. `source` is what `--from` names for the registry: this flavor's
    version tag (a bare version is turned into it), another tag of this flavor, or a digest;
    `version` is set when `--from` names a version."""

    image: ImageRef
    source: str
    target: str
    flavor: str
    version: Version | None = None

    @property
    def scheme(self) -> TagScheme:
        return TagScheme(self.flavor)


def flavor_hint(flavor: str) -> str:
    """How a person names a flavor on the command line, e.g. `--flavor ''`."""
    return f"--flavor {flavor or repr('')}"


def flavor_name(flavor: str) -> str:
    return f"flavor {flavor}" if flavor else "the production flavor ('')"


def promote_spec(
    image: str, source: str, target: str | None = None, flavor: str = DEFAULT_FLAVOR
) -> PromoteSpec:
    """Validate a promote; every rule that reads only the text is checked here, before any
    request: `--from` must name this flavor's release, `--to` one of its floating tags."""
    flavor = parse_flavor(flavor)
    scheme = TagScheme(flavor)
    ref = parse_image(image)
    to = scheme.latest if target is None else _floating_target(parse_tag(target, "to"), flavor)
    if source.startswith("sha256:"):
        return PromoteSpec(ref, parse_digest(source, "from"), to, flavor)
    source = parse_tag(source, "from")
    version = scheme.version_of(source)
    reading = read_tag(source)
    if version is None and reading.kind == "version" and reading.flavor == "":
        version = Version.parse(source, "from")  # a bare version: this flavor's release
    if version is not None:
        return PromoteSpec(ref, scheme.version_tags(version)[0], to, flavor, version)
    if reading.kind == "per-arch":
        raise InvalidInput(
            "from",
            "names a per-arch tag (one platform's image); name the release: a version or "
            "SHA tag without the arch",
        )
    if reading.kind == "event":
        raise InvalidInput("from", "names a yank/restore event tag, not a release")
    if reading.flavor is not None and reading.flavor != flavor:
        raise InvalidInput(
            "from",
            f"names a tag of {flavor_name(reading.flavor)}, not of {flavor_name(flavor)}: "
            f"add {flavor_hint(reading.flavor)}",
        )
    return PromoteSpec(ref, source, to, flavor)


def _floating_target(target: str, flavor: str) -> str:
    """`--to` names a floating tag of this flavor: `latest-F` or `WORD-F` (production:
    `latest` or a `WORD`), never another flavor's, never any flavor's immutable tag."""
    reading = read_tag(target)
    if is_immutable_anywhere(target):
        owner = "" if reading.flavor is None else f" of {flavor_name(reading.flavor)}"
        raise InvalidInput(
            "to",
            f"names an immutable {reading.kind} tag{owner}: version, SHA, per-arch and "
            "yank/restore tags are written once; name a floating tag such as "
            f"{TagScheme(flavor).latest}",
        )
    if reading.kind == "floating" and reading.flavor != flavor:
        raise InvalidInput(
            "to",
            f"is the floating tag of {flavor_name(reading.flavor or '')}: "
            f"add {flavor_hint(reading.flavor or '')}",
        )
    word, _, rest = target.rpartition("-") if flavor else (target, "", flavor)
    if (rest != flavor or not word or "-" in word) and target != TagScheme(flavor).latest:
        shape = "WORD-" + flavor if flavor else "a WORD with no '-'"
        raise InvalidInput(
            "to",
            f"must be a floating tag of {flavor_name(flavor)}: {TagScheme(flavor).latest} or "
            f"{shape}",
        )
    return target


@dataclass(frozen=True)
class StatusSpec:
    image: ImageRef
    flavor: str
    limit: int  # versions shown, newest first
    helm_keys: tuple[str, ...] = ()  # with manifests: where values files name the image
    kustomization: str | None = None  # with manifests: what this kustomization deploys

    @property
    def scheme(self) -> TagScheme:
        return TagScheme(self.flavor)


def status_spec(
    image: str,
    flavor: str = DEFAULT_FLAVOR,
    limit: str = "20",
    helm_keys: str | None = None,
    kustomization: str | None = None,
    *,
    manifests: bool = False,
) -> StatusSpec:
    """Validate what `status` reads; the limit comes as text from the CLI and Dagger alike.
    The manifests (when given) are read as `pin` reads them: its Helm keys, kustomization."""
    for name, value in (("helm_keys", helm_keys), ("kustomization", kustomization)):
        if value and not manifests:
            raise InvalidInput(name, "is for --manifests DIR (the manifests status reads)")
    return StatusSpec(
        parse_image(image),
        parse_flavor(flavor),
        parse_limit(limit),
        parse_helm_keys(helm_keys),
        parse_kustomization(kustomization),
    )


_HELM_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}(?:\.[A-Za-z0-9_-]{1,64}){0,15}")


@dataclass(frozen=True)
class PinSpec:
    """A pin request: the release (a version, a digest, or neither: what `latest-F` holds,
    for `--check` only) and the Helm values keys to read (none, one or three)."""

    image: ImageRef
    flavor: str
    version: Version | None
    digest: str | None
    helm_keys: tuple[str, ...]
    kustomization: str | None = None  # pin through this kustomization's images: only
    allow_unread_bases: bool = False  # its bases pin cannot read may hold other flavors

    @property
    def scheme(self) -> TagScheme:
        return TagScheme(self.flavor)


def pin_spec(
    image: str,
    flavor: str = DEFAULT_FLAVOR,
    version: str | None = None,
    digest: str | None = None,
    helm_keys: str | None = None,
    *,
    check: bool = False,
    kustomization: str | None = None,
    allow_unread_bases: bool = False,
) -> PinSpec:
    """Validate a pin before any file or registry is read."""
    ref, flavor = parse_image(image), parse_flavor(flavor)
    if version and digest:
        raise InvalidInput("version", "give --version or --digest, not both")
    if not (version or digest or check):
        raise InvalidInput(
            "version", "is required: the release to pin (--version V or --digest sha256:...)"
        )
    parsed = Version.parse(version) if version else None
    if parsed is not None:
        TagScheme(flavor).check_version(parsed)
    keys, through = parse_helm_keys(helm_keys), parse_kustomization(kustomization)
    if allow_unread_bases and not through:
        raise InvalidInput("allow_unread_bases", "is for --kustomization (the bases it builds)")
    found = parse_digest(digest, "digest") if digest else None
    return PinSpec(ref, flavor, parsed, found, keys, through, allow_unread_bases)


def parse_helm_keys(text: str | None) -> tuple[str, ...]:
    """`KEY` or `REPOSITORY,TAG,DIGEST`: dotted paths into a Helm values file."""
    keys = tuple(text.split(",")) if text else ()
    if keys and (len(keys) not in (1, 3) or any(_HELM_KEY.fullmatch(k) is None for k in keys)):
        raise InvalidInput(
            "helm_keys",
            "must be one dotted key holding the whole reference (image) or three: "
            "repository,tag,digest (e.g. image.repository,image.tag,image.digest)",
        )
    return keys


def parse_kustomization(path: str | None) -> str | None:
    """A kustomization (its directory or file) inside the manifests directory."""
    if not path:
        return None
    parts = path.split("/")
    if (
        len(path) > 1024
        or path.startswith("/")
        or ".." in parts
        or not all(c.isprintable() and c != "\\" for c in path)
    ):
        raise InvalidInput(
            "kustomization",
            "must be a path inside the manifests directory (relative, without ..), "
            "e.g. overlays/prod",
        )
    return path


@dataclass(frozen=True)
class ChannelStatusSpec:
    image: ImageRef
    flavor: str
    channel: str
    limit: int  # releases shown, newest first

    @property
    def scheme(self) -> ChannelScheme:
        return ChannelScheme(self.flavor, self.channel)


def channel_status_spec(
    image: str, channel: str, flavor: str = DEFAULT_FLAVOR, limit: str = "20"
) -> ChannelStatusSpec:
    spec = ChannelStatusSpec(parse_image(image), parse_flavor(flavor), channel, parse_limit(limit))
    spec.scheme.check()
    return spec
