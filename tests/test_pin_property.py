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

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ops_repo import REPO, release, seed_history, snapshot, write_tree
from support.registry import Registry

from release_pipeline.cli import app as cli

# (flavor the reference is, its text with {image} and {older} for the repository and the
# workers 0.22.6 digest)
REFERENCES = [
    ("workers", "{image}:latest-workers"),
    ("workers", "{image}:0.22.6-workers"),
    ("workers", "{image}:workers-sha-0badc0de"),
    ("workers", "{image}@{older}"),
    ("production", "{image}:latest"),
    ("production", "{image}"),
    ("production", "{image}:0.22.7"),
    ("other", "{image}:docs"),
    ("other", "docker.io/valkey/valkey:8"),
]
POD_DEPTH = {"Pod": 1, "Deployment": 3, "StatefulSet": 3, "CronJob": 5}
Line = tuple[str, str | None]  # text (a {ref} placeholder on image lines), the ref's flavor

containers = st.lists(
    st.tuples(st.sampled_from(REFERENCES), st.sampled_from(["", "'", '"'])),
    min_size=1,
    max_size=3,
)
documents = st.tuples(
    st.sampled_from(sorted(POD_DEPTH)),
    st.lists(st.tuples(st.sampled_from(REFERENCES), st.sampled_from(["", "'", '"'])), max_size=1),
    containers,
    st.booleans(),
)


def pod_lines(kind: str, init: list[Any], main: list[Any], comment: bool) -> list[Line]:
    path = {
        "Pod": ["spec"],
        "Deployment": ["spec", "template", "spec"],
        "StatefulSet": ["spec", "template", "spec"],
        "CronJob": ["spec", "jobTemplate", "spec", "template", "spec"],
    }[kind]
    lines: list[Line] = [(f"kind: {kind}", None), ("metadata:", None), ("  name: x", None)]
    if comment:
        lines.append(("# the queue consumers", None))
    lines += [("  " * i + f"{key}:", None) for i, key in enumerate(path)]
    pad = "  " * len(path)
    for key, items in (("initContainers", init), ("containers", main)):
        if items:
            lines.append((f"{pad}{key}:", None))
        for n, ((flavor, ref), quote) in enumerate(items):
            lines.append((f"{pad}  - name: c{n}", None))
            trailer = "  # pinned by CI" if comment else ""
            slot = f"<<{REFERENCES.index((flavor, ref))}>>"
            lines.append((f"{pad}    image: {quote}{slot}{quote}{trailer}", flavor))
    return lines


trees = st.dictionaries(
    st.sampled_from(["a.yaml", "b.yml", "apps/c.yaml", "apps/deep/d.yaml"]),
    st.tuples(st.lists(documents, min_size=1, max_size=3), st.sampled_from(["\n", "\r\n"])),
    min_size=1,
    max_size=4,
)


def render(files: dict[str, Any], refs: list[str]) -> dict[str, bytes]:
    """The tree's bytes, the image lines reading `refs` (one per entry of REFERENCES)."""
    out = {}
    for path, (docs, eol) in files.items():
        lines: list[str] = []
        for n, doc in enumerate(docs):
            lines += ["---"] if n else []
            lines += [text for text, _ in pod_lines(*doc)]
        text = eol.join(lines) + eol
        for slot, ref in enumerate(refs):
            text = text.replace(f"<<{slot}>>", ref)
        out[path] = text.encode()
    return out


def references(files: dict[str, Any]) -> list[str]:
    """The flavor of every image line in the tree."""
    return [f for docs, _ in files.values() for d in docs for (f, _), _ in d[1] + d[2]]


@pytest.fixture
def seeded(registry: Registry, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    digests = seed_history(registry.host, capsys)
    digests["workers/0.22.9"] = release(registry.host, capsys, "0.22.9", "w9")
    return {"host": registry.host, "digests": digests}


def pin(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = cli.run(["pin", *argv, "--json"])
    out, _ = capsys.readouterr()
    return code, json.loads(out) if out else None


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(files=trees)
def test_pin_over_generated_trees(
    files: dict[str, Any], seeded: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    image = f"{seeded['host']}/{REPO}"
    digests = seeded["digests"]
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
