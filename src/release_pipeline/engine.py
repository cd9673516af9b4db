"""The Dagger engine side of a release: build, smoke-test and push one platform.

The only module that calls the engine. No engine can run where this project is tested,
so this file is verified by `mypy --strict` against dagger-io's own types and by reading;
everything it decides is delegated to `flow` and `release`, which are tested for real.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import dagger
from dagger import dag

from .auth import Credentials
from .errors import InvalidInput
from .flow import PlatformFailed
from .inputs import ImageRef, Platform, parse_image
from .per_arch import Held, held
from .registry import RegistryClient
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


async def destination(
    image: str, username: str, password: dagger.Secret | None, service: dagger.Service | None
) -> Destination:
    """Resolve the constructor's registry arguments. With no image: a throwaway registry."""
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
        return Destination(
            ref, await service.endpoint(), False, username, password, credentials, service
        )
    return Destination(ref, ref.host, not ref.loopback, username, password, credentials, None)


@dataclass(frozen=True)
class BuildOptions:
    source: dagger.Directory
    version: Version
    sha: str
    target: str
    dockerfile: str
    build_args: list[tuple[str, str]]
    source_url: str


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
        container = dag.container(platform=dagger.Platform(str(platform)))
        if self.dest.password is not None:
            container = container.with_registry_auth(
                self.dest.image.host, self.dest.username, self.dest.password
            )
        try:
            return await container.from_(
                f"{self.dest.image}@{digest}", registry_service=self.dest.service
            ).sync()
        except dagger.QueryError as exc:
            raise PlatformFailed(platform, "pull", str(exc)[-ERROR_TAIL:]) from None

    async def smoke_test(self, image: dagger.Container, platform: Platform) -> None:
        await smoke_test(image, self.smoke_command, platform)

    async def publish(self, image: dagger.Container, platform: Platform, tag: str) -> str:
        if self.dest.password is not None:
            image = image.with_registry_auth(
                self.dest.image.host, self.dest.username, self.dest.password
            )
        try:
            ref = await image.publish(
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
    labels = {
        "org.opencontainers.image.version": str(options.version),
        "org.opencontainers.image.revision": options.sha,
        "org.opencontainers.image.created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if options.source_url:
        labels["org.opencontainers.image.source"] = options.source_url
    for name, value in labels.items():
        container = container.with_label(name, value)
    return container


async def smoke_test(container: dagger.Container, command: list[str], platform: Platform) -> str:
    """Run `command` in the image; its stdout, or `PlatformFailed` with its stderr."""
    run = container.with_exec(command, expect=dagger.ReturnType.ANY)
    try:
        code = await run.exit_code()
    except dagger.QueryError as exc:  # the build itself failed: exit_code forces it
        raise PlatformFailed(platform, "build", str(exc)[-ERROR_TAIL:]) from None
    if code != 0:
        stderr = await run.stderr()
        raise PlatformFailed(
            platform, "smoke test", f"`{' '.join(command)}` exited {code}:\n{stderr[-ERROR_TAIL:]}"
        )
    return await run.stdout()
