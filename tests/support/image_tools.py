"""umoci and skopeo, run the way the harness needs them: isolated from the host.

skopeo would otherwise read the host's proxy variables, registry credentials and
registries.conf, none of which a test may depend on: every run gets an environment without
proxies that points at an empty auth file and registries.conf in a session-wide scratch dir.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["ImagePushError", "run_tool", "workspace_dir"]


class ImagePushError(RuntimeError):
    """umoci or skopeo failed; the message carries the command and its output."""


_workspace: Path | None = None


def workspace_dir() -> Path:
    """Session-wide scratch dir: cached OCI layouts and skopeo's config files."""
    global _workspace
    if _workspace is None:
        ws = Path(tempfile.mkdtemp(prefix="rp-images-"))
        (ws / "auth.json").write_text("{}")
        (ws / "registries.conf").write_text("")
        (ws / "tmp").mkdir()
        atexit.register(shutil.rmtree, ws, True)
        _workspace = ws
    return _workspace


def _tool_env() -> dict[str, str]:
    """Environment for umoci/skopeo: no proxies, no host auth or registries config."""
    ws = workspace_dir()
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["REGISTRY_AUTH_FILE"] = str(ws / "auth.json")
    env["CONTAINERS_REGISTRIES_CONF"] = str(ws / "registries.conf")
    env["TMPDIR"] = str(ws / "tmp")
    return env


def run_tool(cmd: Sequence[str]) -> str:
    """Run umoci or skopeo in the harness's clean environment (no proxies, no host auth)."""
    proc = subprocess.run(
        list(cmd), capture_output=True, text=True, env=_tool_env(), timeout=60, check=False
    )
    if proc.returncode != 0:
        raise ImagePushError(
            f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc.stdout
