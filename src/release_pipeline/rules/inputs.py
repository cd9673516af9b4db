"""Validation of everything a user types, before any request is sent.

Each parser raises `InvalidInput(field, rule)`. Errors never echo the rejected value:
an image reference may carry userinfo, and a mistyped flag may hold a pasted secret.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from release_pipeline.errors import InvalidInput

DEFAULT_PLATFORMS = ("linux/amd64", "linux/arm64")
DEFAULT_FLAVOR = "workers"

# GOARCH values an OCI image config may carry. Arch tokens end tags (`1.2.3-workers-arm64`),
# so the set is closed: an open set could collide with flavors and prereleases.
ARCHITECTURES = frozenset(
    {
        "386",
        "amd64",
        "arm",
        "arm64",
        "loong64",
        "mips",
        "mips64",
        "mips64le",
        "mipsle",
        "ppc64",
        "ppc64le",
        "riscv64",
        "s390x",
        "wasm",
    }
)
_ARCH_TOKEN = re.compile(
    r"(386|amd64|arm(64)?(v[0-9]+)?|loong64|mips(64)?(le)?|ppc64(le)?"
    r"|riscv64|s390x|wasm)"
)
_OS = re.compile(r"[a-z][a-z0-9]{0,15}")
_VARIANT = re.compile(r"v[0-9]{1,2}")
# Flavors have no '-': with one, `1.0.0-x-workers` would be both (1.0.0-x, workers) and
# (1.0.0, x-workers). Words our own tags use are reserved.
_FLAVOR = re.compile(r"[a-z][a-z0-9_]{0,31}")
RESERVED_FLAVORS = frozenset({"latest", "sha", "yanked"})
_SHA = re.compile(r"[0-9a-fA-F]{40}")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# distribution-spec name grammar: lower-case path components joined by '/'.
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*")
_HOSTNAME = re.compile(
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def is_digest(text: str) -> bool:
    """The one digest grammar, for what users type and what registries send alike:
    `sha256:` and 64 lower-case hex digits (the only algorithm the release computes)."""
    return _DIGEST.fullmatch(text) is not None


def is_platform(os_: str, architecture: str, variant: str | None) -> bool:
    """Whether `os/arch[/variant]` follows the grammar `--platform` enforces: an image
    config or index entry naming anything else is refused, never shown or copied."""
    return (
        _OS.fullmatch(os_) is not None
        and architecture in ARCHITECTURES
        and (variant is None or _VARIANT.fullmatch(variant) is not None)
    )


def is_arch_token(word: str) -> bool:
    return _ARCH_TOKEN.fullmatch(word) is not None


def looks_like_flavor(word: str) -> bool:
    return _FLAVOR.fullmatch(word) is not None


def is_loopback_host(name: str) -> bool:
    """`localhost`, 127.0.0.0/8 or ::1 (brackets allowed): where plain HTTP stays on the machine."""
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ImageRef:
    """`host[:port]/repository`, already validated."""

    host: str
    repository: str

    @property
    def loopback(self) -> bool:
        """Whether the registry is on this machine: where plain HTTP is the default
        (`routes.use_plain_http`; `--plain-http` / `--no-plain-http` override it)."""
        bracketed = self.host.startswith("[")
        name = self.host[1 : self.host.index("]")] if bracketed else self.host.rsplit(":", 1)[0]
        return is_loopback_host(name)

    def __str__(self) -> str:
        return f"{self.host}/{self.repository}"


def parse_image(text: str, field: str = "image") -> ImageRef:
    if not text.isascii() or not text.isprintable() or " " in text:
        raise InvalidInput(field, "must be printable ASCII with no spaces")
    if "://" in text:
        raise InvalidInput(field, "must not have a scheme (give host[:port]/path, no https://)")
    if "@" in text:
        raise InvalidInput(field, "must not contain '@' (no userinfo, no digest)")
    host, sep, path = text.partition("/")
    if not sep or not path:
        raise InvalidInput(field, "must be host[:port]/path, with the registry host")
    if ".." in path.split("/") or "/./" in f"/{path}/":
        raise InvalidInput(field, "path must not contain '.' or '..' components")
    _check_host(host, field)
    if any(_PATH_COMPONENT.fullmatch(c) is None for c in path.split("/")):
        raise InvalidInput(
            field,
            "path must be lower-case components [a-z0-9] joined by '.', '_', '__' or '-', "
            "separated by '/' (no tag: the release chooses tags)",
        )
    if len(path) > 255:
        raise InvalidInput(field, "path must be at most 255 characters")
    return ImageRef(host, path)


def _check_host(host: str, field: str) -> None:
    if host.startswith("["):
        name, closed, rest = host[1:].partition("]")
        if "%" in name:
            # A zone (`fe80::1%eth0`) names an interface of this machine: meaningless in a
            # registry reference, and resolvers retry it as a DNS name for seconds.
            raise InvalidInput(field, "host must not carry an IPv6 zone identifier ('%')")
        try:
            ipaddress.IPv6Address(name)
        except ValueError:
            raise InvalidInput(field, "host is not a valid [IPv6] address") from None
        if not closed or (rest and not rest.startswith(":")):
            raise InvalidInput(field, "host must be host[:port]")
        has_port, port = rest.startswith(":"), rest[1:]
    else:
        name, colon, port = host.partition(":")
        has_port = bool(colon)
        if len(name) > 253 or _HOSTNAME.fullmatch(name) is None:
            raise InvalidInput(
                field,
                "host must be a lower-case DNS name of at most 253 characters, or an IP address",
            )
        if "." not in name and name != "localhost" and not has_port:
            raise InvalidInput(field, "must start with the registry host (e.g. ghcr.io/org/app)")
    if has_port and (not port.isdigit() or port.startswith("0") or not 0 < int(port) < 65536):
        raise InvalidInput(field, "port must be a number from 1 to 65535")


def parse_sha(text: str, field: str = "sha") -> str:
    """The full commit SHA, in lower case. Short SHAs are refused: they are ambiguous."""
    if _SHA.fullmatch(text) is None:
        raise InvalidInput(field, "must be the full 40-hex-digit git commit SHA")
    return text.lower()


def parse_flavor(text: str, field: str = "flavor") -> str:
    """A flavor names the image (`workers`); the empty flavor is the production image."""
    if text == "":
        return text
    if _FLAVOR.fullmatch(text) is None:
        raise InvalidInput(
            field,
            "must be empty or a lower-case word [a-z][a-z0-9_]*, at most 32 characters, "
            "with no '-' (a '-' would make tags ambiguous)",
        )
    if text in RESERVED_FLAVORS or is_arch_token(text):
        raise InvalidInput(
            field,
            "must not be a word the tag scheme uses (latest, sha, yanked, or an architecture name)",
        )
    return text


@dataclass(frozen=True, order=True)
class Platform:
    """`os/arch[/variant]` as in an OCI index; `token` is how tags name it (`armv7`)."""

    os: str
    architecture: str
    variant: str | None = None

    @property
    def token(self) -> str:
        return self.architecture + (self.variant or "")

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def parse_platform(text: str, field: str = "platform") -> Platform:
    parts = text.split("/")
    if len(parts) not in (2, 3) or _OS.fullmatch(parts[0]) is None:
        raise InvalidInput(field, "must be os/arch[/variant], e.g. linux/amd64 or linux/arm/v7")
    if parts[1] not in ARCHITECTURES:
        raise InvalidInput(field, "architecture must be a GOARCH name such as amd64 or arm64")
    variant = parts[2] if len(parts) == 3 else None
    if variant is not None and _VARIANT.fullmatch(variant) is None:
        raise InvalidInput(field, "variant must be v followed by a number, e.g. v7")
    if parts[1] == "arm64" and variant == "v8":
        variant = None  # linux/arm64/v8 is linux/arm64: one image, one tag
    return Platform(parts[0], parts[1], variant)


def parse_platforms(
    texts: list[str] | tuple[str, ...], field: str = "platform"
) -> tuple[Platform, ...]:
    if not texts:
        raise InvalidInput(field, "at least one platform is required")
    platforms = tuple(parse_platform(t, field) for t in texts)
    tokens = [p.token for p in platforms]
    if len(set(tokens)) != len(tokens):
        raise InvalidInput(
            field,
            "each platform must have its own architecture (tags name the architecture, not the OS)",
        )
    return tuple(sorted(platforms, key=str))


def parse_tag(text: str, field: str) -> str:
    if TAG.fullmatch(text) is None:
        raise InvalidInput(
            field, "must be a tag: [A-Za-z0-9_][A-Za-z0-9_.-]*, at most 128 characters"
        )
    return text


def parse_digest(text: str, field: str) -> str:
    if not is_digest(text):
        raise InvalidInput(field, "must be sha256: followed by 64 lower-case hex digits")
    return text


_BUILD_ARG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
RESERVED_BUILD_ARGS = frozenset({"VERSION", "GIT_COMMIT"})


def parse_build_args(pairs: list[str], field: str = "build_arg") -> list[tuple[str, str]]:
    """`KEY=VALUE` pairs for the Dockerfile; VERSION and GIT_COMMIT are set by the release."""
    parsed = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or _BUILD_ARG_NAME.fullmatch(name) is None:
            raise InvalidInput(field, "must be KEY=VALUE with KEY a shell-style variable name")
        if name in RESERVED_BUILD_ARGS:
            raise InvalidInput(field, f"{name} is set by the release from --version/--sha")
        parsed.append((name, value))
    return parsed


_SECRET_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


def parse_build_secret_ids(
    ids: list[str], secrets: int, field: str = "build_secret_id"
) -> list[str]:
    """One id per build secret, in order: the `id` of `RUN --mount=type=secret,id=ID`.
    Unique, since the engine mounts each at /run/secrets/ID."""
    if len(ids) != secrets:
        raise InvalidInput(
            field, f"needs one id per --build-secret: {len(ids)} ids for {secrets} secrets"
        )
    for secret_id in ids:
        if _SECRET_ID.fullmatch(secret_id) is None:
            raise InvalidInput(field, "each id is [A-Za-z0-9_][A-Za-z0-9_.-]*, at most 64")
    if len(set(ids)) != len(ids):
        raise InvalidInput(field, "must not name one id twice")
    return ids


MAX_LIMIT = 1000


def parse_limit(text: str, field: str = "limit") -> int:
    """How many versions `status` shows: each one costs registry requests, so it is bounded."""
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
        raise InvalidInput(field, f"must be a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def parse_source_url(text: str, field: str = "source_url") -> str:
    """A repository URL for `org.opencontainers.image.source`: http(s), no credentials.

    It is published in the index for anyone to read, so userinfo (a pasted token) is refused;
    CI logs and job summaries show it, so no control characters and no `::`.
    """
    if source_url_or_none(text) is None:
        raise InvalidInput(
            field,
            "must be an http(s) URL with a host, no user:password@, no spaces and no double colon",
        )
    return text


def source_url_or_none(text: str | None) -> str | None:
    """`text` if it passes the `--source-url` rule, else None: the same rule for an image's
    source label, which the index copies when no flag is given (a bad label reads as absent)."""
    if text is None or len(text) > 2048 or not text.isascii() or "::" in text:
        return None
    if any(c.isspace() or not c.isprintable() for c in text):
        return None
    try:
        parts = urlsplit(text)
        hostname = parts.hostname
    except ValueError:  # e.g. an unclosed '[' in the host
        return None
    ok = parts.scheme in ("https", "http") and bool(hostname) and "@" not in parts.netloc
    return text if ok else None
