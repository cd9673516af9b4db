"""Exceptions the release raises, grouped by what the caller should do about them.

`InvalidInput` means nothing was sent (exit 2); every other `ReleaseError` means the
registry was reached and the release did not complete (exit 1). Messages never carry a
secret: no error ever formats a password, a token or a raw image reference that could
hold userinfo.
"""

from __future__ import annotations

import re

# What a secret looks like in text someone else sent: a URL's user:password@, a GitHub token.
_SECRETS = re.compile(r"(?<=://)[^/\s@]*@|\b(gh[pousr]_|github_pat_)[A-Za-z0-9_]+")


def shown(text: str, limit: int = 80) -> str:
    """Registry-sent text (a label, an annotation, an error message) as it may appear in an
    error: it reaches CI logs, so no control characters, no `::` workflow commands, no
    credentials (a registry may echo a URL it was given, userinfo and all), and bounded.
    Secrets go before the text is clipped, so no clip leaves half of one."""
    text = _SECRETS.sub(lambda m: f"{m.group(1)}***" if m.group(1) else "***@", text)
    clipped = "".join(c if c.isprintable() else "?" for c in text[:limit])
    # A space after every ':' that precedes another: str.replace("::", ": :") would turn
    # ":::" into ": ::", keeping a `::`.
    return re.sub(":(?=:)", ": ", clipped) + ("..." if len(text) > limit else "")


class ReleaseError(Exception):
    """Base class: the release did not complete."""


class InvalidInput(ReleaseError):
    """An argument breaks a rule. Raised before any request is sent."""

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"invalid {field}: {rule}")


class RegistryError(ReleaseError):
    """The registry answered something we cannot use, or could not be reached."""


class AuthError(RegistryError):
    """The registry refused our credentials (or demanded some we do not have)."""


class NotFound(RegistryError):
    """A manifest or tag that the release needs is not in the registry."""


class TagConflict(ReleaseError):
    """Immutable tags already point at other content: overwriting needs `force`."""

    def __init__(self, conflicts: list[tuple[str, str, str]]) -> None:
        self.conflicts = conflicts
        lines = [
            f"{tag} is {existing} in the registry, this release wants {wanted}"
            for tag, existing, wanted in conflicts
        ]
        super().__init__(
            "refusing to overwrite immutable tags (nothing written; --force overrides):\n  "
            + "\n  ".join(lines)
        )


class RevisionMismatch(ReleaseError):
    """Per-arch images say they were built from another commit: merging them would publish
    that commit's code as this release."""

    def __init__(self, mismatches: list[tuple[str, str]], expected: str) -> None:
        self.mismatches, self.expected = mismatches, expected
        lines = [
            f"{tag} has org.opencontainers.image.revision={shown(label)}, expected {expected}"
            for tag, label in mismatches
        ]
        super().__init__(
            "per-arch images were built from another commit (nothing written; republish them "
            "with publish-platform --force):\n  " + "\n  ".join(lines)
        )


class ManifestRefused(ReleaseError):
    """A deployment manifest `pin` cannot edit as asked (invalid YAML, an alias on an image
    line, a symlink, another flavor in a kustomization's images): nothing was written."""

    def __init__(self, path: str, line: int, why: str) -> None:
        self.path, self.line, self.why = path, line, why
        where = f"{shown(path, 200)}:{line}" if line else shown(path, 200)
        super().__init__(f"{where}: {why} (nothing written)")


class PinDrift(ReleaseError):
    """`pin --check`: a reference of the flavor is not pinned to the release."""
