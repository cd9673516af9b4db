"""`pin` over generated manifest trees, against one real registry (tests/ops_repo.py).

Trees of multi-document files (LF or CRLF, comments or not) of Deployments, StatefulSets,
Pods and CronJobs whose containers and initContainers name the workers image (floating,
version and SHA tags, or a digest pin of an older workers release), the production image
of the same repository, the docs image or another image, plain or quoted. The properties:
after `pin --version 0.22.7` every workers reference is `IMAGE@sha256:<0.22.7>` quoted as
before and every other byte is as it was; a second pin writes nothing; `--check` passes
against 0.22.7 and fails against the newer 0.22.9, naming every workers reference.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from manifest_trees import ON_ONE_REGISTRY, REFERENCES, pin, references, render, trees
from ops_repo import REPO, snapshot, write_tree


@ON_ONE_REGISTRY
@given(files=trees)
def test_pin_over_generated_trees(
    files: dict[str, Any], pin_history: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    image = f"{pin_history['host']}/{REPO}"
    digests = pin_history["digests"]
    own = [r.format(image=image, older=digests["workers/0.22.6"]) for _, r in REFERENCES]
    pinned = f"{image}@{digests['workers/0.22.7']}"
    after = [pinned if f == "workers" else r for (f, _), r in zip(REFERENCES, own, strict=True)]
    flavors = references(files)
    workers = flavors.count("workers")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        write_tree(root, render(files, own))
        common = (f"--image={image}", f"--manifests={root}")
        code, report = pin(capsys, *common, "--version=0.22.7")
        if not workers:  # the flavor is named nowhere: refused
            assert code == 1 and report is None
            return
        assert code == 0
        expected = render(files, after)
        assert {p: (root / p).read_bytes() for p in files} == expected
        assert len(report["changes"]) + len(report["unchanged"]) == workers
        state = snapshot(root)
        code, again = pin(capsys, *common, "--version=0.22.7")
        assert code == 0 and again["written"] == [] and again["changes"] == []
        assert snapshot(root) == state
        assert pin(capsys, *common, "--version=0.22.7", "--check")[0] == 0
        code, drift = pin(capsys, *common, "--version=0.22.9", "--check")
        assert code == 1
        assert len(drift["changes"]) == workers
        assert snapshot(root) == state
