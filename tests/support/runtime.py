"""Prepare this module the way Dagger's Python runtime for engine v0.21 does, without an engine.

Read from dagger/dagger, branch backport-0.21, `sdk/python/runtime/` (main.go, discovery.go,
python.go, images/): the runtime mounts the module's context, drops any `.venv`/`sdk` in it,
copies the engine's bundled SDK source into `./sdk` (its pyproject says version 0.0.0, and its
uv workspace member `codegen` comes along), then installs with uv 0.10.3 and loads the main
object through `dagger.mod.cli.load_module()`. Here the SDK source is dagger-io 0.21.11's sdist
from PyPI, re-versioned to 0.0.0, with a stand-in `codegen` member (the sdist leaves it out).

Differences from the engine, all deliberate:
- Python is the interpreter running the tests (3.11). The runtime picks `python:3.11-slim`
  too, because `requires-python = ">=3.11"` selects that tag over its 3.14 default.
- The runtime regenerates `sdk/src/dagger/client/gen.py` from the engine's schema; the sdist
  already holds the one generated for 0.21.11.
- Without uv.lock the runtime installs into the image's system Python (`UV_SYSTEM_PYTHON=1`;
  the image is thrown away). Here that install goes into a fresh venv of the same interpreter.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import uv

SDK_VERSION = "0.21.11"  # the SDK the tests install; dagger.json asks engines >= v0.21.6
UV_VERSION = "0.10.3"  # ghcr.io/astral-sh/uv tag in the runtime's images/uv/Dockerfile
ROOT = Path(__file__).resolve().parents[2]

# What the real codegen member's pyproject.toml says (sdk/python/codegen/pyproject.toml).
CODEGEN_PYPROJECT = """\
[project]
name = "codegen"
version = "0.0.0"
description = "Codegen for the Python SDK"
requires-python = ">= 3.10"
dependencies = ["graphql-core>=3.2.3"]

[build-system]
requires = ["uv_build>=0.8.4,<0.9.0"]
build-backend = "uv_build"
"""


def uv_bin() -> str:
    """The uv that `ci/test` installs; a different version would not test the runtime's."""
    path = uv.find_uv_bin()
    version = subprocess.run(
        [path, "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    assert version == UV_VERSION, f"uv {version} installed, the runtime pins {UV_VERSION}"
    return path


def download_sdk(dest: Path) -> Path:
    """dagger-io's source distribution from PyPI, unpacked; returns its directory."""
    subprocess.run(
        [
            sys.executable, "-m", "pip", "download", "-q", "--no-deps",
            "--no-binary=dagger-io", f"dagger-io=={SDK_VERSION}", "-d", str(dest),
        ],
        check=True,
    )  # fmt: skip
    (sdist,) = dest.glob(f"dagger_io-{SDK_VERSION}.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(dest, filter="data")
    return dest / f"dagger_io-{SDK_VERSION}"


def module_context(dest: Path, sdk_source: Path, *, keep_lock: bool) -> Path:
    """The module's tracked files, with the SDK vendored at ./sdk as the runtime does it."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    if not keep_lock:
        (dest / "uv.lock").unlink(missing_ok=True)
    vendor_sdk(dest, sdk_source)
    return dest


def vendor_sdk(module: Path, sdk_source: Path) -> None:
    """Put the SDK at `module`/sdk as the runtime's bundled copy: version 0.0.0, `codegen` in."""
    sdk = module / "sdk"
    shutil.rmtree(sdk, ignore_errors=True)
    shutil.copytree(sdk_source, sdk)
    pyproject = sdk / "pyproject.toml"
    text, count = re.subn(
        rf'^version = "{re.escape(SDK_VERSION)}"$',
        'version = "0.0.0"',
        pyproject.read_text(),
        count=1,
        flags=re.MULTILINE,
    )
    assert count == 1, "the sdist's pyproject.toml no longer has the version line"
    pyproject.write_text(text)
    codegen = sdk / "codegen"
    (codegen / "src" / "codegen").mkdir(parents=True)
    (codegen / "src" / "codegen" / "__init__.py").write_text("")
    (codegen / "pyproject.toml").write_text(CODEGEN_PYPROJECT)


def module_names(name: str, project_name: str) -> dict[str, str]:
    """The three variables the runtime sets, derived as python.go/discovery.go derive them.

    The main object is the PascalCase module name (strcase.ToCamel); the package is the
    pyproject's project name with `-` turned into `_`.
    """
    main_object = "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_. ]+", name))
    package = re.sub(r"[._-]+", "-", project_name.lower()).replace("-", "_")
    return {
        "DAGGER_MODULE": name,
        "DAGGER_DEFAULT_PYTHON_PACKAGE": package,
        "DAGGER_MAIN_OBJECT": main_object,
    }


def runtime_env(cache: Path, **extra: str) -> dict[str, str]:
    """The uv settings the runtime's base container sets, on a clean environment."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("UV_", "PIP_", "DAGGER_")) and k not in {"VIRTUAL_ENV", "PYTHONPATH"}
    }
    env |= {
        "UV_LINK_MODE": "copy",
        "UV_NATIVE_TLS": "1",
        "UV_COMPILE_BYTECODE": "1",
        "UV_CACHE_DIR": str(cache),
        "UV_PYTHON_DOWNLOADS": "never",  # only this machine's interpreter
        "PYTHONUNBUFFERED": "1",
    }
    return env | extra
