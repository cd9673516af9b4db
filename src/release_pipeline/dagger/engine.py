"""The Dagger engine side of a release: where the registry is, and build, smoke-test, pull
back and push one platform.

The only module that calls the engine. No engine can run where this project is tested,
so this file is verified by `mypy --strict` against dagger-io's own types and by reading
(`smoke_test` and the service start also against stand-ins for the engine's answers);
everything it decides is delegated to `flow` and `release`, which are tested for real.
"""

from __future__ import annotations

import inspect
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import dagger
from dagger import dag

from release_pipeline.errors import InvalidInput
from release_pipeline.registry.auth import Credentials
from release_pipeline.registry.client import RegistryClient
from release_pipeline.registry.routes import Route, module_route
from release_pipeline.rules.inputs import ImageRef, Platform, parse_image, parse_platform
from release_pipeline.rules.versions import Version
from release_pipeline.verbs import preflight
from release_pipeline.verbs.flow import PlatformFailed
from release_pipeline.verbs.per_arch import Held, held

# The throwaway registry's name: `localhost` is plain HTTP for the engine (its
# `docker.MatchLocalhost`), and the name is aliased to the registry service.
THROWAWAY_IMAGE = "localhost:5000/release-pipeline/image"
# registry:2 (distribution 2.8.3), its multi-arch index digest. Not pulled here (no
# registry is reachable from where this is developed): found pinned in several public
# repositories, one of which names it 2.8.3. A tag would let the engine start whatever
# registry:2 is that day.
THROWAWAY_REGISTRY = (
    "registry:2@sha256:a3d8aaa63ed8681a604f1dea0aa03f100d5895b6a58ace528858a7b332415373"
)
# Output kept in an error: the end of a failing smoke test is what explains it.
ERROR_TAIL = 4000
# Set in the smoke command's environment to a fresh random value for every run: the exec
# is then a new operation the engine has never cached (see `smoke_exec`).
SMOKE_RUN_ENV = "RELEASE_PIPELINE_SMOKE_RUN"

# A test seam, not a setting: tests run the functions in-process on the machine that holds
# their loopback registries, which a function in the module's container cannot reach. Only
# code in the same Python process can set it: no argument, file or environment variable
# reaches it from `dagger call`.
MODULE_SHARES_CALLER_NETWORK = False


@dataclass(frozen=True)
class Destination:
    """Where images are published, and how the registry client reaches that registry."""

    image: ImageRef
    route: Route
    dial: str | None  # the service endpoint `route.host` is dialled at
    username: str
    password: dagger.Secret | None
    credentials: Credentials | None
    service: dagger.Service | None  # a registry inside the engine, or one on the host

    def client(self, *, push: bool = True) -> RegistryClient:
        return RegistryClient.for_route(self.route, self.credentials, push=push, dial=self.dial)

    def authorized(self, container: dagger.Container) -> dagger.Container:
        """`container` with the registry's credentials, for the engine's own pull or push."""
        if self.password is None:
            return container
        return container.with_registry_auth(self.image.host, self.username, self.password)


def route_for(
    image: str, service: bool, plain_http: bool | None, username: str, password: bool
) -> tuple[ImageRef, Route]:
    """Every decision `destination` makes, without the engine: raises InvalidInput for a
    combination that cannot work (`routes.module_route`)."""
    ref = parse_image(image or THROWAWAY_IMAGE)
    if password and not username:
        raise InvalidInput("username", "is required when a password is given")
    if not image and plain_http is False:
        raise InvalidInput(
            "plain_http", "must not be false without --image: the throwaway registry is HTTP"
        )
    route = module_route(
        ref,
        service=service or not image,
        plain_http=plain_http,
        env=os.environ,
        shares_caller_network=MODULE_SHARES_CALLER_NETWORK,
    )
    return ref, route


async def destination(
    image: str,
    username: str,
    password: dagger.Secret | None,
    service: dagger.Service | None,
    plain_http: bool | None = None,
) -> Destination:
    """Resolve the constructor's registry arguments. With no image: a throwaway registry.

    The route is decided first (`route_for`), so a combination that cannot work is refused
    before the first engine call.
    """
    ref, route = route_for(image, service is not None, plain_http, username, password is not None)
    if not image:
        # Shared, not private: the engine runs one instance per service digest in a session
        # (every `release` of one `dagger call`, or of one caller pipeline, gets the same)
        # and stops it when the session ends.
        service = (
            dag.container()
            .from_(THROWAWAY_REGISTRY)
            .with_exposed_port(5000)
            .as_service(use_entrypoint=True)
        )
    credentials = None if password is None else Credentials(username, await password.plaintext())
    if service is None:
        return Destination(ref, route, None, username, password, credentials, None)
    # A service from a caller may not be running yet, and its endpoint only resolves (and
    # our client can only dial it) once it is. The engine dials it on the image's port.
    service = await service.start()
    dial = await service.endpoint(port=route.port)
    return Destination(ref, route, dial, username, password, credentials, service)


@dataclass(frozen=True)
class BuildOptions:
    source: dagger.Directory
    version: Version
    sha: str
    target: str
    dockerfile: str
    build_args: list[tuple[str, str]]
    labels: dict[str, str]  # labels.image_labels: validated before any engine call
    secrets: list[dagger.Secret]  # named: each is mounted at /run/secrets/NAME


async def named_secrets(ids: list[str], secrets: list[dagger.Secret]) -> list[dagger.Secret]:
    """Each secret under its build id. `dockerBuild` mounts a secret at /run/secrets/NAME by
    its name and refuses one without a name (core/container.go, `Build`); a secret given as
    `env://VAR` has only a URI, so it is set again under the id. The plaintext goes from the
    engine to this function and back, never into a build arg, a label or the report."""
    return [
        dag.set_secret(secret_id, await secret.plaintext())
        for secret_id, secret in zip(ids, secrets, strict=True)
    ]


def layer_timestamp_options(publish: object = dagger.Container.publish) -> list[str]:
    """The options of the engine's `publish` that could rewrite layer timestamps.

    At engine v0.21 there are none: the image writer rewrites them only when
    `RewriteTimestamp` is set, and nothing in the engine's container publish sets it
    (engine/engineutil/imageexport/writer.go), so `--source-date-epoch` makes the labels
    reproducible, not the layers. The runtime generates the SDK from the engine's own schema,
    so a later engine that adds such an option shows it here; the release then says so.
    """
    names = inspect.signature(publish).parameters  # type: ignore[arg-type]
    return [n for n in names if "timestamp" in n or "epoch" in n]


def reproducibility(options: list[str]) -> str:
    if not options:
        return (
            "labels only: this engine's publish keeps layer timestamps (no option to rewrite "
            "them), so images are not reproducible bit for bit"
        )
    return (
        f"labels only: this engine's publish offers {', '.join(options)}, which this module "
        "does not use yet"
    )


async def engine_platform() -> Platform:
    """The platform the engine runs natively: the machine it runs on (a CI runner's)."""
    return parse_platform(str(await dag.default_platform()), "engine platform")


@dataclass(frozen=True)
class DaggerBackend:
    """`flow.Backend` on a Dagger engine."""

    dest: Destination
    options: BuildOptions
    smoke_command: list[str]

    async def existing(self, tag: str) -> Held | None:
        async with self.dest.client(push=False) as client:
            return await held(client, self.dest.image.repository, tag)

    async def build(self, platform: Platform) -> dagger.Container:
        return build_container(self.options, platform)

    async def pull(self, digest: str, platform: Platform) -> dagger.Container:
        # The engine picks this platform's image when `digest` is a buildx index. Registry
        # credentials belong to the engine session, so the ones set here serve the pull.
        container = self.dest.authorized(dag.container(platform=dagger.Platform(str(platform))))
        try:
            return await container.from_(
                f"{self.dest.image}@{digest}", registry_service=self.dest.service
            ).sync()
        except dagger.QueryError as exc:
            raise PlatformFailed(platform, "pull", str(exc)[-ERROR_TAIL:]) from None

    async def smoke_test(self, image: dagger.Container, platform: Platform) -> None:
        await smoke_test(image, self.smoke_command, platform)

    async def publish(self, image: dagger.Container, platform: Platform, tag: str) -> str:
        try:
            ref = await self.dest.authorized(image).publish(
                f"{self.dest.image}:{tag}", registry_service=self.dest.service
            )
        except dagger.QueryError as exc:
            raise PlatformFailed(platform, "push", str(exc)[-ERROR_TAIL:]) from None
        return ref.rpartition("@")[2]


def build_container(options: BuildOptions, platform: Platform) -> dagger.Container:
    """`docker build --target` for one platform, with the release's build args and labels."""
    args = [
        dagger.BuildArg("VERSION", str(options.version)),
        dagger.BuildArg("GIT_COMMIT", options.sha),
        *(dagger.BuildArg(name, value) for name, value in options.build_args),
    ]
    container = options.source.docker_build(
        dockerfile=options.dockerfile,
        platform=dagger.Platform(str(platform)),
        build_args=args,
        target=options.target,
        secrets=options.secrets,
    )
    for name, value in options.labels.items():
        container = container.with_label(name, value)
    return container


async def smoke_test(container: dagger.Container, command: list[str], platform: Platform) -> str:
    """Run `command` in the image; its stdout, or `PlatformFailed` with its exit code and the
    tail of its stderr."""
    try:
        # Build first, so a failing Dockerfile step (an ExecError too) is a build failure.
        container = await container.sync()
    except dagger.QueryError as exc:
        raise PlatformFailed(platform, "build", _query_failure(exc)) from None
    run = smoke_exec(container, command)
    try:
        code = await run.exit_code()
        stderr = "" if code == 0 else await run.stderr()
    except dagger.ExecError as exc:  # 128-191 (killed by a signal): outside ReturnType.ANY
        code, stderr = exc.exit_code, exc.stderr
    except dagger.QueryError as exc:  # the image built but the command could not run
        raise PlatformFailed(platform, "smoke test", _query_failure(exc)) from None
    if code == 0:
        return await run.stdout()
    raise PlatformFailed(platform, "smoke test", exec_failure(command, code, stderr))


def smoke_exec(container: dagger.Container, command: list[str]) -> dagger.Container:
    """The smoke command as an exec the engine must run now, not replay.

    `withExec` is a persistable, cached operation (`core/schema/container.go`, the
    `withExec` field is `IsPersistable`), and `ReturnType.ANY` makes a failing exit 1 a
    successful, cacheable result; `cache="never"` on a function does not reach the
    operations inside it. An environment variable holding a fresh random value is part of
    the exec's definition, so two runs never share a cache key.
    """
    nonce = secrets.token_hex(16)
    return container.with_env_variable(SMOKE_RUN_ENV, nonce).with_exec(
        command, expect=dagger.ReturnType.ANY
    )


def exec_failure(command: list[str], code: int, stderr: str) -> str:
    """`cmd` exited N (killed by signal S), then the end of stderr: what explains a failure."""
    signal = f" (killed by signal {code - 128})" if 128 < code < 192 else ""
    return f"`{' '.join(command)}` exited {code}{signal}:\n{stderr[-ERROR_TAIL:]}"


def _query_failure(exc: dagger.QueryError) -> str:
    # str(ExecError) is only the message; its command, code and stderr are fields.
    if isinstance(exc, dagger.ExecError):
        return exec_failure(exc.command or [], exc.exit_code, exc.stderr)
    return str(exc)[-ERROR_TAIL:]


@dataclass(frozen=True)
class DirectoryTree:
    """`context.ContextTree` on the module's `source`: a few engine reads, no build. The
    engine's API does not read a symlink's target, so preflight notes a path through one as
    not checked rather than guessing."""

    directory: dagger.Directory

    async def kind(self, path: str) -> Literal["file", "dir", "symlink"] | None:
        if path and await self.directory.exists(path, expected_type=dagger.ExistsType.SYMLINK_TYPE):
            return "symlink"
        if await self.directory.exists(path or ".", expected_type=dagger.ExistsType.DIRECTORY_TYPE):
            return "dir"
        if await self.directory.exists(path, expected_type=dagger.ExistsType.REGULAR_TYPE):
            return "file"
        return None

    async def entries(self, path: str) -> list[str]:
        return [name.rstrip("/") for name in await self.directory.entries(path=path or ".")]

    async def read_text(self, path: str) -> str:
        return await self.directory.file(path).contents()

    async def readlink(self, path: str) -> str | None:
        return None


async def preflight_source(options: BuildOptions, targets: list[str]) -> None:
    """The CLI's `preflight` on the build's source for every target built from it, before
    anything is built: PreflightFailed names every COPY that would fail."""
    build_args = {"VERSION": str(options.version), "GIT_COMMIT": options.sha}
    build_args.update(options.build_args)
    tree = DirectoryTree(options.source)
    report = await preflight.check(tree, options.dockerfile, targets, build_args)
    if not report.ok:
        raise preflight.PreflightFailed(report)


@dataclass
class DirectoryManifests:
    """`pin_tree.ManifestTree` on a Dagger `Directory`: the files the engine synced, and
    the edited directory `pin` returns. A synced symlink that leaves the directory has no
    target inside the engine's copy, so reading it fails there."""

    directory: dagger.Directory

    async def files(self) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for pattern in ("**/*.yaml", "**/*.yml", "**/Kustomization"):
            for path in await self.directory.glob(pattern):
                if not any(part.startswith(".") for part in path.split("/")):
                    text = await self.directory.file(path).contents()
                    found[path] = text.encode()
        return found

    async def write_all(self, files: Mapping[str, bytes]) -> None:
        for path, data in files.items():
            self.directory = self.directory.with_new_file(path, data.decode())
