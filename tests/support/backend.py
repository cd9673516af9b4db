"""`flow.Backend` with no engine: umoci builds, skopeo pushes and pulls, a real smoke command.

The same contract as the Dagger backend. Built images carry the revision label the engine
sets (`org.opencontainers.image.revision` = the commit). A smoke test unpacks the image
(built, or pulled back from the registry by digest) with umoci and runs the command with
`ROOTFS` pointing at its root filesystem and `PLATFORM` set, so a command can judge the
image's own content, the way a container start does.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import anyio

from release_pipeline.registry.client import RegistryClient
from release_pipeline.rules.inputs import Platform
from release_pipeline.verbs import flow
from release_pipeline.verbs.per_arch import Held, held

from .image_layouts import build_image
from .image_tools import run_tool
from .images import push_image

REVISION = "org.opencontainers.image.revision"


@dataclass(frozen=True)
class LocalImage:
    platform: Platform
    layout: Path  # an OCI layout holding the image as ref "img"
    seed: str  # what a rebuild needs to push the same bytes; "" for pulled images


@dataclass
class LocalBackend:
    host: str
    repo: str
    sha: str
    smoke: list[str]
    workdir: Path  # pulled images and unpacked bundles go here (a test's tmp_path)
    seed: str = "v1"
    events: list[tuple[str, str]] = field(default_factory=list)

    async def existing(self, tag: str) -> Held | None:
        async with RegistryClient(self.host, secure=False) as client:
            return await held(client, self.repo, tag)

    async def build(self, platform: Platform) -> LocalImage:
        layout = await anyio.to_thread.run_sync(
            partial(
                build_image,
                arch=platform.architecture,
                variant=platform.variant,
                labels={REVISION: self.sha},
                seed=self.seed,
            )
        )
        self.events.append(("build", str(platform)))
        return LocalImage(platform, layout, self.seed)

    async def pull(self, digest: str, platform: Platform) -> LocalImage:
        layout = Path(tempfile.mkdtemp(prefix="pulled-", dir=self.workdir)) / "layout"
        cmd = ["skopeo", "--insecure-policy", "copy", "--quiet", "--src-tls-verify=false"]
        cmd += ["--override-os", platform.os, "--override-arch", platform.architecture]
        if platform.variant:
            cmd += ["--override-variant", platform.variant]
        cmd += [f"docker://{self.host}/{self.repo}@{digest}", f"oci:{layout}:img"]
        await anyio.to_thread.run_sync(run_tool, cmd)
        self.events.append(("pull", str(platform)))
        return LocalImage(platform, layout, "")

    async def smoke_test(self, image: LocalImage, platform: Platform) -> None:
        self.events.append(("smoke", str(platform)))
        bundle = Path(tempfile.mkdtemp(prefix="bundle-", dir=self.workdir)) / "bundle"
        unpack = ["umoci", "unpack", "--rootless", "--image", f"{image.layout}:img", str(bundle)]
        await anyio.to_thread.run_sync(run_tool, unpack)
        env = {"PLATFORM": str(platform), "ROOTFS": str(bundle / "rootfs"), "PATH": "/usr/bin:/bin"}
        done = await anyio.run_process(self.smoke, env=env, check=False)
        if done.returncode != 0:
            raise flow.PlatformFailed(platform, "smoke test", done.stderr.decode())

    async def publish(self, image: LocalImage, platform: Platform, tag: str) -> str:
        self.events.append(("publish", str(platform)))
        return await anyio.to_thread.run_sync(
            partial(
                push_image,
                self.host,
                self.repo,
                tag,
                arch=platform.architecture,
                variant=platform.variant,
                labels={REVISION: self.sha},
                seed=image.seed,
            )
        )
