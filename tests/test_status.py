"""`status` and `promote --dry-run` on a real registry, after a history an incident would have.

History (flavor workers, plus an `api` release in the same repository that must not show):
0.9.0 (no created label), 1.0.0, 1.1.0 (Docker manifest list: no index annotation, so the
revision comes from what merge recorded on its entries), 1.2.0-rc.1 and 1.2.0 from one
commit, 1.10.0 (the bad one: SemVer puts it above 1.2.0, `sort -V` too, a plain string sort
would not), 2.0.0-beta.1, then the rollback of latest-workers to 1.2.0. Expectations come
from what was seeded and from raw HTTP (support.images), never from the client under test.
Where status's labels come from and what versions merge did not write cost: test_status_cost.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from conftest import ProxyFactory
from seeding import seed_commit
from support.commands import run_json as run
from support.commands import sha_of
from support.faults import Faults
from support.images import fetch_raw, list_tags_raw, push_image, put_manifest_raw, tag_digests
from support.proxy import WRITE_METHODS
from support.registry import Registry
from support.retry import RETRY

from release_pipeline.cli import app as cli
from release_pipeline.dagger.main import ReleasePipeline
from release_pipeline.registry.client import RegistryClient
from release_pipeline.rules.specs import promote_spec, status_spec
from release_pipeline.verbs.promote import promote
from release_pipeline.verbs.status import status

REPO = "status/app"
REVISION = "org.opencontainers.image.revision"
CREATED = "org.opencontainers.image.created"
MODULE = ReleasePipeline.__dagger_module__  # type: ignore[attr-defined]


# commit -> created label (None: the images carry none)
COMMITS: dict[str, str | None] = {
    "a": None,
    "b": "2026-01-01T00:00:00Z",
    "c": "2026-02-01T00:00:00Z",
    "d": "2026-03-01T00:00:00Z",
    "e": "2026-04-22T00:00:00Z",
    "f": "2026-05-01T00:00:00Z",
}
RELEASES = [  # (version, commit), in release order
    ("0.9.0", "a"),
    ("1.0.0", "b"),
    ("1.1.0", "c"),
    ("1.2.0-rc.1", "d"),
    ("1.2.0", "d"),
    ("1.10.0", "e"),
    ("2.0.0-beta.1", "f"),
]


async def in_thread(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    """`run` from an async test: the CLI starts its own event loop."""
    return await anyio.to_thread.run_sync(lambda: run(capsys, *argv))


def make_history(host: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Every release of the module docstring, up to (not including) the rollback."""
    for commit, created in COMMITS.items():
        sha, labels = sha_of(commit), {} if created is None else {CREATED: created}
        if commit == "c":  # Docker schema 2 images, as `docker build` pushes them
            for arch in ("amd64", "arm64"):
                push_image(
                    host,
                    REPO,
                    f"workers-sha-{sha[:8]}-{arch}",
                    arch=arch,
                    labels={REVISION: sha, **labels},
                    docker_format=True,
                    seed=commit,
                )
        else:
            seed_commit(host, REPO, sha, labels=labels)
    seed_commit(host, REPO, sha_of("g"), flavor="api")
    image = f"--image={host}/{REPO}"
    for version, commit in RELEASES:
        code, _, err = run(
            capsys, "merge", image, f"--version={version}", f"--sha={sha_of(commit)}"
        )
        assert code == 0, err
    code, _, err = run(
        capsys, "merge", image, "--flavor=api", "--version=5.0.0", f"--sha={sha_of('g')}"
    )
    assert code == 0, err
    assert fetch_raw(host, REPO, "latest-workers")[2] == fetch_raw(host, REPO, "1.10.0-workers")[2]


def expected_status(host: str, *, limit: int = 20) -> dict[str, Any]:
    """What status must say after the rollback to 1.2.0: seeded values, raw digests."""
    tags = list_tags_raw(host, REPO)
    assert "1.10.0-workers-yanked" in tags
    digest = {v: fetch_raw(host, REPO, f"{v}-workers")[2] for v, _ in RELEASES}
    for version, commit in RELEASES:  # the revision really is recorded where status says
        body, media_type, _ = fetch_raw(host, REPO, f"{version}-workers")
        annotation = json.loads(body).get("annotations", {}).get(REVISION)
        assert annotation == (None if commit == "c" else sha_of(commit)), (version, media_type)
    commit_of = dict(RELEASES)

    def row(version: str, **flags: bool) -> dict[str, Any]:
        commit = commit_of[version]
        state = {"prerelease": False, "yanked": False, "live": True} | flags
        return {
            "version": version,
            "digest": digest[version],
            "revision": sha_of(commit),
            "created": COMMITS[commit],
            **state,
            "yanked_by": version if state["yanked"] else None,  # by its own event
            "deployed": False,  # no --manifests given
        }

    versions = [
        row("2.0.0-beta.1", prerelease=True, live=False),
        row("1.10.0", yanked=True, live=False),
        row("1.2.0"),
        row("1.2.0-rc.1", prerelease=True, live=False),
        row("1.1.0"),
        row("1.0.0"),
        row("0.9.0"),
    ]
    latest = fetch_raw(host, REPO, "latest-workers")[2]
    assert latest == digest["1.2.0"] == digest["1.2.0-rc.1"]
    return {
        "image": f"{host}/{REPO}",
        "flavor": "workers",
        "latest": {"tag": "latest-workers", "digest": latest, "version": "1.2.0"},
        "versions": versions[:limit],
        "rollback_candidates": ["1.1.0", "1.0.0", "0.9.0"][:limit],
        "deployed": None,  # no --manifests given
    }


def test_dry_run_predicts_the_rollback_exactly_and_status_then_shows_it(
    registry: Registry,
    proxy_factory: ProxyFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_history(registry.host, capsys)
    proxy = proxy_factory(registry.host)
    image = f"--image={proxy.host}/{REPO}"
    before = tag_digests(registry.host, REPO)

    code, dry, err = run(capsys, "promote", image, "--from=1.2.0-workers", "--dry-run")
    assert code == 0, err
    assert {m for m, _ in proxy.counted()} <= {"GET", "HEAD"}
    assert tag_digests(registry.host, REPO) == before
    assert dry["dry_run"] is True and dry["yanked"] == ["1.10.0"]
    assert dry["written"] == ["1.10.0-workers-yanked", "latest-workers"]
    assert "1.10.0 is newer than 1.2.0" in dry["reason"]
    assert dry["tags"] == {
        "1.10.0-workers-yanked": before["1.10.0-workers"],
        "latest-workers": before["1.2.0-workers"],
    }

    # A dry run fails where promote would (exit 1), still writing nothing.
    proxy.reset()
    code, _, err = run(capsys, "promote", image, "--from=2.0.0-beta.1-workers", "--dry-run")
    assert code == 1 and "prerelease 2.0.0-beta.1" in err
    assert {m for m, _ in proxy.counted()} <= {"GET", "HEAD"}

    proxy.reset()
    code, done, err = run(capsys, "promote", image, "--from=1.2.0-workers")
    assert code == 0, err
    assert done == dry | {"dry_run": False}
    puts = sorted(p.rsplit("/", 1)[1] for m, p in proxy.counted() if m in WRITE_METHODS)
    assert puts == sorted(dry["written"])  # exactly the predicted writes, nothing else
    after = tag_digests(registry.host, REPO)
    assert {t: d for t, d in after.items() if before.get(t) != d} == dry["tags"]

    proxy.reset()
    code, report, err = run(capsys, "status", image)
    assert code == 0, err
    expected = expected_status(registry.host)
    assert report == expected | {"image": f"{proxy.host}/{REPO}"}
    # Cost: one listing, one HEAD of latest-workers, one GET per version's index: merge
    # wrote every one of them, recording the images' labels on their entries.
    requests = proxy.counted()
    assert [m for m, _ in requests if m in WRITE_METHODS] == []
    listings = [p for _, p in requests if "/tags/list" in p]
    blobs = [p for _, p in requests if "/blobs/" in p]
    heads = [p for m, p in requests if m == "HEAD"]
    assert (len(listings), len(heads), len(blobs)) == (1, 1, 0)
    assert len(requests) == 1 + 1 + len(report["versions"]) == 9

    # The table a person reads: latest's version marked, the state of each line.
    assert cli.run(["status", image, "--wide"]) == 0
    table = capsys.readouterr().out
    marked = [line for line in table.splitlines() if line.startswith("  -> ")]
    assert len(marked) == 1 and marked[0].split()[1] == "1.2.0", table
    assert marked[0].split()[2] == expected["latest"]["digest"]
    line = {ln.split()[0]: ln for ln in table.splitlines() if ln.startswith("     ")}
    assert line["1.10.0"].endswith("yanked") and line["1.1.0"].endswith("live")
    assert line["0.9.0"].split()[3] == "-"  # no created label
    assert "rollback candidates (newest first): 1.1.0, 1.0.0, 0.9.0" in table


async def test_cli_and_dagger_give_the_same_status_and_dry_run(
    registry: Registry,
    proxy_factory: ProxyFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await anyio.to_thread.run_sync(make_history, registry.host, capsys)
    image = f"{registry.host}/{REPO}"
    state = {"image": image}

    before = tag_digests(registry.host, REPO)
    _, dry_cli, _ = await in_thread(
        capsys, "promote", f"--image={image}", "--from=1.2.0-workers", "--dry-run"
    )
    dry = await MODULE.get_result(
        "ReleasePipeline", state, "promote", {"from": "1.2.0-workers", "dry_run": True}
    )
    assert tag_digests(registry.host, REPO) == before
    assert json.loads(dry["json"]) == dry_cli
    assert dry["dry_run"] is True and dry["yanked"] == ["1.10.0"] and dry["reason"]

    promoted = await MODULE.get_result(
        "ReleasePipeline", state, "promote", {"from": "1.2.0-workers"}
    )
    assert json.loads(promoted["json"]) == dry_cli | {"dry_run": False}

    _, from_cli, _ = await in_thread(capsys, "status", f"--image={image}", "--limit=20")
    got = await MODULE.get_result("ReleasePipeline", state, "status", {"limit": 20})
    assert from_cli == expected_status(registry.host)
    assert json.loads(got["json"]) == from_cli
    # The typed fields say the same (absent values are "" there, null in the JSON).
    assert got["latest"] == from_cli["latest"]
    assert got["rollback_candidates"] == from_cli["rollback_candidates"]
    assert got["versions"] == [
        {k: ("" if v is None else v) for k, v in row.items()} for row in from_cli["versions"]
    ]
    api = await MODULE.get_result("ReleasePipeline", state | {"flavor": "api"}, "status", {})
    assert [v["version"] for v in api["versions"]] == ["5.0.0"]
    assert api["latest"]["version"] == "5.0.0" and api["rollback_candidates"] == []


def test_a_short_limit_still_finds_latest_below_it(
    registry: Registry,
    proxy_factory: ProxyFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_history(registry.host, capsys)
    assert run(capsys, "promote", f"--image={registry.host}/{REPO}", "--from=1.2.0-workers")[0] == 0
    proxy = proxy_factory(registry.host)
    code, report, err = run(capsys, "status", f"--image={proxy.host}/{REPO}", "--limit=2")
    assert code == 0, err
    assert report == expected_status(registry.host, limit=2) | {"image": f"{proxy.host}/{REPO}"}
    # 2 versions shown (2 index GETs); latest is below them: one HEAD of the next older
    # version, 1.2.0, finds it. The 2 candidates shown are not shown as versions: one HEAD
    # each proves neither holds latest's index.
    heads = [p.rsplit("/", 1)[1] for m, p in proxy.counted() if m == "HEAD"]
    assert heads[:2] == ["latest-workers", "1.2.0-workers"]
    assert sorted(heads[2:]) == ["1.0.0-workers", "1.1.0-workers"]
    assert len(proxy.counted()) == 1 + 1 + 2 + 1 + 2


def test_no_latest_and_a_latest_that_is_no_version(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    image = f"--image={registry.host}/{REPO}"
    # Nothing at all (a misspelled repository reads the same): exit 1, said on stderr
    # (test_cli_output), the empty report still on stdout.
    code = cli.run(["status", image, "--json"])
    out, err = capsys.readouterr()
    assert code == 1 and "status found nothing" in err, err
    assert json.loads(out) == {
        "image": f"{registry.host}/{REPO}",
        "flavor": "workers",
        "latest": {"tag": "latest-workers", "digest": None, "version": None},
        "versions": [],
        "rollback_candidates": [],
        "deployed": None,
    }

    sha = sha_of("solo")
    seed_commit(registry.host, REPO, sha)
    assert run(capsys, "merge", image, "--version=1.0.0", f"--sha={sha}")[0] == 0
    # Someone points latest-workers at a bare per-arch image by hand: no version's index.
    body, media_type, digest = fetch_raw(registry.host, REPO, f"workers-sha-{sha[:8]}-amd64")
    put_manifest_raw(registry.host, REPO, "latest-workers", body, media_type)
    code, report, err = run(capsys, "status", image)
    assert code == 0, err
    assert report["latest"] == {"tag": "latest-workers", "digest": digest, "version": None}
    assert [v["version"] for v in report["versions"]] == ["1.0.0"]
    # latest holds no release: every live version is somewhere promote can put it back.
    assert report["rollback_candidates"] == ["1.0.0"]
    assert cli.run(["status", image]) == 0
    assert "no released version's index" in capsys.readouterr().out


async def test_status_and_dry_run_under_30_percent_faults_end_right_and_write_nothing(
    registry: Registry,
    proxy_factory: ProxyFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await anyio.to_thread.run_sync(make_history, registry.host, capsys)
    proxy = proxy_factory(registry.host)
    sspec = status_spec(f"{proxy.host}/{REPO}")
    pspec = promote_spec(f"{proxy.host}/{REPO}", "1.0.0-workers")
    async with RegistryClient(proxy.host, secure=False, push=False) as client:
        clean_status = await status(sspec, client)
        clean_dry = await promote(pspec, client, dry_run=True)
    before = tag_digests(registry.host, REPO)
    proxy.reset()
    injected = 0
    for seed in range(20):
        faults = Faults(rate=0.3, seed=seed, retry_after="0", delay=0.02)
        proxy.faults = faults
        async with RegistryClient(proxy.host, secure=False, push=False, retry=RETRY) as client:
            assert await status(sspec, client) == clean_status, seed
            assert await promote(pspec, client, dry_run=True) == clean_dry, seed
        proxy.faults = None
        injected += faults.total
    assert injected > 100  # the runs did meet faults
    assert {m for m, _ in proxy.counted()} <= {"GET", "HEAD"}
    assert tag_digests(registry.host, REPO) == before
    assert clean_dry.yanked == ["1.1.0", "1.2.0", "1.10.0"]


def test_label_values_that_could_write_log_lines_read_as_absent(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    image = f"--image={registry.host}/{REPO}"
    labels = {
        "1.0.0": "2026-01-01\n::error::pwned",  # a line break
        "1.1.0": "::warning::pwned",  # printable, but a workflow command
        "1.2.0": "x" * 129,  # too long
        "1.3.0": "y" * 128,  # short enough: recorded and shown
    }
    for version, created in labels.items():
        sha = sha_of(version)
        seed_commit(registry.host, REPO, sha, labels={CREATED: created})
        assert run(capsys, "merge", image, f"--version={version}", f"--sha={sha}")[0] == 0
        # merge records in the index only what status may show: the checked revision, and
        # the created label only when it is a plain value.
        entries = json.loads(fetch_raw(registry.host, REPO, f"{version}-workers")[0])
        recorded = {REVISION: sha} | ({CREATED: created} if version == "1.3.0" else {})
        assert [e["annotations"] for e in entries["manifests"]] == [recorded] * 2, version
    code, report, err = run(capsys, "status", image)
    assert code == 0, err
    assert [(v["version"], v["created"]) for v in report["versions"]] == [
        ("1.3.0", "y" * 128),
        ("1.2.0", None),
        ("1.1.0", None),
        ("1.0.0", None),
    ]
    assert cli.run(["status", image]) == 0
    table = capsys.readouterr().out
    assert "pwned" not in table and "x" * 129 not in table and "y" * 128 in table
    assert not any(ln.startswith("::") for ln in table.splitlines())
