"""The Dagger `pin` function: the same verb on a Directory, which it returns edited.

No engine runs here: the function is called as the runtime would after converting its
arguments, with a stand-in Directory that answers `glob`, `file().contents()` and
`with_new_file` from a dict, against the real registry of tests/ops_repo.py.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from ops_repo import REPO, seed_history, tree
from support.registry import Registry

from release_pipeline.dagger.main import ReleasePipeline
from release_pipeline.errors import InvalidInput, ManifestRefused, PinDrift

HELM = "image.repository,image.tag,image.digest"


@dataclass
class StandInFile:
    text: str

    async def contents(self) -> str:
        return self.text


@dataclass
class StandInDirectory:
    files: dict[str, str] = field(default_factory=dict)

    async def glob(self, pattern: str) -> list[str]:
        suffix = pattern.removeprefix("**/")
        return [p for p in self.files if fnmatch.fnmatch(p.rsplit("/", 1)[-1], suffix)]

    def file(self, path: str) -> StandInFile:
        return StandInFile(self.files[path])

    def with_new_file(self, path: str, contents: str) -> StandInDirectory:
        return StandInDirectory({**self.files, path: contents})


def standin(image: str) -> Any:
    return StandInDirectory({p: d.decode() for p, d in tree(image).items()})


async def test_pin_returns_the_edited_directory(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    digests = await anyio.to_thread.run_sync(seed_history, registry.host, capsys)  # CLI runs
    image = f"{registry.host}/{REPO}"
    module = ReleasePipeline(image=image)
    given = standin(image)
    edited = await module.pin(manifests=given, version="0.22.7", helm_keys=HELM)
    pinned = f"{image}@{digests['workers/0.22.7']}"
    assert f"image: {pinned}\r\n" in edited.files["apps/workers.yaml"]
    assert given.files == standin(image).files  # the argument is not changed
    assert await module.pin(manifests=edited, check=True, helm_keys=HELM) is not None
    with pytest.raises(PinDrift, match=r"apps/workers\.yaml:16"):
        await module.pin(manifests=given, check=True, helm_keys=HELM)


async def test_pin_needs_an_image_and_a_release_before_anything_is_read() -> None:
    with pytest.raises(InvalidInput, match="image: is required by pin"):
        await ReleasePipeline().pin(manifests=StandInDirectory(), version="1.0.0")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="version: is required"):
        await ReleasePipeline(image="ghcr.io/a/b").pin(manifests=StandInDirectory())  # type: ignore[arg-type]


async def test_promote_with_pin_returns_the_pinned_manifests(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    digests = await anyio.to_thread.run_sync(seed_history, registry.host, capsys)
    image = f"{registry.host}/{REPO}"
    done = await ReleasePipeline(image=image).promote(
        from_="0.22.6", pin=standin(image), helm_keys=HELM
    )
    assert done.digest == digests["workers/0.22.6"] and done.yanked == ["0.22.7"]
    assert f"image: {image}@{done.digest}\r\n" in done.manifests.files["apps/workers.yaml"]


async def test_pin_through_an_overlay_kustomization(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    """An overlay exported alone (its base outside the Directory) gets the entry added."""
    digests = await anyio.to_thread.run_sync(seed_history, registry.host, capsys)
    image = f"{registry.host}/{REPO}"
    overlay: Any = StandInDirectory({"kustomization.yaml": "resources:\n  - ../../base\n"})
    with pytest.raises(ManifestRefused, match=r"builds \.\./\.\./base, which pin cannot read"):
        await ReleasePipeline(image=image).pin(
            manifests=overlay, version="0.22.7", kustomization="."
        )
    edited = await ReleasePipeline(image=image).pin(
        manifests=overlay,
        version="0.22.7",
        kustomization=".",
        allow_unread_bases=True,
    )
    assert edited.files["kustomization.yaml"] == (
        f"resources:\n  - ../../base\nimages:\n- name: {image}\n"
        f"  digest: {digests['workers/0.22.7']}\n"
    )
    with pytest.raises(InvalidInput, match="kustomization: must be a path inside"):
        await ReleasePipeline(image=image).pin(
            manifests=overlay,
            version="0.22.7",
            kustomization="../base",
        )


async def test_status_reads_manifests_as_pin_does() -> None:
    """Its manifest flags are pin's, refused without manifests before anything is read."""
    module = ReleasePipeline(image="ghcr.io/a/b")
    with pytest.raises(InvalidInput, match="helm_keys: is for --manifests"):
        await module.status(helm_keys=HELM)
    with pytest.raises(InvalidInput, match="kustomization: must be a path inside"):
        await module.status(manifests=StandInDirectory(), kustomization="/etc")  # type: ignore[arg-type]
