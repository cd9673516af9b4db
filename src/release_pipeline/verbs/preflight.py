"""Preflight: will `docker build --target T` find every file it copies? Answered in seconds,
before any runner builds.

For each target, the stages it needs (the target and, transitively, every stage named by
`FROM <stage>`, `COPY --from=<stage>` or `RUN --mount=from=<stage>`) are read, and every
path they take from the build context (COPY and ADD sources, RUN bind mounts without
`from`) must be in the context as the builder receives it: present, and not left out by
the ignore file (`<Dockerfile>.dockerignore` beside the Dockerfile when there is one, as
BuildKit prefers, else `.dockerignore` at the context root). A wildcard source may match
nothing: BuildKit copies every context source with empty wildcards allowed. URLs and git
sources of ADD, inline heredoc sources and `--from` copies are not the context's.

The files are read through `ContextTree`, so the same check runs on a local checkout
(`LocalTree`, the CLI) and on the Dagger module's `source` directory (`engine`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from release_pipeline.errors import InvalidInput, ReleaseError, shown
from release_pipeline.rules import dockerfile as df
from release_pipeline.rules.dockerignore import (
    NO_RULES,
    IgnoreRules,
    check_go_pattern,
    component_regex,
    go_clean,
    has_wildcard,
    parse_ignore_file,
)

Kind = Literal["file", "dir"]


class ContextTree(Protocol):
    """Read access to a build context; paths are relative and '/'-separated, '' the root."""

    async def kind(self, path: str) -> Kind | None:
        """'file', 'dir', or None when nothing is there."""
        ...

    async def entries(self, path: str) -> list[str]:
        """Names in the directory at `path` (no trailing '/')."""
        ...

    async def read_text(self, path: str) -> str:
        """The file's text (the caller has checked it is a file)."""
        ...


@dataclass(frozen=True)
class LocalTree:
    """A context directory on this machine. Symlinks are followed, like `docker build` does
    for the files it sends."""

    root: Path

    async def kind(self, path: str) -> Kind | None:
        target = self.root / path
        if target.is_dir():
            return "dir"
        return "file" if target.is_file() else None

    async def entries(self, path: str) -> list[str]:
        return sorted(os.listdir(self.root / path))

    async def read_text(self, path: str) -> str:
        return (self.root / path).read_text(errors="replace")


@dataclass(frozen=True)
class Problem:
    """Something the build would fail on; `line` is the Dockerfile's, None for the whole file;
    `paths` the context paths the builder would not find (none for a Dockerfile error)."""

    message: str
    line: int | None = None
    paths: tuple[str, ...] = ()


@dataclass
class PreflightReport:
    dockerfile: str
    targets: list[str]
    ignore_file: str
    problems: list[Problem] = field(default_factory=list)
    checked: int = 0  # context paths checked
    notes: list[str] = field(default_factory=list)  # paths not checkable before a build

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        """One line per problem, `Dockerfile:LINE: message`, then the notes and a summary."""
        name = shown(self.dockerfile)  # caller's text: no workflow command reaches a CI log
        lines = [
            f"{name}:{p.line}: {p.message}" if p.line else f"{name}: {p.message}"
            for p in self.problems
        ]
        lines += [f"note: {note}" for note in self.notes]
        ignore = self.ignore_file or "no ignore file"
        verdict = f"{len(self.problems)} problem(s)" if self.problems else "ok"
        lines.append(
            f"preflight {verdict}: {name}, targets {', '.join(map(shown, self.targets))}; "
            f"{self.checked} context path(s) checked ({ignore})"
        )
        return "\n".join(lines)


class PreflightFailed(ReleaseError):
    """The source would fail its build: nothing was built."""

    def __init__(self, report: PreflightReport) -> None:
        self.report = report
        super().__init__("preflight failed, nothing built:\n" + report.text())


def context_path(path: str, field_name: str) -> str:
    """A relative path inside the context, cleaned; InvalidInput when it leaves it."""
    cleaned = go_clean(path.strip())
    if not path.strip() or cleaned.startswith(("/", "../")) or cleaned == "..":
        raise InvalidInput(
            field_name, f"must be a relative path inside the context, not {shown(path)!r}"
        )
    return cleaned


def validate_targets(targets: Sequence[str]) -> list[str]:
    names = [t.strip() for t in targets]
    if not names or any(not t or not t.isprintable() or " " in t for t in names):
        raise InvalidInput("target", "give one or more Dockerfile stage names")
    return names


async def check(
    tree: ContextTree,
    dockerfile: str,
    targets: Sequence[str],
    build_args: Mapping[str, str] | None = None,
) -> PreflightReport:
    """Check `targets` of `dockerfile` against the context in `tree`; every problem found."""
    path = context_path(dockerfile, "dockerfile")
    names = validate_targets(targets)
    report = PreflightReport(path, names, "")
    if await tree.kind(path) != "file":
        report.problems.append(Problem("Dockerfile not found in the build context"))
        return report
    rules = await _ignore_rules(tree, path)
    report.ignore_file = rules.source
    parsed = df.parse(await tree.read_text(path), build_args or {})
    stages: list[df.Stage] = []
    for name in names:
        stage = parsed.stage(name) if not name.isdigit() else None
        if stage is None:
            known = ", ".join(shown(s.name) for s in parsed.stages if s.name) or "none named"
            report.problems.append(Problem(f"target {shown(name)!r} is not a stage ({known})"))
        else:
            stages.append(stage)
    checker = _Checker(tree, rules, parsed, build_args or {}, report)
    for stage in _needed(parsed, stages):
        await checker.stage(stage)
    return report


async def _ignore_rules(tree: ContextTree, dockerfile: str) -> IgnoreRules:
    for candidate in (f"{dockerfile}.dockerignore", ".dockerignore"):
        if await tree.kind(candidate) == "file":
            return parse_ignore_file(await tree.read_text(candidate), candidate)
    return NO_RULES


def _stage_refs(stage: df.Stage) -> list[str]:
    """Stage names or images this stage reads from: its base, COPY --from, mounts' from."""
    refs = [stage.base]
    for ins in stage.instructions:
        if ins.keyword in ("COPY", "ADD"):
            refs += [v for k, v in df.leading_flags(ins.value)[0] if k == "from"]
        elif ins.keyword == "RUN":
            refs += [m["from"] for m in df.run_mounts(ins) if "from" in m]
    return refs


def _needed(parsed: df.Dockerfile, targets: list[df.Stage]) -> list[df.Stage]:
    """The targets and every stage they depend on, in Dockerfile order."""
    seen: dict[int, df.Stage] = {}
    todo = list(targets)
    while todo:
        stage = todo.pop()
        if stage.index in seen:
            continue
        seen[stage.index] = stage
        todo += [s for ref in _stage_refs(stage) if (s := parsed.stage(ref)) is not None]
    return [seen[i] for i in sorted(seen)]


@dataclass
class _Checker:
    tree: ContextTree
    rules: IgnoreRules
    parsed: df.Dockerfile
    build_args: Mapping[str, str]
    report: PreflightReport
    scopes: dict[int, df.Scope] = field(default_factory=dict)

    async def stage(self, stage: df.Stage) -> None:
        globals_ = df.Scope.globals_of(self.parsed.global_args, self.build_args)
        parent = self.parsed.stage(stage.base)
        scope = globals_.for_stage(self.scopes.get(parent.index) if parent else None)
        for ins in stage.instructions:
            if ins.keyword == "ARG":
                scope.declare_args(ins.value)
            elif ins.keyword == "ENV":
                scope.declare_env(ins.value)
            elif ins.keyword in ("COPY", "ADD"):
                await self.copy(df.split_copy(ins), scope)
            elif ins.keyword == "RUN":
                for mount in df.run_mounts(ins):
                    if mount.get("type", "bind") == "bind" and "from" not in mount:
                        source = mount.get("source", mount.get("src", "."))
                        what = f"RUN --mount source {shown(source)!r}"
                        await self.source(source, ins.line, what, scope)
        self.scopes[stage.index] = scope

    async def copy(self, copy: df.Copy, scope: df.Scope) -> None:
        if "from" in copy.flags:
            return
        # With --parents BuildKit matches every source as a pattern: a missing one is skipped.
        as_pattern = copy.flags.get("parents", "false") != "false"
        for source in copy.sources:
            if copy.keyword == "ADD" and ("://" in source or source.startswith("git@")):
                continue
            what = f"{copy.keyword} source {shown(source)!r}"
            await self.source(source, copy.line, what, scope, as_pattern=as_pattern)

    async def source(
        self, raw: str, line: int, what: str, scope: df.Scope, *, as_pattern: bool = False
    ) -> None:
        expanded, unknown = scope.expand(raw)
        if unknown:
            names = ", ".join(sorted(unknown))
            self.report.notes.append(
                f"{self.report.dockerfile}:{line}: {what} not checked: {names} is set by the "
                "builder"
            )
            return
        if expanded != raw:
            what += f" ({shown(expanded)})"
        # BuildKit joins a source to the context root: a leading '/', './' or '..' stays inside.
        path = go_clean("/" + expanded).lstrip("/")
        self.report.checked += 1
        if not path:
            return
        if as_pattern or has_wildcard(path):
            await self.wildcard(path, line, what)
            return
        kind = await self.tree.kind(path)
        if kind is None:
            self.problem(line, f"{what} not found in the build context", path)
        elif not await self.sent(path, kind):
            rule = self.rules.excluded_by(path)
            assert rule is not None
            self.problem(
                line,
                f"{what} is excluded by {self.rules.source} (line {rule.line}: "
                f"{shown(rule.pattern)!r}), so the builder never receives it",
                path,
            )

    async def wildcard(self, path: str, line: int, what: str) -> None:
        """Matching nothing is allowed (a note says so); a malformed pattern is not."""
        parts = path.split("/")
        if not all(check_go_pattern(p) for p in parts):
            self.problem(line, f"{what} is not a valid pattern", path)
        elif not await self.glob("", parts):
            self.report.notes.append(
                f"{self.report.dockerfile}:{line}: {what} matches nothing (allowed: BuildKit "
                "copies nothing for it)"
            )

    async def glob(self, base: str, parts: list[str]) -> int:
        """How many context paths below `base` match `parts` (component by component)."""
        if not parts:
            return 1
        head, rest = parts[0], parts[1:]
        if not has_wildcard(head):
            names = [head.replace("\\", "")]
        else:
            regex = component_regex(head)
            names = [n for n in await self.tree.entries(base) if regex.match(n)]
        found = 0
        for name in names:
            child = f"{base}/{name}" if base else name
            kind = await self.tree.kind(child)
            if kind is None or not await self.sent(child, kind):
                continue
            if rest and kind != "dir":
                continue
            found += await self.glob(child, rest) if rest else 1
        return found

    async def sent(self, path: str, kind: Kind) -> bool:
        """Whether the builder receives `path`: not excluded, or a directory holding a file
        a `!` line re-includes."""
        if self.rules.excluded_by(path) is None:
            return True
        if kind != "dir" or not self.rules.may_reinclude_below(path):
            return False
        for name in await self.tree.entries(path):
            child = f"{path}/{name}"
            child_kind = await self.tree.kind(child)
            if child_kind is not None and await self.sent(child, child_kind):
                return True
        return False

    def problem(self, line: int, message: str, *paths: str) -> None:
        self.report.problems.append(Problem(message, line, paths))
