"""`status --manifests`: which release the deployment manifests pin, yanked or not.

On call's question in an incident: "latest-workers -> 0.22.7, the manifests pin 0.22.8",
and is that one yanked. The registry and tree are tests/ops_repo.py's; the manifests are
pinned by the real `pin` first.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ops_repo import REPO, seed_history, tree, write_tree
from support.registry import Registry

from release_pipeline.cli import app as cli

HELM = "--helm-keys=image.repository,image.tag,image.digest"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_status_marks_the_deployed_version_and_its_yank(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_history(registry.host, capsys)
    image = f"{registry.host}/{REPO}"
    root = tmp_path / "ops"
    write_tree(root, tree(image))
    status = ["status", f"--image={image}", f"--manifests={root}", "--wide"]

    code, out, err = run(capsys, *status)
    assert code == 0, err
    assert "latest-workers -> 0.22.7, the manifests pin a tag (not pinned)\n" in out
    assert (
        "not pinned (a tag): apps/cleanup.yml:13, apps/workers.yaml:16, apps/workers.yaml:19, "
        "overlays/workers/deployment.yaml:14, overlays/workers/kustomization.yaml:6\n" in out
    )

    # The bad 0.22.8 pinned anyway (as a deploy made before the rollback would have)
    code, _, err = run(
        capsys, "pin", f"--image={image}", f"--manifests={root}", "--version=0.22.8", "--force"
    )
    assert code == 0, err
    code, out, err = run(capsys, *status)
    assert code == 0, err
    assert "latest-workers -> 0.22.7, the manifests pin 0.22.8\n" in out
    row = next(line for line in out.splitlines() if " 0.22.8 " in line)
    assert row.endswith("yanked, deployed"), row
    assert "deployed 0.22.8 (YANKED): apps/cleanup.yml:13, apps/workers.yaml:16," in out
    assert "not pinned" not in out  # production's references are another flavor's

    code, out, err = run(capsys, *status, "--json")
    report = json.loads(out)
    rows = {v["version"]: v["deployed"] for v in report["versions"]}
    assert rows == {"0.22.8": True, "0.22.7": False, "0.22.6": False}
    assert {(r["path"], r["version"], r["yanked"]) for r in report["deployed"]} == {
        ("apps/workers.yaml", "0.22.8", True),
        ("apps/cleanup.yml", "0.22.8", True),
        ("overlays/workers/deployment.yaml", "0.22.8", True),
        ("overlays/workers/kustomization.yaml", "0.22.8", True),
    }


def test_status_reads_helm_values_with_the_keys_pin_was_given(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digests = seed_history(registry.host, capsys)
    image = f"{registry.host}/{REPO}"
    root = tmp_path / "ops"
    write_tree(root, tree(image))
    pin = ["pin", f"--image={image}", f"--manifests={root}", "--version=0.22.7", HELM]
    assert run(capsys, *pin)[0] == 0
    status = ["status", f"--image={image}", f"--manifests={root}", "--json"]

    code, out, err = run(capsys, *status, HELM)
    assert code == 0, err
    helm = [r for r in json.loads(out)["deployed"] if r["path"] == "chart/values.yaml"]
    assert [(r["version"], r["digest"]) for r in helm] == [("0.22.7", digests["workers/0.22.7"])]
    code, out, err = run(capsys, *status)  # without the keys, values files name no image
    assert code == 0, err
    assert "chart/values.yaml" not in {r["path"] for r in json.loads(out)["deployed"]}

    code, _, err = run(capsys, "status", f"--image={image}", HELM)
    assert code == 2 and "helm_keys: is for --manifests DIR" in err
