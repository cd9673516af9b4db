"""The argument types of the module's functions: what `dagger call --help` says of each, and
the Ignore patterns the CLI applies to `--source` before anything is uploaded.

A module of its own so main.py holds the functions only. Names are imported into main.py,
where the SDK resolves the annotations (`typing.get_type_hints` with `include_extras`, so
`Doc` and `Ignore` are read from these aliases).
"""

from __future__ import annotations

from typing import Annotated

import dagger
from dagger import Doc, Ignore

from release_pipeline.rules.context import SOURCE_IGNORE

# No DefaultPath: called with -m or from another module, "." is this module's own directory,
# not the repository being released. The Ignore is applied by the CLI while it uploads the
# directory, and by the engine to a Directory another module passes (rules/context.py).
SourceDir = Annotated[
    dagger.Directory | None,
    Ignore(list(SOURCE_IGNORE)),
    Doc(
        "build context with the Dockerfile, e.g. --source=. (required unless --whole-source); "
        "uploaded without " + ", ".join(SOURCE_IGNORE)
    ),
]
WholeSourceArg = Annotated[
    dagger.Directory | None,
    Doc(
        "instead of --source: the build context uploaded whole, for a build that needs a "
        "path --source leaves out (.git, node_modules, .env*); --source-ignore still applies"
    ),
]
SourceIgnoreArg = Annotated[
    list[str] | None,
    Doc(
        "more .dockerignore-style patterns left out of the context before the build (after "
        "the upload: the CLI only knows --source's own list)"
    ),
]
VersionArg = Annotated[str, Doc("SemVer version to release, with or without v (e.g. v0.22.8)")]
ShaArg = Annotated[str, Doc("full 40-hex git commit SHA the images are built from")]
PlatformArg = Annotated[str, Doc("os/arch[/variant], e.g. linux/arm64")]
SmokeArg = Annotated[
    list[str],
    Doc(
        "command run in each built image before anything is pushed, "
        "e.g. node,./scripts/smoke-test-workers.js"
    ),
]
TargetArg = Annotated[str, Doc("Dockerfile target to build")]
DockerfileArg = Annotated[str, Doc("path of the Dockerfile in the source")]
BuildArgArg = Annotated[
    list[str] | None,
    Doc("extra KEY=VALUE build args (VERSION and GIT_COMMIT are set by the release)"),
]
SourceUrlArg = Annotated[str, Doc("repository URL for the org.opencontainers.image.source label")]
# Text, not Int: GraphQL's Int is 32-bit (graphql-core, which builds the SDK's queries,
# refuses 2**31 and above), so an Int would end on 2038-01-19.
SourceDateEpochArg = Annotated[
    str | None,
    Doc(
        "commit time in whole seconds since the epoch, as digits, e.g. $(git log -1 "
        "--format=%ct); sets org.opencontainers.image.created (omitted: no created label, "
        "never the clock)"
    ),
]
IndexSourceArg = Annotated[
    str,
    Doc(
        "repository URL for the index's org.opencontainers.image.source annotation "
        "(default: the images' common source label)"
    ),
]
ForceArg = Annotated[
    bool,
    Doc(
        "overwrite version/SHA tags that hold other digests; rebuild and "
        "re-push a per-arch image that already exists"
    ),
]
FlavorsArg = Annotated[
    str,
    Doc(
        'every flavor built together, the workflow\'s flavors input: JSON [{"name", "flavor", '
        '"target", "smoke"}] (empty: one flavor, the constructor\'s --flavor with --target and '
        "--smoke-command)"
    ),
]
RequireNativeArg = Annotated[
    bool,
    Doc("refuse, before any build, a platform this engine would emulate under QEMU"),
]
BuildSecretIdArg = Annotated[
    list[str] | None,
    Doc("the id of each --build-secret, in order: RUN --mount=type=secret,id=ID"),
]
BuildSecretArg = Annotated[
    list[dagger.Secret] | None,
    Doc(
        "secrets for RUN --mount=type=secret, e.g. env://NPM_TOKEN, named by --build-secret-id; "
        "never a build arg or label"
    ),
]
OptionalSmokeArg = Annotated[
    list[str] | None,
    Doc(
        "command run in each built image before anything is pushed, e.g. "
        "node,./scripts/smoke-test-workers.js (required unless --flavors gives each flavor's)"
    ),
]
