"""The peers: skopeo and docker, each with fresh private state per release run."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from metering import Meter
from naming import FLAVOR, token
from samples import Sample, Step, measure

NOBODY = "65534"


class Peers:
    """Runs the workflow's commands. Each release run is one fresh CI job: new skopeo state
    (blob-info cache, auth file) and a new DOCKER_CONFIG (docker manifest's local lists)."""

    def __init__(
        self, work: Path, creds: tuple[str, str] | None = None, host: str | None = None
    ) -> None:
        self.work = work
        work.mkdir(mode=0o755)
        self.creds = creds
        self.host = host  # the registry host the credentials are for (docker config.json)
        self.as_nobody = os.geteuid() == 0 and shutil.which("setpriv") is not None
        self._n = 0
        self.fresh()

    def fresh(self) -> None:
        self._n += 1
        # skopeo runs as `nobody` when we are root: as root it always uses the machine-wide
        # /var/lib/containers/cache; as any other user it uses $XDG_DATA_HOME/containers/cache.
        state = Path(tempfile.mkdtemp(prefix=f"skopeo-{self._n}-", dir=self.work))
        state.chmod(0o777)
        auth = state / "auth.json"
        auth.write_text("{}")
        auth.chmod(0o644)
        base = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        base.pop("DOCKER_CONFIG", None)
        self.skopeo_env = base | {
            "HOME": str(state),
            "XDG_DATA_HOME": str(state / "data"),
            "XDG_CONFIG_HOME": str(state / "config"),
            "XDG_RUNTIME_DIR": str(state / "run"),
            "TMPDIR": str(state),
            "REGISTRY_AUTH_FILE": str(auth),
        }
        self.skopeo_state = state
        docker_config = self.work / f"docker-{self._n}"
        docker_config.mkdir()
        if self.creds is not None and self.host is not None:
            pair = base64.b64encode(":".join(self.creds).encode()).decode()
            config = {"auths": {self.host: {"auth": pair}}}
            (docker_config / "config.json").write_text(json.dumps(config))
        self.docker_env = base | {"DOCKER_CONFIG": str(docker_config)}

    def skopeo_copy(self, src: str, dst: str, *, all_images: bool = False) -> list[str]:
        cmd = ["skopeo", "--insecure-policy", "copy", "--quiet"]
        cmd += ["--all"] if all_images else []
        if self.creds is not None:
            pair = ":".join(self.creds)
            cmd += ["--src-creds", pair, "--dest-creds", pair]
        cmd += ["--src-tls-verify=false", "--dest-tls-verify=false", src, dst]
        return cmd

    def run(self, cmd: list[str]) -> None:
        env = self.docker_env if cmd[0] == "docker" else self.skopeo_env
        if cmd[0] == "skopeo" and self.as_nobody:
            cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *cmd]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise SystemExit(f"peer command failed: {' '.join(cmd)}\n{proc.stderr}")

    def release_cmds(
        self, host: str, repo: str, version: str, sha: str, platforms: Sequence[str]
    ) -> list[tuple[str, list[str]]]:
        """The replaced workflow's merge: copy per-arch version tags, then one manifest list
        per multi-arch tag (latest too: git tags said this version is the newest)."""
        ref = f"{host}/{repo}"
        sha_arch = {p: f"{FLAVOR}-sha-{sha[:8]}-{token(p)}" for p in platforms}
        steps: list[tuple[str, list[str]]] = []
        for p in platforms:
            for name in (f"{version}-{FLAVOR}-{token(p)}", f"v{version}-{FLAVOR}-{token(p)}"):
                cmd = self.skopeo_copy(f"docker://{ref}:{sha_arch[p]}", f"docker://{ref}:{name}")
                steps.append(("skopeo copy (per-arch tag)", cmd))
        lists = {
            f"{version}-{FLAVOR}": [f"{version}-{FLAVOR}-{token(p)}" for p in platforms],
            f"v{version}-{FLAVOR}": [f"v{version}-{FLAVOR}-{token(p)}" for p in platforms],
            f"{FLAVOR}-sha-{sha[:8]}": list(sha_arch.values()),
            f"latest-{FLAVOR}": [f"{version}-{FLAVOR}-{token(p)}" for p in platforms],
        }
        for name, sources in lists.items():
            create = ["docker", "manifest", "create", "--insecure", f"{ref}:{name}"]
            push = ["docker", "manifest", "push", "--insecure", f"{ref}:{name}"]
            steps.append(("docker manifest create", create + [f"{ref}:{s}" for s in sources]))
            steps.append(("docker manifest push", push))
        return steps

    def perform(self, meter: Meter, steps: list[tuple[str, list[str]]]) -> Sample:
        self.fresh()
        sample = Sample([], 0, 0.0)

        def each() -> Sample:
            for label, cmd in steps:
                mark = meter.mark()
                t0 = time.perf_counter()
                self.run(cmd)
                exchanges, probes, tokens = meter.since(mark)
                wall = time.perf_counter() - t0
                sample.steps.append(Step(label, exchanges, probes, tokens, wall))
            return sample

        return measure(meter, each)

    def cache_used(self) -> bool:
        return any(self.skopeo_state.glob("data/containers/cache/*"))
