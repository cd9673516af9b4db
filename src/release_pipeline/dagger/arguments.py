"""The arguments several module functions share, each with the `Doc` `dagger call --help`
shows (split from `main`, so the functions read as what they do).
"""

from typing import Annotated

import dagger
from dagger import Doc

# No DefaultPath: called with -m or from another module, "." is this module's own directory,
# not the repository being released.
SourceDir = Annotated[
    dagger.Directory, Doc("build context with the Dockerfile (required: e.g. --source=.)")
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
