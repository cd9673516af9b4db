"""A Dockerfile as stages, and what each stage takes from the build context.

Lines, continuations and comments come from `dockerfile-parse` (a maintained, pure-Python
parser); the `escape` directive is read here, since words are lexed with it. The parser does
not know heredocs (BuildKit's `<<EOF` bodies after RUN, COPY and ADD), so their bodies are
dropped here: a body line such as `COPY x y` must not read as an instruction. Words are
expanded by `dockerwords`, BuildKit's lexer; a stage built FROM another keeps its ARGs and
ENVs, as BuildKit does.
"""

from __future__ import annotations

import io
import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from dockerfile_parse import DockerfileParser  # type: ignore[import-untyped]

from release_pipeline.rules.dockerwords import lex

# Set by the builder per platform: their value is unknown before a build.
PLATFORM_ARGS = frozenset(
    f"{side}{part}"
    for side in ("TARGET", "BUILD")
    for part in ("PLATFORM", "OS", "ARCH", "VARIANT")
)
_HEREDOC = re.compile(r"<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")
_DIRECTIVE = re.compile(r"#\s*([A-Za-z]+)\s*=\s*(\S+)\s*\Z")
_FLAG = re.compile(r"--([a-z-]+)(?:=(\S*))?(?:\s+|\Z)")


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper-case
    value: str  # the arguments, continuation lines joined
    line: int  # 1-based line of the instruction's first line


@dataclass
class Stage:
    index: int
    name: str  # lower-case, '' for an unnamed stage
    base: str  # FROM's image, variables expanded
    line: int
    instructions: list[Instruction] = field(default_factory=list)

    def triggers(self) -> list[Instruction]:
        """Its ONBUILD instructions, which run at the start of a stage built FROM it."""
        found = []
        for ins in self.instructions:
            if ins.keyword == "ONBUILD":
                keyword, _, value = ins.value.strip().partition(" ")
                found.append(Instruction(keyword.upper(), value.strip(), ins.line))
        return found


@dataclass(frozen=True)
class Dockerfile:
    global_args: list[Instruction]  # ARG lines before the first FROM
    stages: list[Stage]
    escape: str = "\\"  # the `escape` parser directive
    global_values: Mapping[str, str | None] = field(default_factory=dict)  # FROM's variables

    def stage(self, ref: str) -> Stage | None:
        """The stage a `--from` reference names (a name, any case, or an index)."""
        if ref.isdigit():
            index = int(ref)
            return self.stages[index] if index < len(self.stages) else None
        return next((s for s in self.stages if s.name and s.name == ref.lower()), None)

    def parent(self, stage: Stage) -> Stage | None:
        """The earlier stage `stage` is built FROM: BuildKit matches FROM against the names of
        the stages before it, exactly (they are lower case); anything else is an image."""
        return next((s for s in self.stages[: stage.index] if s.name == stage.base), None)


def escape_of(text: str) -> str:
    """The `escape` parser directive's character (backslash without one). Directives are the
    leading `# key=value` comments, before any other line."""
    for line in text.splitlines():
        found = _DIRECTIVE.match(line.strip())
        if found is None:
            break
        if found.group(1).lower() == "escape" and found.group(2) in ("\\", "`"):
            return found.group(2)
    return "\\"


def instructions(text: str) -> list[Instruction]:
    """The Dockerfile's instructions in order, comments and heredoc bodies left out."""
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode()))
    lines = text.splitlines()
    found: list[Instruction] = []
    skip_until = -1  # 0-based index of the last heredoc body line
    for item in parser.structure:
        start, end = int(item["startline"]), int(item["endline"])
        if start <= skip_until or item["instruction"] == "COMMENT":
            continue
        keyword, value = str(item["instruction"]), str(item["value"])
        found.append(Instruction(keyword, value, start + 1))
        if keyword in ("RUN", "COPY", "ADD"):
            skip_until = max(skip_until, _heredoc_end(value, lines, end))
    return found


def _heredoc_end(value: str, lines: list[str], end: int) -> int:
    """The last line of the heredoc bodies opened on an instruction ending at `end`."""
    last = end
    # As BuildKit: a heredoc is a shell word that starts with `<<`; one inside quotes
    # (`echo "a<<b"`) is not.
    for strip_tabs, _, word in (m.groups() for w in _words(value) if (m := _HEREDOC.match(w))):
        last += 1
        while last < len(lines):
            body = lines[last].lstrip("\t") if strip_tabs else lines[last]
            if body.rstrip("\r") == word:
                break
            last += 1
    return last


def parse(text: str, build_args: Mapping[str, str]) -> Dockerfile:
    """Stages with their instructions; FROM images expanded with the global ARGs."""
    escape = escape_of(text)
    global_args: list[Instruction] = []
    stages: list[Stage] = []
    scope = Scope(build_args, escape)  # what a FROM line expands with: the global ARGs
    for ins in instructions(text):
        if ins.keyword == "FROM":
            words = [w for w in ins.value.split() if not w.startswith("--")]
            base, name = scope.expand_or_raw(words[0] if words else ""), ""
            if len(words) >= 3 and words[1].lower() == "as":
                name = words[2].lower()
            stages.append(Stage(len(stages), name, base, ins.line))
        elif stages:
            stages[-1].instructions.append(ins)
        elif ins.keyword == "ARG":
            global_args.append(ins)
            scope.declare_args(ins.value)
    return Dockerfile(global_args, stages, escape, dict(scope.values))


@dataclass
class Scope:
    """The variables a stage's words can use: its ARGs and ENVs so far. A name absent is
    unset; None marks a value only the builder knows (the platform ARGs)."""

    build_args: Mapping[str, str]
    escape: str
    values: dict[str, str | None] = field(default_factory=dict)
    global_values: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def globals_of(
        cls, args: list[Instruction], build_args: Mapping[str, str], escape: str
    ) -> Scope:
        scope = cls(build_args, escape, {name: None for name in PLATFORM_ARGS})
        for ins in args:
            scope.declare_args(ins.value)
        return cls(build_args, escape, {}, dict(scope.values))

    def for_stage(self, parent: Scope | None) -> Scope:
        """A new stage's scope: a stage built FROM another keeps its ARGs and ENVs."""
        values = dict(parent.values) if parent else {}
        return Scope(self.build_args, self.escape, values, self.global_values)

    def declare_args(self, value: str) -> None:
        for word in _shell_words(value, self.escape):
            name, sep, default = word.partition("=")
            if name in self.build_args:
                self.values[name] = self.build_args[name]
            elif sep:
                self.values[name] = self.expand_or_raw(default)
            elif name in self.global_values:
                self.values[name] = self.global_values[name]

    def declare_env(self, value: str) -> None:
        words = _shell_words(value, self.escape)
        if words and "=" not in words[0]:  # the legacy form: `ENV NAME value with spaces`
            name, _, rest = value.strip().partition(" ")
            pairs = [(name, rest.strip())]
        else:
            pairs = [(w.partition("=")[0], w.partition("=")[2]) for w in words]
        for name, raw in pairs:
            self.values[name] = self.expand_or_raw(raw)

    def expand(self, word: str) -> tuple[str, set[str]]:
        """`word` lexed as BuildKit does, and the names whose value is unknown here; raises
        `dockerwords.WordError` or `UnsupportedForm`."""
        return lex(word, self.values, self.escape)

    def expand_or_raw(self, word: str) -> str:
        """The value an ARG, ENV or FROM takes; a word that cannot be read keeps its text."""
        try:
            return self.expand(word)[0]
        except ValueError:
            return word


def _words(value: str) -> list[str]:
    try:
        return shlex.split(value, posix=True)
    except ValueError:
        return value.split()


def _shell_words(value: str, escape: str) -> list[str]:
    """`value` split on whitespace outside quotes, quotes and escapes kept for the lexer (as
    BuildKit splits ARG and ENV)."""
    words, word, quote, i = [], "", "", 0
    while i < len(value):
        ch = value[i]
        if ch == escape and quote != "'" and i + 1 < len(value):
            word, i = word + value[i : i + 2], i + 2
            continue
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch.isspace():
            if word:
                words.append(word)
            word, i = "", i + 1
            continue
        word, i = word + ch, i + 1
    return [*words, word] if word else words


@dataclass(frozen=True)
class Copy:
    """A COPY or ADD: its flags, and its sources as written (the last word is the target)."""

    keyword: str
    flags: dict[str, str]
    sources: list[str]
    heredoc: bool  # an inline `<<EOF` source
    line: int


def leading_flags(value: str) -> tuple[list[tuple[str, str]], str]:
    """`--name[=value]` flags at the front of an instruction's arguments (a bare flag reads
    as 'true'), and the rest."""
    rest, flags = value.strip(), []
    while (match := _FLAG.match(rest)) is not None:
        flags.append((match.group(1), "true" if match.group(2) is None else match.group(2)))
        rest = rest[match.end() :].lstrip()
    return flags, rest


def split_copy(ins: Instruction) -> Copy:
    """Flags off the front, then the JSON form of the paths, or the shell form split on
    whitespace (as BuildKit does: quotes are the lexer's, later, and cannot join words)."""
    pairs, rest = leading_flags(ins.value)
    flags = dict(pairs)
    paths: list[str] = []
    if rest.startswith("["):
        try:
            parsed = json.loads(rest)
            paths = [str(p) for p in parsed] if isinstance(parsed, list) else []
        except json.JSONDecodeError:
            paths = []
    if not paths:
        paths = rest.split()
    heredoc = any(_HEREDOC.fullmatch(p) for p in paths)
    sources = [p for p in paths[:-1] if not _HEREDOC.fullmatch(p)]
    return Copy(ins.keyword, flags, sources, heredoc, ins.line)


def run_mounts(ins: Instruction) -> list[dict[str, str]]:
    """`RUN --mount=...` options as key/value maps (a bare key reads as 'true')."""
    mounts = []
    for name, spec in leading_flags(ins.value)[0]:
        if name != "mount":
            continue
        options = {}
        for part in spec.split(","):
            key, sep, value = part.partition("=")
            options[key] = value if sep else "true"
        mounts.append(options)
    return mounts
