"""`pin --kustomization` over generated bases and overlays, against one real registry.

A generated base (tests/manifest_trees.py, under `base/`, listed by its kustomization) and a
production overlay over it, whose kustomization comes in several shapes (an `images:` list
of another image or none, LF or CRLF, comments). The properties: when everything of the
repository the base runs is the workers flavor, only the overlay's kustomization changes,
by one added entry pinning 0.22.7; a second pin writes nothing; `--check` passes against
0.22.7 and fails against 0.22.9. When the base also runs another flavor of the repository
(production, docs), or nothing of it, pin refuses and writes nothing.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import event, given
from hypothesis import strategies as st
from manifest_trees import ON_ONE_REGISTRY, REFERENCES, pin, references, render, trees
from ops_repo import REPO, snapshot, write_tree

OVERLAY = "overlays/prod/kustomization.yaml"
VALKEY = "docker.io/valkey/valkey:8"


@st.composite
def overlays(draw: st.DrawFn) -> str:
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    lines = ["# production (OPS-7)"] if draw(st.booleans()) else []
    lines += ["namespace: prod", "resources:", "  - ../../base  # shared with staging"]
    if draw(st.booleans()):
        dash = draw(st.sampled_from(["", "  "]))
        entry = [f"{dash}- name: docker.io/library/busybox", f"{dash}  newTag: '1'"]
        at = draw(st.sampled_from([len(lines), lines.index("namespace: prod")]))
        lines[at:at] = ["images:", *entry]
    return nl.join(lines) + (nl if draw(st.booleans()) else "")


@ON_ONE_REGISTRY
@given(files=trees, overlay=overlays(), others=st.booleans())
def test_pin_through_an_overlay_over_generated_bases(
    files: dict[str, Any],
    overlay: str,
    others: bool,
    pin_history: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`others`: the base keeps the other flavors of the repository it was generated with;
    else they are another image's (so half the examples are the workers flavor's alone)."""
    image = f"{pin_history['host']}/{REPO}"
    digests = pin_history["digests"]

    def mine(flavor: str, text: str) -> bool:
        return "{image}" in text and (others or flavor == "workers")

    own = [
        r.format(image=image, older=digests["workers/0.22.6"]) if mine(f, r) else VALKEY
        for f, r in REFERENCES
    ]
    flavors = [
        flavor
        for flavor, text in zip(references(files), _texts(files), strict=True)
        if mine(flavor, text)
    ]
    base = {f"base/{p}": data for p, data in render(files, own).items()}
    listing = "resources:\n" + "".join(f"  - {p.removeprefix('base/')}\n" for p in base)
    tree = {**base, "base/kustomization.yaml": listing.encode(), OVERLAY: overlay.encode()}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        write_tree(root, tree)
        before = snapshot(root)
        common = (f"--image={image}", f"--manifests={root}", "--kustomization=overlays/prod")
        code, report = pin(capsys, *common, "--version=0.22.7")
        if not flavors or set(flavors) != {"workers"}:  # nothing of it, or another flavor
            event("refused")
            assert code == 1 and report is None
            assert snapshot(root) == before
            return
        event("pinned through the overlay")
        assert code == 0
        assert report["written"] == [OVERLAY]
        after = snapshot(root)
        assert {p for p in after if after[p] != before[p]} == {OVERLAY}
        edited = yaml.safe_load((root / OVERLAY).read_text())
        expected = yaml.safe_load(overlay)
        entry = {"name": image, "digest": digests["workers/0.22.7"]}
        expected["images"] = [*expected.get("images", []), entry]
        assert edited == expected
        code, again = pin(capsys, *common, "--version=0.22.7")
        assert code == 0 and again["written"] == [] and again["changes"] == []
        assert pin(capsys, *common, "--version=0.22.7", "--check")[0] == 0
        code, drift = pin(capsys, *common, "--version=0.22.9", "--check")
        assert code == 1 and [c["path"] for c in drift["changes"]] == [OVERLAY]
        assert snapshot(root) == after


def _texts(files: dict[str, Any]) -> list[str]:
    """The REFERENCES text of every image line, in the order `references` gives flavors."""
    return [r for docs, _ in files.values() for d in docs for (_, r), _ in d[1] + d[2]]
