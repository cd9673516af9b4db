"""The module installed and loaded the way the engine's Python runtime does it (v0.21).

No engine can run here, so `support/runtime.py` repeats the runtime's steps with the same
tools: dagger-io's source re-versioned to 0.0.0 at ./sdk, uv 0.10.3 with the runtime's
settings, both install paths it has, then `load_module()` and registration with the three
environment variables it sets. A pin the runtime's SDK copy cannot satisfy, a stale or
missing uv.lock, or a main object the runtime cannot find fails here. Needs PyPI.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from support.runtime import download_sdk, module_context, module_names, runtime_env, uv_bin

from release_pipeline.dagger.main import ReleasePipeline

# What /runtime does after the install (template/runtime.py -> dagger.mod.cli), minus the
# engine connection: load the main object, then build its registration with the one engine
# call registration makes answered offline.
LOADER = """
import asyncio, importlib.metadata, json, os
import dagger
from dagger.client import gen
from dagger.mod.cli import load_module

async def offline_id(self):
    return "ModuleID:offline"

gen.Module.id = offline_id
mod = load_module()
asyncio.run(mod._typedefs())
main = mod.get_object(os.environ["DAGGER_MAIN_OBJECT"])
print(json.dumps({
    "dagger_io": importlib.metadata.version("dagger-io"),
    "dagger_path": dagger.__file__,
    "main": main.cls.__name__,
    "functions": sorted(main.functions),
}))
"""


@pytest.fixture(scope="session")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The SDK source and uv's cache, fetched once for both install paths."""
    root = tmp_path_factory.mktemp("runtime-downloads")
    return download_sdk(root / "sdist"), root / "uv-cache"


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(cmd[1:])} failed:\n{done.stderr[-3000:]}"
    return done.stdout


def names_from_config(module: Path) -> dict[str, str]:
    name = json.loads((module / "dagger.json").read_text())["name"]
    project = tomllib.loads((module / "pyproject.toml").read_text())["project"]["name"]
    return module_names(name, project)


@pytest.mark.parametrize("with_lock", [True, False], ids=["uv.lock", "no-lock"])
def test_the_engine_runtime_installs_and_loads_the_module(
    downloads: tuple[Path, Path], tmp_path: Path, with_lock: bool
) -> None:
    sdk_source, cache = downloads
    uv = uv_bin()
    module = module_context(tmp_path / "src", sdk_source, keep_lock=with_lock)
    venv = tmp_path / "venv"
    env = runtime_env(cache, **names_from_config(module))
    if with_lock:
        env |= {
            "UV_SYSTEM_PYTHON": "1",
            "UV_PROJECT_ENVIRONMENT": str(venv),
            "UV_PYTHON": sys.executable,
        }
        # The committed lock must be current: the runtime's `uv lock` would otherwise
        # re-resolve on every run and the dependencies would drift.
        run([uv, "lock", "--locked"], module, env)
        run([uv, "lock"], module, env)  # WithUpdates
        run([uv, "sync", "--no-dev"], module, env)  # WithInstall
    else:
        run([uv, "venv", "--python", sys.executable, str(venv)], module, env)
        env["VIRTUAL_ENV"] = str(venv)
        run([uv, "pip", "install", "-e", "./sdk", "-e", "."], module, env)
        run([uv, "pip", "check"], module, env)
    loader = tmp_path / "runtime.py"
    loader.write_text(LOADER)
    loaded = json.loads(run([str(venv / "bin" / "python"), str(loader)], module, env))

    assert env["DAGGER_MAIN_OBJECT"] == "ReleasePipeline"
    assert loaded["main"] == "ReleasePipeline"
    assert loaded["dagger_io"] == "0.0.0"  # the SDK copy at ./sdk, not a PyPI release
    assert Path(loaded["dagger_path"]).is_relative_to(module / "sdk")
    expected = ReleasePipeline.__dagger_module__.get_object("ReleasePipeline").functions  # type: ignore[attr-defined]
    assert {"release", "publish_platform", "merge"} <= set(expected)
    assert set(loaded["functions"]) == {"", *expected}
