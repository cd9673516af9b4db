"""The build inputs `build`, `publish-platform` and `release` share, checked once: which
directory is the context, what is left out of it, build args, labels, build secrets, and the
flavors built together; then `prepare`, the engine checks before any build.

`checked` and `flavor_builds` decide without the engine, so a bad argument is refused
(InvalidInput naming it) before the first engine call.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import dagger

from release_pipeline.dagger.engine import (
    BuildOptions,
    DaggerBackend,
    Destination,
    engine_platform,
    layer_timestamp_options,
    named_secrets,
    preflight_source,
    reproducibility,
)
from release_pipeline.errors import InvalidInput
from release_pipeline.rules.context import source_rules
from release_pipeline.rules.flavors import FlavorBuild, parse_flavor_builds
from release_pipeline.rules.inputs import parse_build_args, parse_build_secret_ids
from release_pipeline.rules.labels import image_labels
from release_pipeline.rules.native import emulated, emulation_note, refuse_emulated
from release_pipeline.rules.specs import ReleaseSpec
from release_pipeline.verbs import flow, release
from release_pipeline.verbs.report import ReleaseReport


@dataclass(frozen=True)
class ContextArgs:
    """The arguments, as given, that say what is built from where."""

    source: dagger.Directory | None
    whole_source: dagger.Directory | None = None
    source_ignore: list[str] | None = None
    dockerfile: str = "Dockerfile"
    build_arg: list[str] | None = None
    source_url: str = ""
    source_date_epoch: str | None = None
    build_secret_id: list[str] | None = None
    build_secret: list[dagger.Secret] | None = None

    @classmethod
    def picked(cls, arguments: Mapping[str, Any]) -> ContextArgs:
        """The fields picked by name from a function's arguments (its `locals()`): every
        building function spells them the same."""
        return cls(**{f.name: arguments[f.name] for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class Context:
    directory: dagger.Directory
    dockerfile: str
    build_args: list[tuple[str, str]]
    secret_ids: list[str]
    secrets: list[dagger.Secret]
    labels: dict[str, str]


def checked(args: ContextArgs, spec: ReleaseSpec) -> Context:
    """The context's arguments checked, the directory filtered by `--source-ignore`; `spec`
    gives the version and commit every flavor's labels name."""
    if (args.source is None) == (args.whole_source is None):
        raise InvalidInput(
            "source",
            "give exactly one of --source=. (uploaded without .git, node_modules, .env*, "
            "...) and --whole-source=. (uploaded whole)",
        )
    directory = args.source or args.whole_source
    assert directory is not None
    patterns = args.source_ignore or []
    source_rules(patterns)  # refuses what the engine's filter would
    if patterns:
        directory = directory.filter(exclude=patterns)
    secrets = args.build_secret or []
    return Context(
        directory,
        args.dockerfile,
        parse_build_args(args.build_arg or []),
        parse_build_secret_ids(args.build_secret_id or [], len(secrets)),
        secrets,
        image_labels(spec.version, spec.sha, args.source_url, epoch(args.source_date_epoch)),
    )


def flavor_builds(
    flavors: str, flavor: str, target: str, smoke_command: list[str] | None
) -> list[FlavorBuild]:
    """`--flavors`, or the one flavor the constructor's `--flavor`, `--target` and
    `--smoke-command` describe."""
    if flavors:
        if smoke_command:
            raise InvalidInput(
                "smoke_command", "must not be given with --flavors, which holds each flavor's"
            )
        return parse_flavor_builds(flavors)
    build = FlavorBuild(
        flavor or "production", checked_target(target), flavor, tuple(smoke(smoke_command))
    )
    return [build]


def checked_target(target: str) -> str:
    if not target:
        raise InvalidInput("target", "must name the Dockerfile target to build")
    return target


async def build_options(context: Context, spec: ReleaseSpec, target: str) -> BuildOptions:
    return BuildOptions(
        context.directory,
        spec.version,
        spec.sha,
        target,
        context.dockerfile,
        context.build_args,
        context.labels,
        await named_secrets(context.secret_ids, context.secrets),
    )


def epoch(text: str | None) -> int | None:
    """`--source-date-epoch` as seconds; its range is `labels.created`'s rule."""
    if text is None or text == "":
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 20:
        raise InvalidInput(
            "source_date_epoch",
            "must be the commit time in whole seconds since 1970-01-01 UTC, digits only "
            "(git log -1 --format=%ct)",
        )
    return int(text)


def smoke(command: list[str] | None) -> list[str]:
    if not command or not command[0]:
        raise InvalidInput(
            "smoke_command", "is required: every image is smoke-tested before anything is published"
        )
    return command


@dataclass(frozen=True)
class Prepared:
    """A release ready to run: every flavor's job, and what the engine emulates."""

    dest: Destination
    jobs: list[flow.FlavorJob[dagger.Container]]
    emulated: list[str]
    engine: str
    reproducibility: str  # what --source-date-epoch makes reproducible on this engine


async def prepare(
    context: Context,
    builds: list[FlavorBuild],
    specs: list[ReleaseSpec],
    destination: Callable[[], Awaitable[Destination]],
    require_native: bool,
    *,
    merge: bool = True,
    force: bool = False,
) -> Prepared:
    """After the checks that need no engine, in order: the engine's platform (refused with
    `require_native` when it would emulate one), the source's preflight for every target,
    then the registry. One `context` (one upload) serves every flavor."""
    engine = await engine_platform()
    platforms = list(specs[0].tags.sha_arch)
    if require_native:
        refuse_emulated(platforms, engine)
    emulated_here = emulated(platforms, engine)
    if note := emulation_note(emulated_here, engine):
        print(f"release-pipeline: {note}", file=sys.stderr)
    timestamps = layer_timestamp_options()
    if timestamps:  # a later engine: said once, at start-up
        print(f"release-pipeline: {reproducibility(timestamps)}", file=sys.stderr)
    options = [
        await build_options(context, spec, b.target) for b, spec in zip(builds, specs, strict=True)
    ]
    await preflight_source(options[0], [b.target for b in builds])
    dest = await destination()
    jobs = [
        flow.FlavorJob(
            build.name,
            DaggerBackend(dest, option, list(build.smoke)),
            spec,
            _merger(dest, spec, force) if merge else None,
        )
        for build, spec, option in zip(builds, specs, options, strict=True)
    ]
    return Prepared(
        dest, jobs, [str(p) for p in emulated_here], str(engine), reproducibility(timestamps)
    )


def _merger(
    dest: Destination, spec: ReleaseSpec, force: bool
) -> Callable[[], Awaitable[ReleaseReport]]:
    async def merge() -> ReleaseReport:
        async with dest.client() as client:
            return await release.merge(spec, client, force=force)

    return merge
