"""TestPlanIt's docs release through the reusable workflow: a channel, not a tag.

The caller (examples/testplanit/docs-release.yml) runs on pushes to main that touch docs/.
Every `run:` script executes (support/actions_runner.py); the builds are recorded `dagger`
calls, and the merge job's channel step runs the real CLI against a real registry seeded
with the commit's per-arch images, in the scratch repository's full history.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import RegistryFactory
from seeding import seed_commits
from support.actions_runner import CANARY_TOKEN, run_caller
from support.caller_runs import MODULE, assert_agree, calls_of, derived_caller
from support.images import fetch_raw
from support.scratch_repo import git
from support.workflows import EXAMPLES

DOCS = EXAMPLES / "docs-release.yml"
REPO = "testplanit/testplanit"
DOCKERFILE = """\
FROM scratch AS builder
COPY docs/package.json /build/index.html
FROM scratch AS docs
COPY --from=builder /build /usr/share/nginx/html
"""


def docs_push(repo: Path, what: str) -> str:
    """A push to main that touches docs/; returns its commit."""
    (repo / "docs" / "Dockerfile").write_text(DOCKERFILE)
    (repo / "docs" / "package.json").write_text(json.dumps({"name": "docs", "what": what}))
    git(repo, "add", "docs")
    git(repo, "commit", "-q", "-m", f"docs: {what}")
    return git(repo, "rev-parse", "HEAD")


def test_the_docs_caller_is_a_channel_release_on_pushes_to_main() -> None:
    from support.workflows import load, triggers

    caller = load(DOCS)
    assert triggers(caller)["push"] == {"branches": ["main"], "paths": ["docs/**"]}
    (job,) = caller["jobs"].values()
    assert job["with"]["channel"] == "docs" and job["with"]["dockerfile"] == "docs/Dockerfile"
    assert job["with"]["image"] == "ghcr.io/testplanit/testplanit"
    platforms = [p["platform"] for p in json.loads(job["with"]["platforms"])]
    assert platforms == ["linux/amd64", "linux/arm64"]


def test_a_push_to_main_moves_docs_forward_and_a_rerun_of_an_older_push_does_not(
    registry_factory: RegistryFactory, repo: Path, tmp_path: Path
) -> None:
    registry = registry_factory()
    caller = derived_caller(tmp_path, DOCS, image=f"{registry.host}/{REPO}")
    old = docs_push(repo, "old")
    new = docs_push(repo, "new")
    seed_commits(registry.host, REPO, [old, new], flavor="docs")

    def push_run(sha: str, name: str) -> dict[str, str]:
        git(repo, "checkout", "-q", "--detach", sha)
        (tmp_path / name).mkdir()
        run = run_caller(
            caller,
            repo,
            tmp_path / name,
            ref_name="main",
            ref_type="branch",
            sha=sha,
            real_preflight=True,
            stand_ins=("colima", "docker"),
        )
        assert CANARY_TOKEN not in run.text
        resolve = run.job("resolve")
        assert resolve.status == "success", resolve.log
        assert resolve.outputs["ref"] == sha and resolve.outputs["channel"] == "docs"
        publishes = calls_of(run, "publish")
        assert [(c.function, c.args["platform"]) for c in publishes] == [
            ("publish_platform", ["linux/amd64"]),
            ("publish_platform", ["linux/arm64"]),
        ]
        for call in publishes:
            assert call.module == MODULE
            (built,) = json.loads(call.args["flavors"][0])  # one call for every flavor
            assert built["flavor"] == "docs" and built["target"] == "docs"
            assert call.args["version"] == ["0.0.0-channel.docs"]
            assert call.args["sha"] == [sha]
            assert call.args["dockerfile"] == ["docs/Dockerfile"] and call.args["source"] == ["."]
        assert_agree(publishes)
        merge = run.job("merge")
        assert merge.status == "success", merge.log
        assert merge.calls == []  # no `dagger call merge`: the CLI, in the full history
        (channel,) = [c for c in run.tool_calls if c[:2] == ["release-pipeline", "channel"]]
        assert channel[2:] == [
            "--image",
            f"{registry.host}/{REPO}",
            "--flavor",
            "docs",
            "--channel",
            "docs",
            "--sha",
            sha,
            "--platform",
            "linux/amd64",
            "--platform",
            "linux/arm64",
            "--source-url",
            "https://github.com/TestPlanIt/testplanit",
            "--username",
            "octo[bot]",
            "--git-dir",
            ".",
            "--json",
        ]
        assert [a.status for a in run.jobs["attest"]] == ["success"]
        return {"summary": merge.summary, "digests": merge.outputs["digests"]}

    first = push_run(new, "new")
    index = fetch_raw(registry.host, REPO, "docs")[2]
    assert json.loads(first["digests"]) == {"docs": index}
    assert f"{new[:8]} descends from" not in first["summary"]  # docs did not exist before
    assert "docs did not exist; it now points at" in first["summary"]
    for arch in ("amd64", "arm64"):
        assert fetch_raw(registry.host, REPO, f"docs-{arch}")[2]

    rerun = push_run(old, "old")  # the older push's workflow, re-run after the newer one
    assert f"{old[:8]} does not descend from {new[:8]}, which docs holds" in rerun["summary"]
    assert fetch_raw(registry.host, REPO, "docs")[2] == index


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"channel": "amd64"}, "::error::channel:"),
        ({"channel": "Docs"}, "::error::channel:"),
        ({"channel": "docs", "tag": "v1.0.0"}, "::error::channel:"),
    ],
)
def test_a_bad_channel_stops_the_run_before_any_build(
    repo: Path, tmp_path: Path, changes: dict[str, str], words: str
) -> None:
    caller = derived_caller(tmp_path, DOCS, **changes)
    run = run_caller(caller, repo, tmp_path, ref_name="main", ref_type="branch")
    resolve = run.job("resolve")
    assert resolve.status == "failure" and words in resolve.log
    assert run.jobs["publish"][0].status == "skipped" and run.calls == []
