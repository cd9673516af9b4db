"""Preflight: will `docker build --target T` find every file it copies? Answered in seconds,
before any runner builds, and held to what a real BuildKit says (tests/fixtures/buildkit).

For each target, the stages it needs (the target and, transitively, every stage it names:
`dockerstages`) are read, and every path they take from the build context (COPY and ADD
sources, RUN bind mounts without `from`, their parents' ONBUILD triggers included) must be
in the context as the builder receives it: present once its symlinks are followed inside the
context (`context.resolve`), and not left out by the ignore file (`<Dockerfile>.dockerignore`
beside the Dockerfile when there is one, as BuildKit prefers, else `.dockerignore` at the
context root). A wildcard source may match nothing: BuildKit copies every context source with
empty wildcards allowed. What the build fetches (a `--from` image, an ADD URL) is named in a
"not checked" note, never passed in silence.

The files are read through `ContextTree`, so the same check runs on a local checkout
(`LocalTree`, the CLI) and on the Dagger module's `source` directory (`engine`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

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
from release_pipeline.rules.dockerstages import references, steps
from release_pipeline.rules.dockerwords import UnsupportedForm, WordError
from release_pipeline.verbs.context import ContextTree, Kind, resolve


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
    notes: list[str] = field(default_factory=list)  # allowed, or not checkable before a build
    unchecked: int = 0  # what the notes name as not checked: the build decides it

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
        if self.unchecked:
            ignore += f"; {self.unchecked} not checked, see the notes"
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
    # The client reads the Dockerfile and ignore files itself, following a symlink.
    if await tree.kind(path) not in ("file", "symlink"):
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
        if await tree.kind(candidate) in ("file", "symlink"):
            return parse_ignore_file(await tree.read_text(candidate), candidate)
    return NO_RULES


def _needed(parsed: df.Dockerfile, targets: list[df.Stage]) -> list[df.Stage]:
    """The targets and every stage they depend on, in Dockerfile order."""
    seen: dict[int, df.Stage] = {}
    todo = list(targets)
    while todo:
        stage = todo.pop()
        if stage.index in seen:
            continue
        seen[stage.index] = stage
        todo += [ref.stage for ref in references(parsed, stage) if ref.stage is not None]
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
        for ref in references(self.parsed, stage):
            if ref.error:
                self.problem(ref.line, f"{shown(ref.what)}: {ref.error} (BuildKit refuses it)")
            elif ref.unchecked:
                self.unchecked(ref.line, shown(ref.what), shown(ref.unchecked))
        globals_ = df.Scope.globals_of(self.parsed.global_args, self.build_args, self.parsed.escape)
        parent = self.parsed.parent(stage)
        scope = globals_.for_stage(self.scopes.get(parent.index) if parent else None)
        for ins in steps(self.parsed, stage):
            await self.instruction(ins, scope)
        self.scopes[stage.index] = scope

    async def instruction(self, ins: df.Instruction, scope: df.Scope) -> None:
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

    async def copy(self, copy: df.Copy, scope: df.Scope) -> None:
        if "from" in copy.flags:
            return  # a stage's files, or an image's: `references` named it
        # With --parents BuildKit matches every source as a pattern: a missing one is skipped.
        as_pattern = copy.flags.get("parents", "false") != "false"
        for source in copy.sources:
            what = f"{copy.keyword} source {shown(source)!r}"
            if copy.keyword == "ADD" and ("://" in source or source.startswith("git@")):
                self.unchecked(copy.line, what, "it is fetched by the build")
                continue
            await self.source(source, copy.line, what, scope, as_pattern=as_pattern)

    async def source(
        self, raw: str, line: int, what: str, scope: df.Scope, *, as_pattern: bool = False
    ) -> None:
        try:
            expanded, unknown = scope.expand(raw)
        except WordError as exc:
            self.problem(line, f"{what}: {exc} (BuildKit refuses it)")
            return
        except UnsupportedForm as exc:
            self.unchecked(line, what, f"{shown(str(exc))} is a form preflight does not expand")
            return
        if unknown:
            self.unchecked(line, what, f"{', '.join(sorted(unknown))} is set by the builder")
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
        elif "\\" in path:
            # BuildKit picks the files to send with the sources as patterns, where '\\'
            # escapes: the file named with it is never sent (recorded in the corpus).
            self.problem(
                line, f"{what} is never sent: BuildKit reads '\\' in a source as an escape", path
            )
        else:
            await self.present(path, line, what)

    async def present(self, path: str, line: int, what: str) -> bool:
        """Whether the builder finds `path` (symlinks followed); a problem when it does not."""
        found = await resolve(self.tree, path)
        if found.unreadable:
            self.unchecked(line, what, f"symlink {shown(found.unreadable)!r} cannot be read here")
            return True
        via = f" (a symlink to {shown(found.path)!r})" if found.links else ""
        if found.kind is None:
            self.problem(line, f"{what}{via} not found in the build context", path, found.path)
            return False
        for sent in (*found.links, found.path):
            kind: Kind = "dir" if sent == found.path and found.kind == "dir" else "file"
            if not await self.sent(sent, kind):
                rule = self.rules.excluded_by(sent)
                assert rule is not None
                self.problem(
                    line,
                    f"{what}{via} is excluded by {self.rules.source} (line {rule.line}: "
                    f"{shown(rule.pattern)!r}), so the builder never receives it",
                    path,
                    sent,
                )
                return False
        return True

    async def wildcard(self, path: str, line: int, what: str) -> None:
        """Matching nothing is allowed (a note says so), and so is a malformed pattern, which
        BuildKit matches nothing with."""
        parts = path.split("/")
        if not all(check_go_pattern(p) for p in parts):
            self.note(line, f"{what} is not a valid pattern: BuildKit copies nothing for it")
        elif not await self.glob("", parts, line, what):
            self.note(line, f"{what} matches nothing (allowed: BuildKit copies nothing for it)")

    async def glob(self, base: str, parts: list[str], line: int, what: str) -> int:
        """How many context paths below `base` match `parts` (component by component); a
        matched symlink must lead somewhere, as BuildKit follows it."""
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
            if kind == "symlink":
                if not await self.present(child, line, what):
                    continue
                target = await resolve(self.tree, child)
                child, kind = target.path, target.kind
            if rest and kind != "dir":
                continue
            found += await self.glob(child, rest, line, what) if rest else 1
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

    def note(self, line: int, message: str) -> None:
        self.report.notes.append(f"{shown(self.report.dockerfile)}:{line}: {message}")

    def unchecked(self, line: int, what: str, why: str) -> None:
        self.report.unchecked += 1
        self.note(line, f"{what} not checked: {why}")
