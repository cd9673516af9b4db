"""`.dockerignore` as Docker's build clients read it, so preflight sees the context they send.

Mirrors moby/patternmatcher (and its `ignorefile.ReadAll`), which `docker build`, buildx and
BuildKit use:
- a line starting with `#` in column 1 is a comment; other lines are trimmed, blank ones
  skipped; a UTF-8 BOM on the first line is dropped;
- `!` makes a line an exception (re-include); `!` alone is an error;
- patterns are cleaned like Go's `filepath.Clean`, so a leading `/` or `./` is dropped;
- Go `filepath.Match` syntax (`*` and `?` never cross `/`, `[...]` classes, `\\` escapes),
  plus `**` for any number of directories, zero included;
- a path is excluded when it or one of its parent directories matches, and the last
  matching line wins.
The Dockerfile and the ignore file are sent to the builder even when excluded, but `COPY`
cannot copy them then: the rules apply to them like to any other path (Docker's docs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from release_pipeline.errors import InvalidInput

BOM = "\ufeff"
# Characters that Go's filepath.Match gives no meaning but a regexp does (moby escapes them).
_REGEX_ONLY = frozenset(".+()|{}$")


class _Kind(Enum):
    EXACT = "exact"
    PREFIX = "prefix"
    SUFFIX = "suffix"
    REGEX = "regex"


@dataclass(frozen=True)
class Rule:
    """One pattern line: `exception` for a `!` line; `line` is 1-based in the ignore file."""

    pattern: str
    exception: bool
    line: int
    kind: _Kind
    regex: re.Pattern[str] | None

    def matches(self, path: str) -> bool:
        """patternmatcher's `Pattern.match` on one slash-separated path."""
        if self.kind is _Kind.EXACT:
            return path == self.pattern
        if self.kind is _Kind.PREFIX:
            return path.startswith(self.pattern[:-2])
        if self.kind is _Kind.SUFFIX:
            suffix = self.pattern[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        assert self.regex is not None
        return self.regex.match(path) is not None

    def matches_or_parent(self, path: str) -> bool:
        """The path or one of its parent directories matches (MatchesOrParentMatches)."""
        if self.matches(path):
            return True
        parts = path.split("/")[:-1]
        return any(self.matches("/".join(parts[: i + 1])) for i in range(len(parts)))


@dataclass(frozen=True)
class IgnoreRules:
    """The parsed ignore file; `source` names it in messages ('' when there is none)."""

    source: str
    rules: tuple[Rule, ...]

    def may_reinclude_below(self, directory: str) -> bool:
        """Whether a `!` line could match something inside `directory`: only then must an
        excluded directory be walked to learn if the builder still receives part of it."""
        parts = directory.split("/")
        for rule in self.rules:
            pattern = rule.pattern.split("/")
            if not rule.exception:
                continue
            for i, part in enumerate(parts):
                if i >= len(pattern):
                    break
                if "**" in pattern[i]:
                    return True
                if not component_regex(pattern[i]).match(part):
                    break
            else:
                if len(pattern) > len(parts):
                    return True
        return False

    def excluded_by(self, path: str) -> Rule | None:
        """The rule that leaves `path` out of the context, or None when it is sent."""
        matched: Rule | None = None
        for rule in self.rules:
            # As patternmatcher: an exclusion only matters once matched, an exception only
            # after one.
            if rule.exception != (matched is not None):
                continue
            if rule.matches_or_parent(path):
                matched = None if rule.exception else rule
        return matched


NO_RULES = IgnoreRules("", ())


def go_clean(path: str) -> str:
    """Go's `path.Clean`: collapse `//`, drop `.` elements, resolve `..`; '' becomes '.'."""
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append(part)
            continue
        parts.append(part)
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def check_go_pattern(pattern: str) -> bool:
    """Whether Go's `filepath.Match` accepts `pattern` (no ErrBadPattern), on a Unix host."""
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                return False
            i += 2
        elif ch == "[":
            end = _class_end(pattern, i + 1)
            if end < 0:
                return False
            i = end + 1
        else:
            i += 1
    return True


def _class_end(pattern: str, i: int) -> int:
    """Index of the `]` closing a class whose body starts at i, or -1 when malformed."""
    n = len(pattern)
    if i < n and pattern[i] == "^":
        i += 1
    ranges = 0
    while True:
        if i < n and pattern[i] == "]" and ranges > 0:
            return i
        i = _class_char(pattern, i)
        if i < 0:
            return -1
        if i < n and pattern[i] == "-":
            i = _class_char(pattern, i + 1)
            if i < 0:
                return -1
        ranges += 1


def _class_char(pattern: str, i: int) -> int:
    """Index after one (possibly escaped) class character at i, or -1 (Go's getEsc)."""
    n = len(pattern)
    if i >= n or pattern[i] in "-]":
        return -1
    if pattern[i] == "\\":
        i += 1
        if i >= n:
            return -1
    return i + 1


def component_regex(pattern: str) -> re.Pattern[str]:
    """Go's `filepath.Match` for one path element (what `COPY` does to a wildcard source);
    `pattern` must have passed `check_go_pattern`."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "[":
            end = _class_end(pattern, i + 1)
            body = pattern[i + 1 : end]
            negate = body.startswith("^")
            items = re.sub(r"\\(.)", r"\1", body[1:] if negate else body)
            escaped = "".join("\\" + c if c in "\\]^[" else c for c in items)
            out.append(("[^" if negate else "[") + escaped + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z")


def has_wildcard(pattern: str) -> bool:
    """An unescaped `*`, `?` or `[`: BuildKit then globs the source instead of stat-ing it."""
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern[i] in "*?[":
            return True
        i += 1
    return False


def _compile(pattern: str) -> tuple[_Kind, re.Pattern[str] | None]:
    """patternmatcher's `Pattern.compile`, with `/` as the separator."""
    regex, kind, i, n = "^", _Kind.EXACT, 0, len(pattern)
    first = True
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1
                if i >= n:
                    if kind is _Kind.EXACT:
                        kind = _Kind.PREFIX
                    else:
                        regex += ".*"
                        kind = _Kind.REGEX
                else:
                    regex += "(.*/)?"
                    kind = _Kind.REGEX
                if first:
                    kind = _Kind.SUFFIX
            else:
                regex += "[^/]*"
                kind = _Kind.REGEX
        elif ch == "?":
            regex += "[^/]"
            kind = _Kind.REGEX
        elif ch in _REGEX_ONLY:
            regex += "\\" + ch
        elif ch == "\\":
            if i < n:
                regex += re.escape(pattern[i])
                i += 1
                kind = _Kind.REGEX
            else:
                regex += "\\\\"
        elif ch in "[]":
            regex += ch
            kind = _Kind.REGEX
        else:
            regex += ch  # raw, as moby does (Go and Python regexps agree on what is left)
        first = False
    if kind is not _Kind.REGEX:
        return kind, None
    try:
        return kind, re.compile(regex + r"\Z")
    except re.error:
        return kind, None


def parse_ignore_file(text: str, source: str) -> IgnoreRules:
    """Rules from an ignore file's text; InvalidInput naming the file and line for a pattern
    Docker refuses (a bare `!`, a malformed `[...]` class)."""
    rules = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.removeprefix(BOM) if number == 1 else raw
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        exception = pattern.startswith("!")
        if exception:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        if exception and not pattern:
            raise InvalidInput(source, f"line {number}: illegal exclusion pattern '!'")
        if not check_go_pattern(pattern):
            raise InvalidInput(source, f"line {number}: bad pattern {pattern!r}")
        kind, regex = _compile(pattern)
        if kind is _Kind.REGEX and regex is None:
            raise InvalidInput(source, f"line {number}: bad pattern {pattern!r}")
        rules.append(Rule(pattern, exception, number, kind, regex))
    return IgnoreRules(source, tuple(rules))
