"""`pin --kustomization`: an ops repository of bases and overlays, as most are.

The overlay that is deployed (`workers/overlays/prod`) builds a base that staging shares, or
that pin cannot see at all (`--manifests` is the overlay alone, or the base is remote). The
pin must land in that overlay's `images:` entry, added when missing, and nowhere else:
staging keeps its image, the base stays byte for byte, `kubectl kustomize` renders the
digest for prod only, a second run writes nothing, `--check` names the entry's line, and
an entry over a base that runs the production image of the same repository is refused.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ops_repo import REPO, release, seed_history, snapshot, write_tree
from support.images import tag_digests
from support.registry import Registry

from release_pipeline.cli import app as cli


def deployment(name: str, image: str) -> bytes:
    return (
        "apiVersion: apps/v1\n"
        "kind: Deployment\n"
        f"metadata: {{name: {name}}}\n"
        "spec:\n"
        f"  selector: {{matchLabels: {{app: {name}}}}}\n"
        "  template:\n"
        f"    metadata: {{labels: {{app: {name}}}}}\n"
        "    spec:\n"
        "      containers:\n"
        f"        - name: {name}\n"
        f"          image: {image}\n"
    ).encode()


def layout(image: str) -> dict[str, bytes]:
    """A workers base shared by two overlays, and a mixed base (workers and web)."""
    return {
        "workers/base/kustomization.yaml": b"resources:\n  - deployment.yaml\n",
        "workers/base/deployment.yaml": deployment("workers", f"{image}:latest-workers"),
        "workers/overlays/prod/kustomization.yaml": (
            b"# production overlay (OPS-7)\r\n"
            b"apiVersion: kustomize.config.k8s.io/v1beta1\r\n"
            b"kind: Kustomization\r\n"
            b"namespace: prod\r\n"
            b"resources:\r\n"
            b"  - ../../base   # the shared workers base\r\n"
        ),
        "workers/overlays/staging/kustomization.yaml": (
            b"namespace: staging\nresources: [../../base]\n"
        ),
        "mixed/base/kustomization.yaml": b"resources: [workers.yaml, web.yaml]\n",
        "mixed/base/workers.yaml": deployment("workers", f"{image}:latest-workers"),
        "mixed/base/web.yaml": deployment("web", f"{image}:latest"),
        "mixed/overlays/prod/kustomization.yaml": b"resources:\n- ../../base\n",
    }


@pytest.fixture
def ops(registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    digests = seed_history(registry.host, capsys)
    image = f"{registry.host}/{REPO}"
    root = tmp_path / "k8s"
    write_tree(root, layout(image))
    return {"root": root, "image": image, "digests": digests, "host": registry.host}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def pin_whole_tree(
    ops: dict[str, Any], capsys: pytest.CaptureFixture[str], kustomization: str, *more: str
) -> tuple[int, str, str]:
    """Pin 0.22.7 with the whole tree as --manifests, through `kustomization`."""
    argv = [f"--image={ops['image']}", f"--manifests={ops['root']}", "--version=0.22.7"]
    return run(capsys, "pin", *argv, f"--kustomization={kustomization}", *more)


def rendered_images(directory: Path) -> list[str]:
    out = subprocess.run(
        ["kubectl", "kustomize", str(directory)], check=True, capture_output=True, text=True
    ).stdout
    return [line.split("image:", 1)[1].strip() for line in out.splitlines() if "image:" in line]


def test_an_overlay_alone_is_pinned_through_an_added_entry(
    ops: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    root, image = ops["root"], ops["image"]
    prod = root / "workers/overlays/prod"
    before = (prod / "kustomization.yaml").read_bytes()
    untouched = snapshot(root)

    # the base is outside --manifests: found nowhere, and the refusal says what to type
    code, _, err = run(capsys, "pin", f"--image={image}", f"--manifests={prod}", "--version=0.22.7")
    assert code == 1 and "--kustomization ." in err and "../../base" in err
    assert snapshot(root) == untouched

    # through the overlay: its base cannot be checked for other flavors, so only when allowed
    argv = ["pin", f"--image={image}", f"--manifests={prod}", "--kustomization=."]
    code, _, err = run(capsys, *argv, "--version=0.22.7")
    assert code == 1 and "builds ../../base, which pin cannot read" in err
    assert "--allow-unread-bases" in err and snapshot(root) == untouched

    pinned = f"{image}@{ops['digests']['workers/0.22.7']}"
    argv.append("--allow-unread-bases")
    code, out, err = run(capsys, *argv, "--version=0.22.7", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["written"] == ["kustomization.yaml"]
    assert report["unseen"] == ["../../base"]
    assert [(c["line"], c["old"], c["new"]) for c in report["changes"]] == [
        (8, "(no images: entry)", pinned)
    ]
    after = (prod / "kustomization.yaml").read_bytes()
    digest = ops["digests"]["workers/0.22.7"]
    assert after == before + f"images:\r\n- name: {image}\r\n  digest: {digest}\r\n".encode()
    assert rendered_images(prod) == [pinned]
    assert rendered_images(root / "workers/overlays/staging") == [f"{image}:latest-workers"]

    # a second run writes nothing; --check passes, and after a newer release names the line
    written = snapshot(root)
    code, out, err = run(capsys, *argv, "--version=0.22.7", "--json")
    assert code == 0 and json.loads(out)["written"] == [], err
    assert run(capsys, *argv, "--check")[0] == 0
    release(ops["host"], capsys, "0.22.9", "w9")
    code, out, _ = run(capsys, *argv, "--check")
    assert code == 1 and "kustomization.yaml:8" in out
    assert snapshot(root) == written


def test_a_shared_base_in_the_tree_stays_as_it_is(
    ops: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    root, image = ops["root"], ops["image"]
    before = snapshot(root)
    code, out, err = pin_whole_tree(
        ops, capsys, "workers/overlays/prod/kustomization.yaml", "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["written"] == ["workers/overlays/prod/kustomization.yaml"]
    assert report["unseen"] == []  # the base is in the tree, and was checked
    after = snapshot(root)
    assert {p for p in after if after[p] != before[p]} == {
        "workers/overlays/prod/kustomization.yaml"
    }
    pinned = f"{image}@{ops['digests']['workers/0.22.7']}"
    assert rendered_images(root / "workers/overlays/prod") == [pinned]
    assert rendered_images(root / "workers/overlays/staging") == [f"{image}:latest-workers"]


def test_status_shows_what_each_overlay_deploys(
    ops: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """The overlay's entry decides what prod runs; staging runs what its base names."""
    root, image = ops["root"], ops["image"]
    assert pin_whole_tree(ops, capsys, "workers/overlays/prod")[0] == 0
    status = ["status", f"--image={image}", f"--manifests={root}", "--json"]

    def deployed(*more: str) -> list[tuple[str, str | None]]:
        code, out, err = run(capsys, *status, *more)
        assert code == 0, err
        return [(r["path"], r["version"]) for r in json.loads(out)["deployed"]]

    assert deployed("--kustomization=workers/overlays/prod") == [
        ("workers/overlays/prod/kustomization.yaml", "0.22.7")
    ]
    assert deployed("--kustomization=workers/overlays/staging") == [
        ("workers/base/deployment.yaml", None)  # a tag: whatever it holds at pull time
    ]
    assert ("workers/overlays/prod/kustomization.yaml", "0.22.7") in deployed()


def test_an_entry_over_a_base_that_runs_production_too_is_refused(
    ops: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    root = ops["root"]
    before = snapshot(root)
    code, _, err = pin_whole_tree(ops, capsys, "mixed/overlays/prod")
    assert code == 1
    assert "mixed/base/web.yaml:11" in err and "pin without --kustomization" in err
    assert snapshot(root) == before


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--kustomization=../x"], "kustomization: must be a path inside the manifests"),
        (["--kustomization=/etc"], "kustomization: must be a path inside the manifests"),
        (["--allow-unread-bases"], "allow_unread_bases: is for --kustomization"),
    ],
)
def test_a_kustomization_flag_that_cannot_hold_is_refused_before_any_read(
    ops: dict[str, Any], capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    argv = [f"--image={ops['image']}", f"--manifests={ops['root']}", *flags]
    code, _, err = run(capsys, "pin", *argv, "--version=0.22.7")
    assert code == 2 and message in err


def test_a_directory_without_a_kustomization_is_refused(
    ops: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [f"--image={ops['image']}", f"--manifests={ops['root']}", "--kustomization=workers"]
    code, _, err = run(capsys, "pin", *argv, "--version=0.22.7")
    assert code == 1 and "workers: holds no kustomization" in err


def test_rollback_moves_the_overlay_entry(
    ops: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    root, image, host = ops["root"], ops["image"], ops["host"]
    prod = root / "workers/overlays/prod"
    bad = release(host, capsys, "0.22.9", "w9")
    pin = ["pin", f"--image={image}", f"--manifests={prod}", "--kustomization=."]
    pin.append("--allow-unread-bases")
    assert run(capsys, *pin, "--version=0.22.9")[0] == 0
    assert rendered_images(prod) == [f"{image}@{bad}"]

    code, out, err = run(
        capsys,
        "promote",
        f"--image={image}",
        "--from=0.22.7",
        f"--pin={prod}",
        "--kustomization=.",
        "--allow-unread-bases",
        "--json",
    )
    assert code == 0, err
    good = ops["digests"]["workers/0.22.7"]
    assert json.loads(out)["pin"]["written"] == ["kustomization.yaml"]
    assert rendered_images(prod) == [f"{image}@{good}"]
    assert tag_digests(host, REPO)["latest-workers"] == good


def test_promote_stops_before_any_write_when_the_kustomization_cannot_be_pinned(
    ops: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    root, image, host = ops["root"], ops["image"], ops["host"]
    tags = tag_digests(host, REPO)
    code, _, err = run(
        capsys,
        "promote",
        f"--image={image}",
        "--from=0.22.6",
        f"--pin={root}",
        "--kustomization=mixed/overlays/prod",
    )
    # the clash needs the flavors (a registry read), but no registry write happened
    assert code == 1 and "mixed/base/web.yaml" in err
    assert tag_digests(host, REPO) == tags


def test_unread_bases_are_printed_escaped(
    ops: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    overlay = ops["root"] / "hostile"
    write_tree(
        overlay,
        {"kustomization.yaml": b'resources: ["https://evil.example/\\e[2J\\e]8;;x\\a"]\n'},
    )
    argv = [f"--image={ops['image']}", f"--manifests={overlay}", "--kustomization=."]
    code, _, err = run(capsys, "pin", *argv, "--version=0.22.7")
    assert code == 1 and "\x1b" not in err and "\a" not in err and "cannot read" in err
    code, out, err = run(capsys, "pin", *argv, "--version=0.22.7", "--allow-unread-bases")
    assert code == 0, err
    assert "\x1b" not in out and "\a" not in out and "not read:" in out
