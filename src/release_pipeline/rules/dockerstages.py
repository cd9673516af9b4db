"""What a stage reads besides the context: other stages and images, named by FROM, by
`--from` on COPY and ADD (its parent's ONBUILD triggers included) and by RUN mounts.

BuildKit's rules, as a real one applies them (tests/fixtures/buildkit):
- FROM names a stage only when it is exactly the name of an earlier stage (names are lower
  case); otherwise it is an image, and an image name in upper case is refused;
- `--from` names a stage in any case, or an earlier stage by index; a stage naming itself,
  or an index that is not an earlier stage, is refused; anything else is an image;
- `--from` expands the global ARGs (newer frontends; the recorded one did not);
- a stage defined later is not built for a `--from` that names it by the builder the corpus
  was recorded with; newer ones build it first. Either way preflight does not follow it.
"""

from __future__ import annotations

from dataclasses import dataclass

from release_pipeline.rules.dockerfile import Dockerfile, Instruction, Stage, leading_flags
from release_pipeline.rules.dockerfile import run_mounts as _mounts
from release_pipeline.rules.dockerwords import lex


@dataclass(frozen=True)
class Ref:
    """One reference: to a `stage`; to something `unchecked` (why: an image the build
    fetches, a stage defined later); or an `error` BuildKit refuses the Dockerfile with.
    `what` names it for a message."""

    what: str
    line: int
    stage: Stage | None = None
    unchecked: str = ""
    error: str = ""


def steps(parsed: Dockerfile, stage: Stage) -> list[Instruction]:
    """The instructions a stage runs: its parent's ONBUILD triggers, then its own."""
    parent = parsed.parent(stage)
    own = [ins for ins in stage.instructions if ins.keyword != "ONBUILD"]
    return [*(parent.triggers() if parent else []), *own]


def references(parsed: Dockerfile, stage: Stage) -> list[Ref]:
    """Everything `stage` reads that is not the context, in Dockerfile order."""
    refs = [base] if (base := _base(parsed, stage)) else []
    for ins in steps(parsed, stage):
        if ins.keyword in ("COPY", "ADD"):
            for key, value in leading_flags(ins.value)[0]:
                if key == "from":
                    refs.append(_from(parsed, stage, value, f"{ins.keyword} --from={value}", ins))
        elif ins.keyword == "RUN":
            for mount in _mounts(ins):
                if "from" in mount:
                    what = f"RUN --mount from={mount['from']}"
                    refs.append(_from(parsed, stage, mount["from"], what, ins))
    return refs


def _base(parsed: Dockerfile, stage: Stage) -> Ref | None:
    what = f"FROM {stage.base}"
    if parent := parsed.parent(stage):
        return Ref(what, stage.line, stage=parent)
    repository = _repository(stage.base)
    if "$" not in repository and repository != repository.lower():
        return Ref(what, stage.line, error="an image's repository name must be lower case")
    if parsed.stage(stage.base) is not None and stage.base == stage.base.lower():
        # Named like a stage defined after this one: BuildKit pulls an image of that name.
        return Ref(what, stage.line, unchecked=f"{stage.base} is an image, fetched by the build")
    return None


def _repository(image: str) -> str:
    """The repository path of an image reference, without its registry, tag or digest. As
    Docker splits a name: the first part is a registry when it has a `.` or `:`, is
    `localhost`, or has upper case (`Registry/x` pulls from host `Registry`)."""
    name = image.split("@")[0]
    first, slash, rest = name.partition("/")
    if slash and (any(c in first for c in ".:") or first == "localhost" or first != first.lower()):
        name = rest
    return name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name


def _from(parsed: Dockerfile, stage: Stage, ref: str, what: str, ins: Instruction) -> Ref:
    if "$" in ref:
        try:
            ref, unknown = lex(ref, parsed.global_values, parsed.escape)
        except ValueError:
            unknown = {ref}
        if unknown:
            return Ref(what, ins.line, unchecked=f"{ref} names a variable only the builder knows")
    if ref.isdigit():
        if int(ref) < stage.index:
            return Ref(what, ins.line, stage=parsed.stages[int(ref)])
        return Ref(what, ins.line, error=f"invalid stage index {ref}")
    named = parsed.stage(ref)
    if named is stage:
        return Ref(what, ins.line, error=f"circular dependency detected on stage: {stage.name}")
    if named is not None and named.index > stage.index:
        later = f"{ref} is a stage defined after this one, which BuildKit may not build first"
        return Ref(what, ins.line, unchecked=later)
    if named is not None:
        return Ref(what, ins.line, stage=named)
    return Ref(what, ins.line, unchecked=f"{ref} is an image, fetched by the build")
