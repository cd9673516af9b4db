"""SemVer 2.0 versions as release tags use them: `1.2.3` or `v1.2.3`, no build metadata."""

from __future__ import annotations

from dataclasses import dataclass
from functools import total_ordering

import semver

from release_pipeline.errors import InvalidInput


@total_ordering
@dataclass(frozen=True)
class Version:
    """A release version. `str()` gives it without the `v`; ordering is SemVer precedence."""

    parsed: semver.Version

    @classmethod
    def parse(cls, text: str, field: str = "version") -> Version:
        body = text[1:] if text.startswith("v") else text
        if "+" in body:
            # '+' cannot appear in an image tag, and build metadata has no precedence anyway.
            raise InvalidInput(field, "build metadata (+...) is not allowed in an image tag")
        if not body.isascii():
            raise InvalidInput(field, "must be ASCII SemVer 2.0: MAJOR.MINOR.PATCH[-PRERELEASE]")
        try:
            parsed = semver.Version.parse(body)
        except (ValueError, TypeError):
            raise InvalidInput(
                field, "must be SemVer 2.0: MAJOR.MINOR.PATCH[-PRERELEASE], optionally with a v"
            ) from None
        return cls(parsed)

    @classmethod
    def from_tag_part(cls, text: str) -> Version | None:
        """Parse a version found inside a tag; None if it is not a valid release version."""
        if text.startswith("v") or not text[:1].isdigit():
            return None
        try:
            return cls.parse(text)
        except InvalidInput:
            return None

    @property
    def stable(self) -> bool:
        return self.parsed.prerelease is None

    def __str__(self) -> str:
        return str(self.parsed)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.parsed < other.parsed
