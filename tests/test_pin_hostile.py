"""`pin` on manifests it must refuse, and on flags it must refuse before any request.

Every refusal leaves the tree byte for byte as it was (the ops tree of tests/ops_repo.py,
whose other files would be edited), names the file (and line where there is one), and is
bounded: a billion-laughs file, deep nesting and a huge file each cost well under a second.
The registry is a closed loopback port: an exit 1 that is not the file's refusal, or any
request at all, would show as a connection error.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from ops_repo import REPO, snapshot, tree, write_tree
from support.registry import free_port

from release_pipeline.cli import app as cli

HOST = f"127.0.0.1:{free_port()}"  # nothing listens: no request may be needed
IMAGE = f"{HOST}/{REPO}"
DEPLOYMENT = (
    "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n"
    "        - name: w\n          image: {image}\n"
)
LAUGHS = f"a: &a [{', '.join([IMAGE + ':latest-workers'] * 9)}]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(9)
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli.run(["pin", *argv])
    return code, capsys.readouterr().err


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_tree(tmp_path / "ops", tree(IMAGE))
    return tmp_path / "ops"


HOSTILE = {
    "invalid YAML": (b"kind: Deployment\nspec: [unclosed\n", "bad.yaml:3: is not valid YAML"),
    "non-UTF-8": (b"kind: Deployment\n# caf\xe9\n", "bad.yaml:2: is not UTF-8 text"),
    "alias on the image": (
        f"x: &img {IMAGE}:latest-workers\n---\n".encode()
        + DEPLOYMENT.format(image="*img").encode(),
        "bad.yaml:9: image is the alias *img",
    ),
    "anchor on the image": (
        DEPLOYMENT.format(image=f"&img {IMAGE}:latest-workers").encode(),
        "bad.yaml:7: image carries the anchor &img",
    ),
    "block scalar": (
        DEPLOYMENT.format(image=f">-\n            {IMAGE}:latest-workers").encode(),
        "bad.yaml:7: the image is a block scalar (>)",
    ),
    "template naming the image": (
        f'image: "{IMAGE}:{{{{ .Values.tag }}}}"\n'.encode(),
        "bad.yaml:1: is a Helm template ({{ }}) naming the image",
    ),
    "billion laughs": (
        (LAUGHS + "---\nkind: Pod\nspec:\n  containers: *j\n").encode(),
        "bad.yaml:14: names the image through the alias *j",  # never expanded
    ),
    "deep nesting": (b"x: " + b"[" * 100_000, "bad.yaml:1: nests deeper than 64 levels"),
    "huge file": (b"# " + b"x" * (3 << 20) + b"\n", "bad.yaml: is larger than 2 MiB"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_a_hostile_manifest_is_refused_with_nothing_written(
    case: str, root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, message = HOSTILE[case]
    (root / "apps/bad.yaml").write_bytes(data)
    before = snapshot(root)
    started = time.process_time()
    code, err = run(capsys, f"--image={IMAGE}", "--version=0.22.7", f"--manifests={root}")
    assert time.process_time() - started < 1.0
    assert code == 1
    assert snapshot(root) == before
    assert f"pin failed: apps/{message}" in err, err
    assert err.rstrip().endswith("(nothing written)"), err


@pytest.mark.parametrize("link", ["loop", "outside", "file.yaml"])
def test_symlinks_are_refused(
    link: str, root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = {"loop": root / "apps", "outside": tmp_path, "file.yaml": tmp_path / "x.yaml"}
    (tmp_path / "x.yaml").write_text(DEPLOYMENT.format(image=f"{IMAGE}:latest-workers"))
    os.symlink(target[link], root / "apps" / link)
    before = snapshot(root)
    code, err = run(capsys, f"--image={IMAGE}", "--version=0.22.7", f"--manifests={root}")
    assert code == 1
    assert f"apps/{link}: is a symlink: pin follows none" in err
    assert snapshot(root) == before


def test_an_image_named_nowhere_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "d.yaml").write_text(DEPLOYMENT.format(image="docker.io/valkey/valkey:8"))
    code, err = run(capsys, f"--image={IMAGE}", "--version=0.22.7", f"--manifests={tmp_path}")
    assert code == 1
    assert f"names {IMAGE} nowhere" in err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--version=0.22.7", "--digest=sha256:" + "a" * 64], "invalid version: give --version"),
        ([], "invalid version: is required"),
        (["--digest=sha256:abc"], "invalid digest: must be sha256:"),
        (["--version=0.22"], "invalid version:"),
        (["--version=1.0.0", "--helm-keys=a,b"], "invalid helm_keys: must be one dotted key"),
        (["--version=1.0.0", "--helm-keys=a..b"], "invalid helm_keys"),
        (["--version=1.0.0", "--flavor=Bad-Flavor"], "invalid flavor"),
        (["--version=1.0.0", "--check", "--dry-run"], "not allowed with argument"),
    ],
)
def test_bad_flags_exit_2_before_any_request(
    flags: list[str], message: str, root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(root)
    code, err = run(capsys, f"--image={IMAGE}", f"--manifests={root}", *flags)
    assert code == 2, err
    assert message in err
    assert snapshot(root) == before


def test_manifests_must_be_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, f"--image={IMAGE}", "--version=1.0.0", f"--manifests={tmp_path}/no")
    assert code == 2
    assert "invalid manifests: must be a directory" in err


def test_a_hostile_file_name_reaches_the_terminal_quoted(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A path is outside text: no escape sequence or `::` workflow command gets through."""
    (root / "apps/\x1b[2J::error::x.yaml").write_bytes(b"spec: [\n")
    code, err = run(capsys, f"--image={IMAGE}", "--version=0.22.7", f"--manifests={root}")
    assert code == 1
    assert "apps/?[2J: :error: :x.yaml:2: is not valid YAML" in err, err
    assert "\x1b" not in err and "::" not in err
