"""The Dagger `release` and `publish_platform` run preflight on their `source` first: a source
that would fail its build builds nothing, offline through the SDK's `get_result` (what the
engine's runtime calls).

No engine runs here, so the module's `source` directory is read through a `LocalTree` on the
fixture in place of the engine adapter, the engine's platform (asked first, for
`--require-native`) is an arm64 one, and the first engine step after the check
(`destination`, which starts or reaches the registry before any build) is replaced by a
recorder: reaching it is what "the check let the build go ahead" means.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagger
import pytest
from dagger.mod._exceptions import FunctionError
from support.fixture_repo import DOCKERFILE, copy_fixture

from release_pipeline.dagger import builds, engine, main, settings
from release_pipeline.dagger.engine import DirectoryTree
from release_pipeline.rules.inputs import Platform, parse_platform
from release_pipeline.verbs.context import LocalTree
from release_pipeline.verbs.preflight import PreflightFailed, check

MODULE = main.ReleasePipeline.__dagger_module__  # type: ignore[attr-defined]
SHA = "c804cace" + "5" * 32
ARGS = {
    "source": "Directory:x",
    "version": "1.2.3",
    "sha": SHA,
    "smoke_command": ["node", "scripts/smoke-test-workers.js"],
    "target": "workers",
    "dockerfile": DOCKERFILE,
}
IMAGE = {"image": "ghcr.io/testplanit/testplanit"}
CALLS = {"release": ({}, ARGS), "publish_platform": (IMAGE, {**ARGS, "platform": "linux/arm64"})}


class ReachedTheEngine(Exception):
    pass


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fixture as the module's source; `destination` records that it was reached."""
    checkout = copy_fixture(tmp_path / "repo")
    seen: list[dagger.Directory] = []

    def local_tree(directory: dagger.Directory) -> LocalTree:
        seen.append(directory)
        return LocalTree(checkout)

    async def reached(*_: Any) -> None:
        raise ReachedTheEngine

    async def arm64_engine() -> Platform:  # the one engine read before preflight
        return parse_platform("linux/arm64")

    monkeypatch.setattr(builds, "engine_platform", arm64_engine)
    monkeypatch.setattr(engine, "DirectoryTree", local_tree)
    monkeypatch.setattr(settings, "destination", reached)
    return checkout


@pytest.mark.parametrize("function", sorted(CALLS))
async def test_a_source_that_fails_preflight_builds_nothing(repo: Path, function: str) -> None:
    (repo / "pnpm-lock.yaml").unlink()
    state, args = CALLS[function]
    with pytest.raises(FunctionError) as err:
        await MODULE.get_result("ReleasePipeline", state, function, args)
    cause = err.value.__cause__
    assert isinstance(cause, PreflightFailed)  # not ReachedTheEngine: nothing went further
    assert [p.message for p in cause.report.problems] == [
        "COPY source 'pnpm-lock.yaml' not found in the build context"
    ] * 2
    assert "preflight failed, nothing built:" in str(err.value)
    assert f"{DOCKERFILE}:" in str(err.value)


@pytest.mark.parametrize("function", sorted(CALLS))
async def test_a_missing_target_fails_before_the_engine(repo: Path, function: str) -> None:
    state, args = CALLS[function]
    with pytest.raises(FunctionError) as err:
        await MODULE.get_result("ReleasePipeline", state, function, {**args, "target": "web"})
    assert isinstance(err.value.__cause__, PreflightFailed)
    assert "target 'web' is not a stage" in str(err.value)


@pytest.mark.parametrize("function", sorted(CALLS))
async def test_a_source_that_passes_goes_on_to_the_engine(repo: Path, function: str) -> None:
    state, args = CALLS[function]
    with pytest.raises(FunctionError) as err:
        await MODULE.get_result("ReleasePipeline", state, function, args)
    assert isinstance(err.value.__cause__, ReachedTheEngine)


async def test_build_args_of_the_release_reach_the_check(repo: Path) -> None:
    """VERSION, GIT_COMMIT and --build-arg values expand in COPY paths as in the build."""
    dockerfile = repo / DOCKERFILE
    copy = "ARG VERSION\nCOPY config/${SELF_HOSTED}-${VERSION}.json /\n"
    text = dockerfile.read_text()
    dockerfile.write_text(text.replace("ARG SELF_HOSTED\n", "ARG SELF_HOSTED\n" + copy))
    args = {**ARGS, "build_arg": ["SELF_HOSTED=true"]}
    with pytest.raises(FunctionError) as err:
        await MODULE.get_result("ReleasePipeline", {}, "release", args)
    assert "(config/true-1.2.3.json) not found in the build context" in str(err.value)
    (repo / "config").mkdir()
    (repo / "config" / "true-1.2.3.json").write_text("{}")
    with pytest.raises(FunctionError) as err:
        await MODULE.get_result("ReleasePipeline", {}, "release", args)
    assert isinstance(err.value.__cause__, ReachedTheEngine)


@dataclass(frozen=True)
class StandInFile:
    path: Path

    async def contents(self) -> str:
        return self.path.read_text()


@dataclass(frozen=True)
class StandInDirectory:
    """What the engine answers for `Directory.exists/entries/file` on a directory upload:
    paths relative to its root, directories listed with a trailing '/'."""

    root: Path

    async def exists(self, path: str, *, expected_type: dagger.ExistsType) -> bool:
        target = self.root / path
        if expected_type is dagger.ExistsType.DIRECTORY_TYPE:
            return target.is_dir()
        return target.is_file()

    async def entries(self, *, path: str) -> list[str]:
        return [p.name + "/" if p.is_dir() else p.name for p in (self.root / path).iterdir()]

    def file(self, path: str) -> StandInFile:
        return StandInFile(self.root / path)


async def test_the_engine_adapter_reads_a_directory_as_the_check_needs(tmp_path: Path) -> None:
    checkout = copy_fixture(tmp_path / "repo")
    source = StandInDirectory(checkout)
    tree = DirectoryTree(source)  # type: ignore[arg-type]
    assert (await check(tree, DOCKERFILE, ["production", "workers"], {})).problems == []
    (checkout / "packages" / "mcp-server" / "package.json").unlink()
    (checkout / ".npmrc").unlink()
    report = await check(tree, DOCKERFILE, ["workers"], {})
    assert [p.message for p in report.problems] == [
        "COPY source 'packages/mcp-server/package.json' not found in the build context"
    ] * 2
    assert any("'.npmrc*' matches nothing" in note for note in report.notes)
