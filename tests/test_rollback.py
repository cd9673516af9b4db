"""Issue 14's "Why", one end-to-end test per case, as an on-call engineer runs them.

Each starts from a real registry seeded the way it would be in that incident: what the old
TestPlanIt workflow left (single-platform images under every version and floating tag, the
`workers-sha-S` tags, no per-arch tags, no revision labels), production and workers side by
side, and another image's `docs` tags in the same repository. Results are read back by raw
HTTP (support.images), writes counted at the proxy, never taken from the client under test.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import ProxyFactory
from history import DOCS_TAGS, seed_docs, seed_legacy
from seeding import merged_release
from support.commands import run_json as run
from support.commands import sha_of
from support.images import fetch_raw, list_tags_raw, tag_digests
from support.proxy import WRITE_METHODS
from support.raw_http import raw_request
from support.registry import Registry

from release_pipeline.cli import app as cli

REPO = "testplanit/testplanit"


def release(host: str, capsys: pytest.CaptureFixture[str], version: str, commit: str, *flags: str):
    return merged_release(host, REPO, capsys, version, commit, *flags)


def digest(host: str, tag: str) -> str | None:
    return tag_digests(host, REPO).get(tag)


def writes(proxy: Any) -> list[str]:
    return sorted(p.rsplit("/", 1)[1] for m, p in proxy.counted() if m in WRITE_METHODS)


def test_the_first_rollback_after_the_switch_goes_back_to_the_old_workflows_image(
    registry: Registry, proxy_factory: ProxyFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    host = registry.host
    docs = seed_docs(host, REPO)
    old_workers = seed_legacy(host, REPO, "0.22.7", sha_of("old"), flavor="workers")
    old_production = seed_legacy(host, REPO, "0.22.7", sha_of("old"), flavor="")
    new = release(host, capsys, "0.22.8", "new")
    assert digest(host, "latest-workers") == new["index_digest"]
    assert digest(host, "latest") == old_production  # merge of workers leaves production alone

    proxy = proxy_factory(host)
    image = f"--image={proxy.host}/{REPO}"
    code, report, err = run(capsys, "status", image)
    assert code == 0, err
    assert report["latest"]["version"] == "0.22.8"
    assert [v["version"] for v in report["versions"]] == ["0.22.8", "0.22.7"]
    assert report["versions"][1]["digest"] == old_workers
    assert report["rollback_candidates"] == ["0.22.7"]

    # Every way of naming it is accepted, and they agree: the bare version means this
    # flavor's version tag.
    dry = {}
    for name in ("0.22.7", "v0.22.7", "0.22.7-workers", f"workers-sha-{sha_of('old')[:8]}"):
        code, dry[name], err = run(capsys, "promote", image, f"--from={name}", "--dry-run")
        assert code == 0, (name, err)
        assert dry[name]["version"] == "0.22.7" and dry[name]["digest"] == old_workers
    assert dry["0.22.7"]["yanked"] == ["0.22.8"]
    assert dry["0.22.7"]["written"] == ["0.22.8-workers-yanked", "latest-workers"]
    assert dry["0.22.7"]["previous"] == new["index_digest"]
    assert dry["0.22.7"]["previous_version"] == "0.22.8"
    assert writes(proxy) == []

    proxy.reset()
    code, done, err = run(capsys, "promote", image, "--from=0.22.7")
    assert code == 0, err
    assert writes(proxy) == sorted(dry["0.22.7"]["written"])
    assert digest(host, "latest-workers") == old_workers
    assert done["after"] == old_workers and done["after_version"] == "0.22.7"
    after = tag_digests(host, REPO)
    assert after["latest"] == old_production
    assert {t: after[t] for t in DOCS_TAGS} == docs
    for flavor, shown in (("workers", ["0.22.8", "0.22.7"]), ("", ["0.22.7"])):
        code, report, err = run(capsys, "status", image, f"--flavor={flavor}")
        assert code == 0, err
        assert [v["version"] for v in report["versions"]] == shown  # never a docs tag


def test_no_flavor_can_reach_another_flavors_tags(
    registry: Registry, proxy_factory: ProxyFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    host = registry.host
    seed_docs(host, REPO)
    release(host, capsys, "1.0.0", "p1", "--flavor=")
    release(host, capsys, "1.0.0", "w1")
    release(host, capsys, "2.0.0", "p2", "--flavor=")
    before = tag_digests(host, REPO)
    proxy = proxy_factory(host)
    image = f"--image={proxy.host}/{REPO}"
    w_sha = f"workers-sha-{sha_of('w1')[:8]}"

    textual = [  # refused from the text alone: exit 2, no request sent
        (["--from=1.0.0", "--to=latest"], "--flavor ''"),
        (["--from=1.0.0-workers", "--to=1.0.0"], "immutable"),
        (["--from=1.0.0-workers", "--to=2.0.0-rc.1"], "immutable"),
        (["--from=1.0.0-workers", "--to=1.0.0-workers-amd64"], "immutable"),
        (["--from=1.0.0-workers", "--to=1.0.0-armv7"], "immutable"),
        (["--from=1.0.0-workers", f"--to={w_sha}"], "immutable"),
        (["--from=1.0.0-workers", "--to=1.0.0-workers-yanked"], "immutable"),
        (["--from=1.0.0-workers", "--to=1.0.0-workers-2_restored"], "immutable"),
        (["--from=1.0.0-workers", "--to=canary"], "floating tag of flavor workers"),
        (["--from=1.0.0-workers", "--to=latest-api"], "--flavor api"),
        (["--from=1.0.0-workers", "--flavor="], "--flavor workers"),
        ([f"--from={w_sha}", "--flavor="], "--flavor workers"),
        (["--from=1.0.0-workers-amd64"], "per-arch"),
        (["--from=latest"], "--flavor ''"),
    ]
    for argv, hint in textual:
        code, _, err = run(capsys, "promote", image, *argv)
        assert code == 2 and hint in err, (argv, err)
        assert proxy.counted() == [], argv

    # Refused once the tag list shows whose it is: exit 2, before any write.
    code, _, err = run(capsys, "promote", image, "--from=2.0.0")
    assert code == 2 and "--flavor ''" in err, err
    code, _, err = run(capsys, "promote", image, f"--from={before['2.0.0']}")
    assert code == 2 and "--flavor ''" in err, err
    code, _, err = run(capsys, "promote", image, "--from=1.0.0", "--flavor=", "--to=docs")
    assert code == 2 and "no release" in err, err
    assert writes(proxy) == []
    assert tag_digests(host, REPO) == before

    # And the right flavor works: production's 1.0.0 under `latest`, 2.0.0 yanked.
    code, done, err = run(capsys, "promote", image, "--from=1.0.0", "--flavor=")
    assert code == 0, err
    assert done["yanked"] == ["2.0.0"] and writes(proxy) == ["2.0.0-yanked", "latest"]
    after = tag_digests(host, REPO)
    assert after["latest"] == before["1.0.0"]
    assert {t: d for t, d in after.items() if before.get(t) != d} == done["tags"]


def test_a_refused_rollback_writes_nothing_and_its_dry_run_says_so(
    registry: Registry, proxy_factory: ProxyFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    host = registry.host
    good = release(host, capsys, "1.0.0", "a")
    release(host, capsys, "1.1.0", "b")
    # A child of 1.0.0's index is deleted (a registry's garbage collection, a cleanup job).
    child = good["platforms"]["linux/amd64"]
    gone = raw_request("DELETE", f"http://{host}/v2/{REPO}/manifests/{child}")
    assert gone.status == 202, gone.status
    before = tag_digests(host, REPO)
    proxy = proxy_factory(host)
    image = f"--image={proxy.host}/{REPO}"
    for dry in (["--dry-run"], []):
        code, _, err = run(capsys, "promote", image, "--from=1.0.0", *dry)
        assert code == 1 and child in err and "nothing written" in err, err
    assert writes(proxy) == []
    assert tag_digests(host, REPO) == before
    assert "1.1.0-workers-yanked" not in list_tags_raw(host, REPO)


def test_a_pre_switch_image_whose_layer_is_gone_is_refused_before_any_write(
    registry: Registry, proxy_factory: ProxyFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    host = registry.host
    seed_legacy(host, REPO, "0.22.7", sha_of("old"))
    release(host, capsys, "0.22.8", "new")
    # The old single-platform image lost a layer (a cleanup job): its manifest is still
    # there, but a PUT of it under latest-workers would be refused by the registry.
    raw, _, _ = fetch_raw(host, REPO, "0.22.7-workers")
    layer = json.loads(raw)["layers"][0]["digest"]
    gone = raw_request("DELETE", f"http://{host}/v2/{REPO}/blobs/{layer}")
    assert gone.status == 202, gone.status
    before = tag_digests(host, REPO)
    proxy = proxy_factory(host)
    for dry in (["--dry-run"], []):
        code, _, err = run(capsys, "promote", f"--image={proxy.host}/{REPO}", "--from=0.22.7", *dry)
        assert code == 1 and layer in err and "blobs of its image are gone" in err, err
        assert "nothing written" in err
    assert writes(proxy) == []
    assert tag_digests(host, REPO) == before


def test_a_version_put_back_stays_live_for_every_verb(
    registry: Registry, proxy_factory: ProxyFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    host = registry.host
    one = release(host, capsys, "1.0.0", "a")
    two = release(host, capsys, "1.1.0", "b")
    image = f"--image={host}/{REPO}"
    code, back, err = run(capsys, "promote", image, "--from=1.0.0")
    assert code == 0 and back["yanked"] == ["1.1.0"], err

    code, dry, err = run(capsys, "promote", image, "--from=1.1.0", "--dry-run")
    assert code == 0, err
    assert dry["restored"] == ["1.1.0"] and dry["yanked"] == []
    assert dry["written"] == ["1.1.0-workers-1_restored", "latest-workers"]
    code, put_back, err = run(capsys, "promote", image, "--from=1.1.0")
    assert code == 0 and put_back == dry | {"dry_run": False}, err
    assert digest(host, "latest-workers") == two["index_digest"]

    fix = release(host, capsys, "1.0.1", "c")  # a later, lower release: latest stays
    assert fix["latest_moved"] is False and "1.1.0 is newer" in fix["latest_reason"]
    assert digest(host, "latest-workers") == two["index_digest"]
    rerun = release(host, capsys, "1.1.0", "b")  # and a re-run of 1.1.0 keeps it there
    assert rerun["written"] == [] and digest(host, "latest-workers") == two["index_digest"]
    code, report, _ = run(capsys, "status", image)
    assert report["latest"]["version"] == "1.1.0"
    assert {v["version"]: v["yanked"] for v in report["versions"]} == {
        "1.1.0": False,
        "1.0.1": False,
        "1.0.0": False,
    }
    assert report["rollback_candidates"] == ["1.0.1", "1.0.0"]

    # Yanked again: the next generation of yank event; every event tag is written once.
    proxy = proxy_factory(host)
    code, again, err = run(capsys, "promote", f"--image={proxy.host}/{REPO}", "--from=1.0.0")
    assert code == 0, err
    assert again["yanked"] == ["1.0.1", "1.1.0"]
    assert writes(proxy) == sorted(
        ["1.0.1-workers-yanked", "1.1.0-workers-2_yanked", "latest-workers"]
    )
    assert digest(host, "latest-workers") == one["index_digest"]


def test_a_yanked_image_released_under_a_new_version_stays_off_latest(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    host = registry.host
    good = release(host, capsys, "0.22.7", "good")
    bad = release(host, capsys, "0.22.8", "bad")
    image = f"--image={host}/{REPO}"
    assert run(capsys, "promote", image, "--from=0.22.7")[0] == 0

    again = release(host, capsys, "0.22.9", "bad")  # the yanked commit, as a new version
    assert again["index_digest"] == bad["index_digest"]
    assert again["latest_moved"] is False
    assert "yanked as 0.22.8" in again["latest_reason"]
    assert "promote --from 0.22.9" in again["latest_reason"]
    assert digest(host, "0.22.9-workers") == bad["index_digest"]  # its tags are written
    assert digest(host, "latest-workers") == good["index_digest"]
    code, report, _ = run(capsys, "status", image)
    rows = {v["version"]: v for v in report["versions"]}
    assert rows["0.22.9"]["yanked"] and not rows["0.22.9"]["live"]
    # status says why: the on-call engineer never yanked 0.22.9 by hand
    assert rows["0.22.9"]["yanked_by"] == rows["0.22.8"]["yanked_by"] == "0.22.8"
    assert rows["0.22.7"]["yanked_by"] is None
    assert cli.run(["status", image]) == 0
    assert capsys.readouterr().out.count("yanked as 0.22.8") == 1  # 0.22.9's row
    assert report["rollback_candidates"] == []  # 0.22.7 is latest's own

    newer = release(host, capsys, "0.23.0", "fixed")  # a real fix moves latest on
    assert newer["latest_moved"] is True

    # Putting the images back on purpose: every version holding that index is restored.
    code, put_back, err = run(capsys, "promote", image, "--from=0.22.9")
    assert code == 0, err
    assert put_back["restored"] == ["0.22.8"] and put_back["yanked"] == ["0.23.0"]
    assert digest(host, "latest-workers") == bad["index_digest"]


def test_status_and_promote_read_a_shared_index_as_its_stable_version(
    registry: Registry, proxy_factory: ProxyFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    host = registry.host
    release(host, capsys, "0.9.0", "a")
    one = release(host, capsys, "1.0.0", "b")
    rc = release(host, capsys, "1.1.0-rc.1", "b")  # from 1.0.0's commit: the same index
    assert rc["index_digest"] == one["index_digest"]
    proxy = proxy_factory(host)
    image = f"--image={proxy.host}/{REPO}"
    code, report, err = run(capsys, "status", image)
    assert code == 0, err
    assert report["latest"]["version"] == "1.0.0"
    assert report["rollback_candidates"] == ["0.9.0"]

    for name in (f"workers-sha-{sha_of('b')[:8]}", one["index_digest"], "1.0.0"):
        proxy.reset()
        code, done, err = run(capsys, "promote", image, f"--from={name}")
        assert code == 0, (name, err)
        assert done["version"] == "1.0.0" and done["already_current"] is True
        assert done["written"] == [] and done["yanked"] == [] and writes(proxy) == []
        assert "already holds 1.0.0" in done["reason"]
        assert done["previous"] == done["after"] == one["index_digest"]
    code, _, err = run(capsys, "promote", image, "--from=1.1.0-rc.1")
    assert code == 1 and "prerelease 1.1.0-rc.1" in err


def test_restoring_a_yanked_version_names_what_latest_held_as_status_does(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 26: the restore read no digest of the version latest held and printed
    `before: latest-workers -> ? (sha256:...)` where `status` said 0.22.7."""
    host = registry.host
    seed_docs(host, REPO)
    old = seed_legacy(host, REPO, "0.22.7", sha_of("old"), flavor="workers")
    release(host, capsys, "0.22.8", "new")
    image = f"--image={host}/{REPO}"
    assert run(capsys, "promote", image, "--from=0.22.7")[0] == 0  # 0.22.8 is yanked
    code, report, _ = run(capsys, "status", image)
    assert code == 0 and report["latest"] == {
        "tag": "latest-workers",
        "digest": old,
        "version": "0.22.7",
    }

    code, dry, err = run(capsys, "promote", image, "--from=0.22.8", "--dry-run")
    assert code == 0 and dry["restored"] == ["0.22.8"], err
    assert dry["previous"] == old and dry["previous_version"] == "0.22.7"
    assert cli.run(["promote", image, "--from=0.22.8", "--dry-run", "--wide"]) == 0
    assert f"now: latest-workers -> 0.22.7 ({old})" in capsys.readouterr().out
    assert cli.run(["promote", image, "--from=0.22.8", "--wide"]) == 0
    shown = capsys.readouterr().out
    assert f"before: latest-workers -> 0.22.7 ({old})" in shown and "-> ?" not in shown
