"""`promote --pin DIR`: the rollback moves the floating tag, the yanks and the manifests' pin.

History (tests/ops_repo.py) plus a bad 0.22.9 released and deployed (pinned). Rolling back
to 0.22.7 with `--pin` must leave latest-workers on 0.22.7, 0.22.9 yanked and every workers
reference pinned to 0.22.7; a manifest pin would refuse stops it before any registry write;
a pin that fails after the registry step says the registry side is done and gives the
command that finishes it, which does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import ProxyFactory
from ops_repo import REPO, release, seed_history, snapshot, tree, write_tree
from support.hostile_answers import Answer, Hostile
from support.images import tag_digests
from support.registry import Registry

from release_pipeline.cli import app as cli

HELM = "--helm-keys=image.repository,image.tag,image.digest"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def bad_deploy(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> dict[str, Any]:
    digests = seed_history(registry.host, capsys)
    digests["workers/0.22.9"] = release(registry.host, capsys, "0.22.9", "w9")
    image = f"{registry.host}/{REPO}"
    root = tmp_path / "ops"
    write_tree(root, tree(image))
    code, _, err = run(
        capsys, "pin", f"--image={image}", f"--manifests={root}", "--version=0.22.9", HELM
    )
    assert code == 0, err
    return {"host": registry.host, "image": image, "root": root, "digests": digests}


def test_rollback_with_pin_moves_tag_yank_and_manifests(
    bad_deploy: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    image, root, digests = bad_deploy["image"], bad_deploy["root"], bad_deploy["digests"]
    code, out, err = run(
        capsys, "promote", f"--image={image}", "--from=0.22.7", f"--pin={root}", HELM, "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    good = digests["workers/0.22.7"]
    assert report["yanked"] == ["0.22.9"] and report["digest"] == good
    assert report["pin"]["pinned"] == report["pinned"] == f"{image}@{good}"
    assert len(report["pin"]["changes"]) == 6 and report["pin"]["forced"] is None
    text = (root / "apps/workers.yaml").read_text()
    assert text.count(f"{image}@{good}") == 2 and digests["workers/0.22.9"] not in text
    code, out, _ = run(capsys, "pin", f"--image={image}", f"--manifests={root}", "--check", HELM)
    assert code == 0, out  # latest-workers and the manifests agree


def test_a_manifest_pin_would_refuse_stops_the_rollback_before_any_write(
    bad_deploy: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    image, root = bad_deploy["image"], bad_deploy["root"]
    (root / "apps/broken.yaml").write_text("kind: Deployment\nspec: [\n")
    registry_before, files_before = tag_digests(bad_deploy["host"], REPO), snapshot(root)
    code, _, err = run(capsys, "promote", f"--image={image}", "--from=0.22.7", f"--pin={root}")
    assert code == 1
    assert "apps/broken.yaml:3: is not valid YAML" in err
    assert tag_digests(bad_deploy["host"], REPO) == registry_before
    assert snapshot(root) == files_before


@pytest.mark.parametrize(
    ("path", "text", "refusal"),
    [
        (
            "apps/kustomization.yaml",
            "resources: [workers.yaml]\nimages:\n- name: IMAGE\n  newTag: latest\n",
            "apps/kustomization.yaml:3: images: entry",
        ),
        (
            "chart/flow-values.yaml",
            "image: {repository: IMAGE, tag: latest-workers}\n",
            "chart/flow-values.yaml:1: has no image.digest value to set",
        ),
    ],
    ids=["entry-over-two-flavors", "values-without-room-for-the-digest"],
)
def test_what_pin_refuses_once_the_registry_answered_is_found_before_any_write(
    bad_deploy: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    path: str,
    text: str,
    refusal: str,
) -> None:
    """The flavors a kustomization builds and every edit are tried before promote
    writes (with a stand-in digest): the rollback is refused whole, not half done."""
    image, root = bad_deploy["image"], bad_deploy["root"]
    (root / path).write_text(text.replace("IMAGE", image))
    registry_before, files_before = tag_digests(bad_deploy["host"], REPO), snapshot(root)
    argv = [f"--image={image}", "--from=0.22.7", f"--pin={root}", HELM]
    code, _, err = run(capsys, "promote", *argv)
    assert code == 1 and refusal in err, err
    assert "registry side is done" not in err
    assert tag_digests(bad_deploy["host"], REPO) == registry_before
    assert snapshot(root) == files_before


def test_a_pin_failing_after_the_registry_step_says_how_to_finish(
    bad_deploy: dict[str, Any],
    proxy_factory: ProxyFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The registry stops answering reads once latest-workers moved: the rollback's registry
    side stands, no manifest is written, and the printed command finishes the pin."""
    host, digests = bad_deploy["host"], bad_deploy["digests"]
    after_put = {"moved": False, "lists": 0}

    def deny_reads_after_the_move(answer: Answer) -> None:
        if answer.method == "PUT" and answer.path.endswith("/manifests/latest-workers"):
            after_put["moved"] = True
        elif after_put["moved"] and "/tags/list" in answer.path:
            after_put["lists"] += 1
            if after_put["lists"] > 1:  # promote's own re-read passes; pin's read is denied
                answer.status = 403
                answer.set_header("Content-Type", "application/json")
                answer.body = b'{"errors": [{"code": "DENIED", "message": "read-only"}]}'

    proxy = proxy_factory(host, hostile=Hostile(rewrite=deny_reads_after_the_move))
    image, root = f"{proxy.host}/{REPO}", tmp_path / "via-proxy"
    write_tree(root, tree(image))
    files_before = snapshot(root)
    code, _, err = run(capsys, "promote", f"--image={image}", "--from=0.22.7", f"--pin={root}")
    assert code == 1
    good = digests["workers/0.22.7"]
    assert f"the registry side is done (latest-workers -> {image}@{good})" in err
    assert "the manifests were not pinned:" in err and "DENIED" in err
    assert snapshot(root) == files_before
    tags = tag_digests(host, REPO)
    assert tags["latest-workers"] == good and "0.22.9-workers-yanked" in tags

    hint = re.search(r"Re-run to finish: (release-pipeline pin .*)$", err.strip())
    assert hint is not None, err
    argv = hint.group(1).split()[1:]
    assert argv == [
        "pin",
        "--image",
        image,
        "--flavor",
        "workers",
        "--digest",
        good,
        "--manifests",
        str(root),
    ]
    after_put["moved"] = False  # the registry answers again
    code, _, err = run(capsys, *argv, HELM)
    assert code == 0, err
    assert f"{image}@{good}" in (root / "apps/workers.yaml").read_text()


def test_a_dry_run_writes_neither_side(
    bad_deploy: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    image, root = bad_deploy["image"], bad_deploy["root"]
    registry_before, files_before = tag_digests(bad_deploy["host"], REPO), snapshot(root)
    code, out, err = run(
        capsys, "promote", f"--image={image}", "--from=0.22.7", f"--pin={root}", "--dry-run"
    )
    assert code == 0, err
    assert out.count("dry run: nothing written") == 2  # the promote, then the pin
    assert "+          image: " in out  # the diff of what pin would write
    assert tag_digests(bad_deploy["host"], REPO) == registry_before
    assert snapshot(root) == files_before
