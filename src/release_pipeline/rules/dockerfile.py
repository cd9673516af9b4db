"""A Dockerfile as stages, and what each stage takes from the build context.

Lines, continuations, comments and the `escape` directive come from `dockerfile-parse`
(a maintained, pure-Python parser). It does not know heredocs (BuildKit's `<<EOF` bodies
after RUN, COPY and ADD), so their bodies are dropped here: a body line such as `COPY x y`
must not read as an instruction. Variables in paths are expanded like BuildKit does for
the simple forms (`$V`, `${V}`, `${V:-word}`, `${V:+word}` and their `-`/`+` twins); an unset
variable expands to nothing, as it does there.
"""

from __future__ import annotations

import io
import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from dockerfile_parse import DockerfileParser  # type: ignore[import-untyped]

# Set by the builder per platform: their value is unknown before a build.
PLATFORM_ARGS = frozenset(
    f"{side}{part}"
    for side in ("TARGET", "BUILD")
    for part in ("PLATFORM", "OS", "ARCH", "VARIANT")
)
_HEREDOC = re.compile(r"<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")
_VARIABLE = re.compile(
    r"\\\$|\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))"
)
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


@dataclass(frozen=True)
class Dockerfile:
    global_args: list[Instruction]  # ARG lines before the first FROM
    stages: list[Stage]

    def stage(self, ref: str) -> Stage | None:
        """The stage a `FROM`/`--from` reference names (a name, any case, or an index)."""
        if ref.isdigit():
            index = int(ref)
            return self.stages[index] if index < len(self.stages) else None
        return next((s for s in self.stages if s.name and s.name == ref.lower()), None)


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
    global_args: list[Instruction] = []
    stages: list[Stage] = []
    scope = Scope.globals_of([], build_args)
    for ins in instructions(text):
        if ins.keyword == "FROM":
            words = [w for w in ins.value.split() if not w.startswith("--")]
            base, name = scope.expand(words[0] if words else "")[0], ""
            if len(words) >= 3 and words[1].lower() == "as":
                name = words[2].lower()
            stages.append(Stage(len(stages), name, base, ins.line))
        elif stages:
            stages[-1].instructions.append(ins)
        elif ins.keyword == "ARG":
            global_args.append(ins)
            scope = Scope.globals_of(global_args, build_args)
    return Dockerfile(global_args, stages)


@dataclass
class Scope:
    """The variables a stage's paths can use: its ARGs and ENVs so far. None marks a value
    only the builder knows (the platform ARGs)."""

    build_args: Mapping[str, str]
    values: dict[str, str | None] = field(default_factory=dict)
    env_names: set[str] = field(default_factory=set)
    global_values: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def globals_of(cls, args: list[Instruction], build_args: Mapping[str, str]) -> Scope:
        scope = cls(build_args, {name: None for name in PLATFORM_ARGS})
        for ins in args:
            scope.declare_args(ins.value)
        return cls(build_args, dict(scope.values), set(), dict(scope.values))

    def for_stage(self, parent: Scope | None) -> Scope:
        """A new stage's scope: ENVs of a parent stage carry over, ARGs do not."""
        names = set(parent.env_names) if parent else set()
        values = {k: v for k, v in parent.values.items() if k in names} if parent else {}
        return Scope(self.build_args, values, names, self.global_values)

    def declare_args(self, value: str) -> None:
        for word in _words(value):
            name, sep, default = word.partition("=")
            if name in self.build_args:
                self.values[name] = self.build_args[name]
            elif sep:
                self.values[name] = self.expand(default)[0]
            elif name in self.global_values:
                self.values[name] = self.global_values[name]
            else:
                self.values.setdefault(name, "")

    def declare_env(self, value: str) -> None:
        words = _words(value)
        if words and "=" not in words[0]:  # the legacy form: `ENV NAME value with spaces`
            name, _, rest = value.strip().partition(" ")
            pairs = [(name, rest.strip())]
        else:
            pairs = [(w.partition("=")[0], w.partition("=")[2]) for w in words]
        for name, raw in pairs:
            self.values[name] = self.expand(raw)[0]
            self.env_names.add(name)

    def expand(self, text: str) -> tuple[str, set[str]]:
        """`text` with variables replaced, and the names whose value is unknown here."""
        unknown: set[str] = set()

        def one(match: re.Match[str]) -> str:
            if match.group(0) == "\\$":
                return "$"
            name = match.group(1) or match.group(4)
            op, word = match.group(2) or "", match.group(3) or ""
            if name in self.values and self.values[name] is None:
                unknown.add(name)
                return ""
            value = self.values.get(name)
            is_set = value is not None and (value != "" or not op.startswith(":"))
            if op.endswith("-"):
                return value if is_set and value is not None else word
            if op.endswith("+"):
                return word if is_set else ""
            return value or ""

        return _VARIABLE.sub(one, text), unknown


def _words(value: str) -> list[str]:
    try:
        return shlex.split(value, posix=True)
    except ValueError:
        return value.split()


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
    """Flags off the front, then the JSON or the shell form of the paths."""
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
        paths = _words(rest)
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
