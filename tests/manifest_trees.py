"""Generated manifest trees for the pin properties (tests/test_pin_property.py and
tests/test_pin_overlay_property.py), the settings they run under (`ON_ONE_REGISTRY`: the
examples share the registry of the `pin_history` fixture), and how they call pin.

The trees: multi-document files of Deployments, StatefulSets, Pods and CronJobs whose
containers and initContainers name the workers image, the production image of the same
repository, the docs image or another image, plain or quoted, LF or CRLF, commented or not.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from release_pipeline.cli import app as cli

ON_ONE_REGISTRY = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def pin(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    """`pin ARGV --json`: its exit code and report (None when it refused)."""
    code = cli.run(["pin", *argv, "--json"])
    out, _ = capsys.readouterr()
    return code, json.loads(out) if out else None


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
