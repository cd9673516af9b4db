"""`release-pipeline channel` with real git checkouts and a real registry.

Ancestry is git's own answer (`git merge-base --is-ancestor` in the checkout). A checkout
cloned before a newer push fetches that commit from origin when the registry names it; a
shallow clone is refused before any request.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ProxyFactory
from seeding import seed_commits
from support.commands import run_json
from support.images import fetch_raw, tag_digests
from support.registry import Registry
from support.scratch_repo import git

from release_pipeline.cli import app as cli

REVISION = "org.opencontainers.image.revision"


def pushes(origin: Path, count: int) -> list[str]:
    """`count` commits pushed to main of a bare `origin`, oldest first."""
    work = origin.parent / "work"
    if not work.exists():
        git(origin.parent, "init", "-q", "--bare", "-b", "main", str(origin))
        git(origin.parent, "clone", "-q", str(origin), str(work))
    made = []
    for _ in range(count):
        git(work, "commit", "-q", "--allow-empty", "-m", f"push {len(made)}")
        git(work, "push", "-q", "origin", "HEAD:main")
        made.append(git(work, "rev-parse", "HEAD").strip())
    return made


def clone(origin: Path, dest: Path, *extra: str) -> Path:
    git(origin.parent, "clone", "-q", *extra, f"file://{origin}", str(dest))
    return dest


def channel(image: str, sha: str, checkout: Path, *extra: str) -> list[str]:
    return [
        "channel",
        f"--image={image}",
        "--flavor=docs",
        "--channel=docs",
        f"--sha={sha}",
        f"--git-dir={checkout}",
        *extra,
    ]


def released_setup(
    registry: Registry, tmp_path: Path, repo: str, count: int
) -> tuple[str, Path, list[str]]:
    """`count` pushes to main with their docs images seeded: the image, a full clone, the SHAs."""
    origin = tmp_path / "origin.git"
    shas = pushes(origin, count)
    seed_commits(registry.host, repo, shas, flavor="docs")
    return f"{registry.host}/{repo}", clone(origin, tmp_path / "checkout"), shas


def docs_revision(host: str, repo: str) -> str:
    revision: str = json.loads(fetch_raw(host, repo, "docs")[0])["annotations"][REVISION]
    return revision


def test_an_older_push_rerun_leaves_the_channel_and_says_why(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host, repo = registry.host, "cli/docs"
    image, checkout, (old, new) = released_setup(registry, tmp_path, repo, 2)

    for sha in (old, new):
        code, report, err = run_json(capsys, *channel(image, sha, checkout))
        assert code == 0 and report["moved"], err
    assert docs_revision(host, repo) == new

    assert cli.run(channel(image, old, checkout)) == 0
    out = capsys.readouterr().out
    assert f"channel: {old[:8]} does not descend from {new[:8]}, which docs holds" in out
    assert "docs stays where it is; --force moves it." in out
    assert docs_revision(host, repo) == new


def test_a_checkout_cloned_before_a_newer_push_fetches_it_to_decide(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The older push's run cloned before the newer push; the newer one released first. The
    registry names a commit the clone lacks: it is fetched, and the channel stays."""
    host, repo = registry.host, "cli/late"
    origin = tmp_path / "origin.git"
    (old,) = pushes(origin, 1)
    early = clone(origin, tmp_path / "early")
    (new,) = pushes(origin, 1)
    seed_commits(host, repo, [old, new], flavor="docs")
    late = clone(origin, tmp_path / "late")
    assert run_json(capsys, *channel(f"{host}/{repo}", new, late))[1]["moved"]

    code, report, err = run_json(capsys, *channel(f"{host}/{repo}", old, early))
    assert code == 0 and not report["moved"], err
    assert f"does not descend from {new[:8]}" in report["reason"]
    assert docs_revision(host, repo) == new


def test_a_shallow_clone_or_a_foreign_commit_is_refused_before_any_request(
    registry: Registry,
    proxy_factory: ProxyFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    origin = tmp_path / "origin.git"
    (sha,) = pushes(origin, 1)
    seed_commits(registry.host, "cli/refused", [sha], flavor="docs")
    shallow = clone(origin, tmp_path / "shallow", "--depth=1")
    full = clone(origin, tmp_path / "full")
    before = tag_digests(registry.host, "cli/refused")
    proxy = proxy_factory(registry.host)
    image = f"{proxy.host}/cli/refused"
    cases = {
        "fetch-depth: 0": channel(image, sha, shallow),
        "is not a commit of the checkout": channel(image, "e" * 40, full),
        "is not a git checkout": channel(image, sha, tmp_path),
        "channel: must not be a word the tag scheme uses": [
            *channel(image, sha, full)[:3],
            "--channel=latest",
            *channel(image, sha, full)[4:],
        ],
    }
    for words, argv in cases.items():
        assert cli.run(argv) == cli.EXIT_INVALID, words
        assert words in capsys.readouterr().err
    assert proxy.counted() == []
    assert tag_digests(registry.host, "cli/refused") == before


def test_on_call_rolls_docs_back_by_a_short_sha_from_status(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host, repo = registry.host, "cli/rollback"
    image, checkout, (good, bad) = released_setup(registry, tmp_path, repo, 2)
    for sha in (good, bad):
        assert cli.run(channel(image, sha, checkout)) == 0
    capsys.readouterr()
    where = ["--flavor=docs", "--channel=docs", f"--git-dir={checkout}"]

    code, status, _ = run_json(capsys, "status", f"--image={image}", *where)
    assert code == 0 and status["latest"]["version"] == bad
    assert status["rollback_candidates"] == [good]

    argv = ["promote", f"--image={image}", f"--from={good[:8]}", *where]
    assert cli.run(argv) == 0
    out = capsys.readouterr().out
    assert f"docs <- {good}" in out and f"docs_{bad}-yanked" in out
    assert docs_revision(host, repo) == good
    assert cli.run([*argv, "--to=edge-docs"]) == cli.EXIT_INVALID
    assert "to: a channel moves its own tag" in capsys.readouterr().err


def test_status_of_a_channel_with_no_release_names_what_it_looked_for(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image, checkout, _ = released_setup(registry, tmp_path, "cli/empty", 1)
    argv = ["status", f"--image={image}", "--flavor=docs", "--channel=nightly"]
    assert cli.run([*argv, f"--git-dir={checkout}"]) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert "nothing in" in err and "for channel nightly-docs: no release tag" in err
