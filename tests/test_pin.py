"""`pin` on an ops-repository-shaped tree against a real registry (tests/ops_repo.py).

What a platform engineer relies on: only the workers image lines change, byte for byte
(CRLF, comments, quoting and other documents kept); production and other images are left
alone; a second run writes nothing; `--check` passes after the pin and fails, naming
file:line, once a newer release is out; a yanked digest needs `--force`; `kubectl
kustomize` renders the digest.
"""

from __future__ import annotations

import difflib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ops_repo import REPO, release, seed_history, snapshot, tree, write_tree
from support.registry import Registry

from release_pipeline.cli import app as cli

HELM = "--helm-keys=image.repository,image.tag,image.digest"


def pin(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.run(["pin", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def ops(registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    digests = seed_history(registry.host, capsys)
    root = tmp_path / "ops"
    image = f"{registry.host}/{REPO}"
    write_tree(root, tree(image))
    return {"root": root, "image": image, "digests": digests, "host": registry.host}


def args(ops: dict[str, Any], *more: str) -> list[str]:
    return [f"--image={ops['image']}", f"--manifests={ops['root']}", HELM, *more]


def changed_lines(before: bytes, after: bytes) -> list[tuple[str, str]]:
    """(old, new) of every differing line; a line only one side has is paired with ''."""
    a, b = before.decode().splitlines(True), after.decode().splitlines(True)
    pairs = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b).get_opcodes():
        if op != "equal":
            olds, news = a[i1:i2], b[j1:j2]
            pairs += [(o, n) for o, n in zip(olds, news, strict=False)]
            pairs += [("", n) for n in news[len(olds) :]] + [(o, "") for o in olds[len(news) :]]
    return pairs


def test_pin_changes_only_the_workers_image_lines(
    ops: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    root, image = ops["root"], ops["image"]
    digest = ops["digests"]["workers/0.22.7"]
    before = {p: (root / p).read_bytes() for p in tree(image)}
    code, out, err = pin(capsys, *args(ops, "--version=0.22.7", "--json"))
    assert code == 0, err
    report = json.loads(out)
    assert report["pinned"] == f"{image}@{digest}"
    assert sorted(report["written"]) == [
        "apps/cleanup.yml",
        "apps/workers.yaml",
        "chart/values.yaml",
        "overlays/workers/deployment.yaml",
        "overlays/workers/kustomization.yaml",
    ]
    skipped = {(s["path"], s["line"]) for s in report["skipped"]}
    assert skipped == {
        ("apps/workers.yaml", 22),
        ("overlays/web/kustomization.yaml", 3),
        ("overlays/web/deployment.yaml", 8),
    }
    pinned = f"{image}@{digest}"
    expected = {
        "apps/workers.yaml": [
            (
                f'          image: "{image}:latest-workers"   # runs the migrations\r\n',
                f'          image: "{pinned}"   # runs the migrations\r\n',
            ),
            (f"          image: {image}:latest-workers\r\n", f"          image: {pinned}\r\n"),
        ],
        "apps/cleanup.yml": [
            (f"            image: '{image}:0.22.6-workers'\n", f"            image: '{pinned}'\n")
        ],
        "overlays/workers/kustomization.yaml": [
            (
                "    newTag: latest-workers  # moved by the release\n",
                f"    digest: {digest}  # moved by the release\n",
            )
        ],
        "overlays/workers/deployment.yaml": [
            (f"          image: {image}:latest-workers\n", f"          image: {pinned}\n")
        ],
        "chart/values.yaml": [("", f"  digest: {digest}\n")],
    }
    for path, data in before.items():
        assert changed_lines(data, (root / path).read_bytes()) == expected.get(path, []), path


def test_second_run_writes_nothing_and_check_passes(
    ops: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert pin(capsys, *args(ops, "--version=0.22.7"))[0] == 0
    after = snapshot(ops["root"])
    code, out, err = pin(capsys, *args(ops, "--version=0.22.7", "--json"))
    assert code == 0, err
    report = json.loads(out)
    assert report["written"] == [] and report["changes"] == []
    assert len(report["unchanged"]) == 6
    assert snapshot(ops["root"]) == after
    # --check with no release named: the one latest-workers holds (0.22.7)
    code, out, err = pin(capsys, *args(ops, "--check"))
    assert code == 0, err
    assert "every reference of the flavor is pinned to 0.22.7" in out


def test_check_fails_after_a_newer_release_naming_each_line(
    ops: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert pin(capsys, *args(ops, "--version=0.22.7"))[0] == 0
    release(ops["host"], capsys, "0.22.9", "w9")
    before = snapshot(ops["root"])
    code, out, err = pin(capsys, *args(ops, "--check", "--wide"))
    assert code == 1, (out, err)
    assert "check against 0.22.9" in out
    for where in ("apps/workers.yaml:16", "apps/workers.yaml:19", "apps/cleanup.yml:13"):
        assert f"{where} " in out, out
    assert "6 reference(s) not pinned to 0.22.9: exit 1" in out
    assert snapshot(ops["root"]) == before


def test_dry_run_prints_the_diff_and_writes_nothing(
    ops: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(ops["root"])
    code, out, err = pin(capsys, *args(ops, "--version=0.22.7", "--dry-run"))
    assert code == 0, err
    assert out.startswith("dry run: nothing written\n")
    digest = ops["digests"]["workers/0.22.7"]
    assert "--- a/apps/cleanup.yml\n+++ b/apps/cleanup.yml\n" in out
    assert f"+            image: '{ops['image']}@{digest}'\n" in out
    assert snapshot(ops["root"]) == before


def test_a_yanked_release_needs_force(
    ops: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(ops["root"])
    yanked = ops["digests"]["workers/0.22.8"]
    for flag in ("--version=0.22.8", f"--digest={yanked}"):
        code, out, err = pin(capsys, *args(ops, flag))
        assert code == 1, out
        assert "refusing to pin: 0.22.8 is yanked (--force pins it anyway)" in err
    assert snapshot(ops["root"]) == before
    code, out, err = pin(capsys, *args(ops, f"--digest={yanked}", "--force", "--json"))
    assert code == 0, err
    report = json.loads(out)
    assert (report["version"], report["forced"]) == ("0.22.8", "0.22.8 is yanked")


def test_a_digest_of_another_flavor_is_refused(
    ops: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    production = ops["digests"]["/0.22.7"]
    code, _, err = pin(capsys, *args(ops, f"--digest={production}"))
    assert code == 1
    assert f"{production} is no release of flavor workers" in err


def test_a_digest_pin_of_another_flavor_is_left_alone(
    ops: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """After production is pinned by digest, a workers pin must not take that line: a
    digest alone names no flavor, so pin asks the registry whose release it is."""
    code, out, err = pin(capsys, *args(ops, "--flavor=", "--version=0.22.7", "--json"))
    assert code == 0, err
    assert "apps/workers.yaml" in json.loads(out)["written"]
    code, out, err = pin(capsys, *args(ops, "--version=0.22.7", "--json"))
    assert code == 0, err
    report = json.loads(out)
    production = f"{ops['image']}@{ops['digests']['/0.22.7']}"
    assert ("apps/workers.yaml", 22, production) in {
        (s["path"], s["line"], s["old"]) for s in report["skipped"]
    }
    text = (ops["root"] / "apps/workers.yaml").read_bytes()
    assert text.count(production.encode()) == 1


def kustomize(directory: Path) -> str:
    """What `kubectl kustomize` renders: the real client judges the edit."""
    done = subprocess.run(
        ["kubectl", "kustomize", str(directory)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def test_kubectl_kustomize_renders_the_digest(
    ops: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert pin(capsys, *args(ops, "--version=0.22.7"))[0] == 0
    digest = ops["digests"]["workers/0.22.7"]
    rendered = kustomize(ops["root"] / "overlays/workers")
    assert f"image: {ops['image']}@{digest}\n" in rendered
    web = kustomize(ops["root"] / "overlays/web")
    assert f"image: {ops['image']}:latest\n" in web  # production: untouched


def test_a_kustomization_entry_over_two_flavors_is_refused(
    ops: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """kustomize matches images: entries by name: one entry over resources using both
    flavors would set both to one image, so pin refuses it and says how to fix it."""
    root, image = ops["root"], ops["image"]
    (root / "apps/kustomization.yaml").write_text(
        f"resources: [workers.yaml]\nimages:\n  - name: {image}\n    newTag: latest-workers\n"
    )
    before = snapshot(root)
    code, _, err = pin(capsys, *args(ops, "--version=0.22.7"))
    assert code == 1
    assert (
        f"apps/kustomization.yaml:3: images: entry for {image} would also rewrite "
        f"apps/workers.yaml:22 ({image}:latest), another flavor" in err
    )
    assert "remove the entry, and pin rewrites the resources (nothing written)" in err
    assert snapshot(root) == before


def test_the_registry_side_is_a_listing_and_a_head_per_image(
    ops: dict[str, Any], proxy_factory: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whatever the number of files: the tag list (the yank rule), a HEAD of the yanked
    0.22.8 (the rule: a version sharing a yanked index is yanked), a HEAD of 0.22.7."""
    proxy = proxy_factory(ops["host"])
    image = f"{proxy.host}/{REPO}"
    root = ops["root"]
    write_tree(root, tree(image))
    code, _, err = pin(capsys, f"--image={image}", f"--manifests={root}", "--version=0.22.7")
    assert code == 0, err
    assert sorted(proxy.counted()) == sorted(
        [
            ("GET", f"/v2/{REPO}/tags/list?n=1000"),
            ("HEAD", f"/v2/{REPO}/manifests/0.22.8-workers"),
            ("HEAD", f"/v2/{REPO}/manifests/0.22.7-workers"),
        ]
    )


def test_a_written_file_keeps_its_mode_and_no_temporary_file_is_left(
    ops: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    target = ops["root"] / "apps/cleanup.yml"
    target.chmod(0o600)
    assert pin(capsys, *args(ops, "--version=0.22.7"))[0] == 0
    assert target.stat().st_mode & 0o777 == 0o600
    assert not [p for p in ops["root"].rglob(".pin-*")]
