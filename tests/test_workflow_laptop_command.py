"""The command a release run's summary prints to reproduce the run on a laptop, run for real in
a fresh clone with a recording `dagger` (tests/support/caller_runs.py).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from support.actions_runner import CANARY_TOKEN, Run, run_caller
from support.caller_runs import assert_agree, calls_of, flavors, release_run
from support.scratch_repo import git
from support.workflows import FAKE_DAGGER, SAAS, SELFHOST, parse_call


def printed_command(run: Run) -> str:
    summary = run.job("resolve").summary
    blocks = re.findall(r"```sh\n(.*?)\n```", summary, flags=re.DOTALL)
    assert len(blocks) == 1, summary
    return blocks[0]


@pytest.mark.parametrize("caller", [SAAS, SELFHOST], ids=lambda p: p.name)
def test_the_summary_reproduces_the_run_on_a_laptop(
    caller: Path, repo: Path, tmp_path: Path
) -> None:
    """Run the printed command in a fresh clone (at main, not the tag) with a recording dagger:
    it checks out the tag's commit, prepares as the run did, and releases every flavor in one
    call with the run's module, flavors, platforms and build args, with no image and no
    credentials (the throwaway registry)."""
    run = release_run(caller, repo, tmp_path)
    command = printed_command(run)
    assert CANARY_TOKEN not in command and "password" not in command
    clone = tmp_path / "laptop"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    bin_dir = tmp_path / "laptop-bin"
    bin_dir.mkdir()
    (bin_dir / "dagger").write_text(FAKE_DAGGER.format(python=sys.executable))
    (bin_dir / "dagger").chmod(0o755)
    log = tmp_path / "laptop.jsonl"
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=clone,
        env={
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "FAKE_DAGGER_LOG": str(log),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert git(clone, "rev-parse", "HEAD") == git(repo, "rev-parse", "v0.22.8^{commit}")
    assert (clone / "testplanit" / ".docker-version.json").is_file()

    laptop = [parse_call(json.loads(line)["argv"]) for line in log.read_text().splitlines()]
    published = calls_of(run, "publish")
    platforms = run.job("resolve").outputs["platforms"]
    # One call for every flavor and platform, as the publish jobs: one session, one upload.
    (call,) = laptop
    assert call.function == "release"
    assert_agree(laptop)
    assert call.module == run.job("pin").outputs["module"]
    assert call.constructor == {"platforms": platforms}
    # The publish jobs' arguments but the platform and --require-native: a laptop of one
    # arch builds the other under QEMU, and the report names it.
    expected = {
        k: v for k, v in published[0].args.items() if k not in ("platform", "require_native")
    }
    assert call.args == expected
    assert json.loads(call.args["flavors"][0]) == flavors(caller)
    assert call.chain == ["json"]
    assert sorted(c.args["platform"][0] for c in published) == platforms.split(",")


def test_the_command_is_printed_even_when_preflight_fails(repo: Path, tmp_path: Path) -> None:
    (repo / "patches").rename(repo / "patches-moved")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "move patches")
    git(repo, "tag", "-a", "v0.22.9", "-m", "v0.22.9")
    run = run_caller(SAAS, repo, tmp_path, ref_name="v0.22.9", real_preflight=True)
    assert run.job("resolve").status == "failure"
    words = shlex.split(printed_command(run).split(" \\\n  && ")[0])
    assert words == ["git", "checkout", "--detach", git(repo, "rev-parse", "v0.22.9^{commit}")]
