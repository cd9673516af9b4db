"""The Dagger engine side of a release: where the registry is, and build, smoke-test, pull
back and push one platform.

The only module that calls the engine. No engine can run where this project is tested,
so this file is verified by `mypy --strict` against dagger-io's own types and by reading
(`smoke_test` and the service start also against stand-ins for the engine's answers);
everything it decides is delegated to `flow` and `release`, which are tested for real.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import dagger
from dagger import dag

from . import preflight
from .auth import Credentials
from .errors import InvalidInput
from .flow import PlatformFailed
from .inputs import ImageRef, Platform, parse_image
from .per_arch import Held, held
from .registry import RegistryClient
from .transport import use_plain_http
from .versions import Version

# Engines speak plain HTTP to localhost only, and map that host to the registry service.
THROWAWAY_IMAGE = "localhost:5000/release-pipeline/image"
# Output kept in an error: the end of a failing smoke test is what explains it.
ERROR_TAIL = 4000


@dataclass(frozen=True)
class Destination:
    """Where images are published, and how the registry client reaches that registry."""

    image: ImageRef
    api_host: str
    secure: bool
    username: str
    password: dagger.Secret | None
    credentials: Credentials | None
    service: dagger.Service | None  # a registry inside the engine, or one on the host

    def client(self, *, push: bool = True) -> RegistryClient:
        return RegistryClient(
            self.api_host, secure=self.secure, credentials=self.credentials, push=push
        )

    def authorized(self, container: dagger.Container) -> dagger.Container:
        """`container` with the registry's credentials, for the engine's own pull or push."""
        if self.password is None:
            return container
        return container.with_registry_auth(self.image.host, self.username, self.password)


async def destination(
    image: str,
    username: str,
    password: dagger.Secret | None,
    service: dagger.Service | None,
    plain_http: bool | None = None,
) -> Destination:
    """Resolve the constructor's registry arguments. With no image: a throwaway registry.

    `plain_http` None keeps the defaults: plain HTTP through a service or to a loopback host.
    """
    if not image:
        throwaway = (
            dag.container()
            .from_("registry:2")
            .with_exposed_port(5000)
            .as_service(use_entrypoint=True)
        )
        await throwaway.start()  # one running instance, so pushes and reads share storage
        return Destination(
            parse_image(THROWAWAY_IMAGE),
            await throwaway.endpoint(port=5000),
            False,
            "",
            None,
            None,
            throwaway,
        )
    ref = parse_image(image)
    if password is not None and not username:
        raise InvalidInput("username", "is required when a password is given")
    credentials = None if password is None else Credentials(username, await password.plaintext())
    if service is not None:
        # A service from a caller may not be running yet, and its endpoint only resolves
        # (and our registry client can only reach it) once it is.
        service = await service.start()
        secure = plain_http is False  # a service endpoint is a tunnel: plain HTTP unless told
        return Destination(
            ref, await service.endpoint(), secure, username, password, credentials, service
        )
    secure = not use_plain_http(ref, plain_http)
    return Destination(ref, ref.host, secure, username, password, credentials, None)


@dataclass(frozen=True)
class BuildOptions:
    source: dagger.Directory
    version: Version
    sha: str
    target: str
    dockerfile: str
    build_args: list[tuple[str, str]]
    labels: dict[str, str]  # labels.image_labels: validated before any engine call


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
    run = container.with_exec(command, expect=dagger.ReturnType.ANY)
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
    """`preflight.ContextTree` on the module's `source`: a few engine reads, no build."""

    directory: dagger.Directory

    async def kind(self, path: str) -> Literal["file", "dir"] | None:
        if await self.directory.exists(path or ".", expected_type=dagger.ExistsType.DIRECTORY_TYPE):
            return "dir"
        if await self.directory.exists(path, expected_type=dagger.ExistsType.REGULAR_TYPE):
            return "file"
        return None

    async def entries(self, path: str) -> list[str]:
        return [name.rstrip("/") for name in await self.directory.entries(path=path or ".")]

    async def read_text(self, path: str) -> str:
        return await self.directory.file(path).contents()


async def preflight_source(options: BuildOptions) -> None:
    """The CLI's `preflight` on the build's source, before anything is built: PreflightFailed
    names every COPY that would fail."""
    build_args = {"VERSION": str(options.version), "GIT_COMMIT": options.sha}
    build_args.update(options.build_args)
    tree = DirectoryTree(options.source)
    report = await preflight.check(tree, options.dockerfile, [options.target], build_args)
    if not report.ok:
        raise preflight.PreflightFailed(report)
