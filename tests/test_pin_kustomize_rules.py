"""`rules.kustomize`: what a kustomization builds, and the `images:` entry pin adds.

The entry is added the way a reviewer of the ops repository wants it: every original byte
kept, the new lines indented as the file's list (or its keys) are, in its line endings;
`kubectl kustomize` renders the digest from it, and the file loads as it did plus one entry.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from release_pipeline.errors import ManifestRefused
from release_pipeline.rules.kustomize import add_entry, build, kustomization_at
from release_pipeline.rules.pins import Query, find_sites
from release_pipeline.rules.yaml_spans import Collection, parse, splice

IMAGE = "ghcr.io/testplanit/testplanit"
DIGEST = "sha256:" + "d2" * 32


def added(text: str, path: str = "kustomization.yaml") -> str:
    parsed = parse(path, text)
    edit, _ = add_entry(path, parsed, IMAGE, DIGEST)
    return splice(path, text, [edit])


def only_inserted(before: str, after: str) -> str:
    """The text `after` adds to `before`, asserting it is one insertion."""
    start = next((i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b), None)
    start = len(before) if start is None else start
    size = len(after) - len(before)
    assert after[:start] + after[start + size :] == before
    return after[start : start + size]


STYLES = {
    "no images key": "resources:\n  - deployment.yaml\n",
    "indented list": (
        "resources: [deployment.yaml]\nimages:\n  - name: docker.io/valkey/valkey\n"
        "    newTag: '8'   # cache\n"
    ),
    "indentless list": (
        "resources:\n- deployment.yaml\nimages:\n- name: docker.io/valkey/valkey\n  newTag: '8'\n"
    ),
    "CRLF, comments, no final newline": (
        "# prod\r\nresources:\r\n  - deployment.yaml # app\r\nnamespace: prod  # ns"
    ),
    "images before other keys": (
        "images:\n  - name: docker.io/valkey/valkey\n    newTag: '8'\n"
        "resources:\n  - deployment.yaml\n"
    ),
}


@pytest.mark.parametrize("text", STYLES.values(), ids=STYLES.keys())
def test_kubectl_renders_the_added_entry_and_nothing_else_moves(tmp_path: Path, text: str) -> None:
    (tmp_path / "deployment.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: workers}\nspec:\n"
        "  selector: {matchLabels: {app: w}}\n  template:\n    metadata: {labels: {app: w}}\n"
        "    spec:\n      containers:\n"
        f"        - {{name: workers, image: '{IMAGE}:latest-workers'}}\n"
        "        - {name: cache, image: 'docker.io/valkey/valkey:7'}\n"
    )
    after = added(text)
    (tmp_path / "kustomization.yaml").write_bytes(after.encode())
    nl = "\r\n" if "\r\n" in text else "\n"
    assert only_inserted(text, after).count(nl) == after.count(nl) - text.count(nl)
    out = subprocess.run(
        ["kubectl", "kustomize", str(tmp_path)], check=True, capture_output=True, text=True
    ).stdout
    images = sorted(
        line.split("image:")[1].strip() for line in out.splitlines() if "image:" in line
    )
    cache = "docker.io/valkey/valkey:8" if "valkey" in text else "docker.io/valkey/valkey:7"
    assert images == sorted([cache, f"{IMAGE}@{DIGEST}"])


KEYS = st.sampled_from(["namespace", "namePrefix", "commonLabels", "resources", "patches"])
VALUES = st.sampled_from(["prod", "'quoted'", '"double"', "[a.yaml, b.yaml]", "{app: w}"])
COMMENTS = st.sampled_from(["", "  # why", " #x"])


@st.composite
def kustomizations(draw: st.DrawFn) -> str:
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    keys = draw(st.lists(KEYS, unique=True, max_size=4))
    lines = [f"{k}: {draw(VALUES)}{draw(COMMENTS)}" for k in keys]
    if draw(st.booleans()):
        dash = " " * draw(st.sampled_from([0, 2, 4]))
        entries = []
        for n in range(draw(st.integers(1, 3))):
            entries += [f"{dash}- name: other/image{n}{draw(COMMENTS)}", f"{dash}  newTag: v{n}"]
        at = draw(st.integers(0, len(lines)))
        lines[at:at] = ["images:", *entries]
    if not lines:
        lines = ["resources: []"]
    if draw(st.booleans()):
        lines.insert(0, "# an ops repository's kustomization")
    end = nl if draw(st.booleans()) else ""
    return nl.join(lines) + end + draw(st.sampled_from(["", f"# trailing{nl}"]))


@given(kustomizations())
def test_an_added_entry_is_one_insertion_that_loads_as_one_more_entry(text: str) -> None:
    after = added(text)
    inserted = only_inserted(text, after)
    assert f"digest: {DIGEST}" in inserted
    if "\r\n" in text:  # the file's line endings, never a mix
        assert inserted.count("\n") == inserted.count("\r\n")
    else:
        assert "\r" not in inserted
    loaded, now = yaml.safe_load(text), yaml.safe_load(after)
    expected = dict(loaded)
    expected["images"] = [*loaded.get("images", []), {"name": IMAGE, "digest": DIGEST}]
    assert now == expected
    # a second pin finds the entry, pinned: nothing more to add
    sites = find_sites("kustomization.yaml", parse("kustomization.yaml", after), Query(IMAGE))
    assert [(s.kind, s.ref.digest) for s in sites] == [("kustomize", DIGEST)]


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("images: []\n", "is not a block list"),
        ("images:\n", "is not a block list"),
        ("a: 1\n---\nb: 2\n", "is not one block mapping"),
        ("{resources: [a.yaml]}\n", "is not one block mapping"),
        ("resources:\n- a.yaml\nnote: |\n  text\n", "ends in a value pin cannot append after"),
    ],
)
def test_a_kustomization_pin_cannot_append_to_is_refused(text: str, refusal: str) -> None:
    with pytest.raises(ManifestRefused, match=refusal):
        added(text)


def documents(files: dict[str, str]) -> dict[str, Collection]:
    out = {}
    for path, text in files.items():
        doc = parse(path, text).documents[0]
        assert isinstance(doc, Collection)
        out[path] = doc
    return out


def test_a_build_follows_local_resources_and_names_what_it_cannot_read() -> None:
    kustomizations = {
        "prod/kustomization.yaml": (
            "resources:\n- ../base\n- extra.yaml\n- ../../outside\n"
            "- https://github.com/org/repo//deploy?ref=v1\n- missing.yaml\n"
            "components: [../components/probe]\n"
        ),
        "base/kustomization.yaml": "resources: [workers.yaml, ../prod]\n",  # a loop
        "components/probe/Kustomization": "resources: [probe.yaml]\n",
    }
    paths = [*kustomizations, "prod/extra.yaml", "base/workers.yaml", "components/probe/probe.yaml"]
    built = build("prod/kustomization.yaml", documents(kustomizations), [*paths, "other.yaml"])
    assert built.files == frozenset(paths)
    assert built.unseen == (
        "../../outside",
        "https://github.com/org/repo//deploy?ref=v1",
        "missing.yaml",
    )


def test_a_kustomization_is_named_by_its_directory_or_its_file() -> None:
    paths = ["a/kustomization.yaml", "b/Kustomization", "c/x.yaml", "d/kustomization.yml"]
    assert kustomization_at("a", paths) == "a/kustomization.yaml"
    assert kustomization_at("a/", paths) == "a/kustomization.yaml"
    assert kustomization_at("./b", paths) == "b/Kustomization"
    assert kustomization_at("d/kustomization.yml", paths) == "d/kustomization.yml"
    assert kustomization_at("c", paths) is None
    with pytest.raises(ManifestRefused, match="kustomize takes one"):
        kustomization_at("e", ["e/kustomization.yaml", "e/kustomization.yml"])
