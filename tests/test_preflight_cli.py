"""`release-pipeline preflight` as a workflow's first job runs it: the real CLI in a
subprocess, on the TestPlanIt-shaped checkout. Exit 0 ok, 1 naming every problem, 2 for bad
arguments (nothing read)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.fixture_repo import DOCKERFILE, FIXTURE, copy_fixture

SRC = Path(__file__).resolve().parent.parent / "src"


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run(
        [sys.executable, "-m", "release_pipeline", "preflight", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


def test_the_fixture_passes_for_both_targets() -> None:
    run = cli("--context", FIXTURE, "--dockerfile", DOCKERFILE, "--target", "production",
              "--target", "workers")  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1].startswith(
        f"preflight ok: {DOCKERFILE}, targets production, workers;"
    )


def test_what_the_build_fetches_is_named_as_not_checked_and_passes(tmp_path: Path) -> None:
    """A `--from` image and an ADD URL are the build's to fetch: the run passes, saying so."""
    (tmp_path / "Dockerfile").write_text(
        "FROM scratch AS app\nCOPY --from=nginx:1.27 /etc/nginx /n\nADD https://example.com/x /x\n"
    )
    run = cli("--context", tmp_path, "--target", "app")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "note: Dockerfile:2: COPY --from=nginx:1.27 not checked: nginx:1.27 is an image, "
        "fetched by the build",
        "note: Dockerfile:3: ADD source 'https://example.com/x' not checked: it is fetched by "
        "the build",
        "preflight ok: Dockerfile, targets app; 0 context path(s) checked (no ignore file; 2 not "
        "checked, see the notes)",
    ]


def test_every_problem_is_named_with_its_line_and_exit_1(tmp_path: Path) -> None:
    repo = copy_fixture(tmp_path / "repo")
    (repo / "testplanit" / "scripts" / "generate-version.js").unlink()
    (repo / "pnpm-workspace.yaml").unlink()
    (repo / ".dockerignore").write_text("forge-app\n")
    run = cli("--context", repo, "--dockerfile", DOCKERFILE, "--target", "workers",
              "--target", "staging")  # fmt: skip
    assert run.returncode == 1
    out = run.stderr.splitlines()
    lines = (repo / DOCKERFILE).read_text().splitlines()
    workspace = [i for i, t in enumerate(lines, 1) if t.startswith("COPY package.json")]
    forge = [i for i, t in enumerate(lines, 1) if t.startswith("COPY forge-app/")]
    assert out[:-1] == [
        f"{DOCKERFILE}: target 'staging' is not a stage (base, development, deps, "
        "deps-workers, build, production, workers)",
        *(
            f"{DOCKERFILE}:{workspace[0]}: COPY source 'pnpm-workspace.yaml' not found in the "
            "build context",
            f"{DOCKERFILE}:{forge[0]}: COPY source 'forge-app/package.json' is excluded by "
            ".dockerignore (line 1: 'forge-app'), so the builder never receives it",
            f"{DOCKERFILE}:{workspace[1]}: COPY source 'pnpm-workspace.yaml' not found in the "
            "build context",
            f"{DOCKERFILE}:{forge[1]}: COPY source 'forge-app/package.json' is excluded by "
            ".dockerignore (line 1: 'forge-app'), so the builder never receives it",
        ),
    ]
    assert out[-1].startswith("preflight 5 problem(s):")
    # The version script is copied with testplanit/ as a whole: its absence is the prepare
    # step's business, not a COPY failure.
    assert "generate-version.js" not in run.stderr


@pytest.mark.parametrize(
    "args,field",
    [
        (["--dockerfile", "../Dockerfile", "--target", "workers"], "dockerfile"),
        (["--dockerfile", DOCKERFILE, "--target", ""], "target"),
        (["--dockerfile", DOCKERFILE, "--target", "workers", "--build-arg", "NOEQUALS"],
         "build_arg"),
    ],
)  # fmt: skip
def test_invalid_arguments_exit_2_naming_the_field(args: list[str], field: str) -> None:
    run = cli("--context", FIXTURE, *args)
    assert run.returncode == 2
    assert run.stderr.startswith(f"release-pipeline: invalid {field}:")


def test_a_context_that_is_not_a_directory_exits_2(tmp_path: Path) -> None:
    run = cli("--context", tmp_path / "absent", "--target", "workers")
    assert run.returncode == 2
    assert "invalid context:" in run.stderr


def test_target_is_required() -> None:
    run = cli("--context", FIXTURE, "--dockerfile", DOCKERFILE)
    assert run.returncode == 2  # argparse's own usage error
    assert "--target" in run.stderr
