"""The pure pin rules (rules/pins.py, rules/yaml_spans.py), without a registry.

Shapes the ops-tree tests do not hold: flow style, a Helm value holding the whole
reference or an existing digest key, a kustomization with a digest already, a Helm digest
added to a CRLF file; the flavor rule over tags; the splice check refusing an edit that
would change anything but the named scalar.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from release_pipeline.errors import ManifestRefused
from release_pipeline.rules import pins
from release_pipeline.rules.pins import Query, Reference
from release_pipeline.rules.yaml_spans import Splice, parse, splice

IMAGE = "ghcr.io/testplanit/testplanit"
DIGEST = "sha256:" + "d2" * 32
PINNED = f"{IMAGE}@{DIGEST}"


def pinned_text(path: str, text: str, query: Query, flavor: str = "workers") -> str:
    parsed = parse(path, text)
    sites = pins.find_sites(path, parsed, query)
    edits = [
        e
        for s in sites
        if pins.owner(s.ref, flavor, frozenset())
        for e in pins.pin_edits(parsed, s, query, DIGEST)
    ]
    return splice(path, text, edits)


def test_flow_style_containers_are_pinned_in_place() -> None:
    text = f"kind: Pod\nspec: {{containers: [{{name: w, image: {IMAGE}:latest-workers}}]}}\n"
    assert pinned_text("p.yaml", text, Query(IMAGE)) == text.replace(
        f"{IMAGE}:latest-workers", PINNED
    )


def test_a_helm_key_holding_the_whole_reference() -> None:
    text = f'workers:\n  image: "{IMAGE}:latest-workers"  # set by CI\n'
    got = pinned_text("values.yaml", text, Query(IMAGE, ("workers.image",)))
    assert got == f'workers:\n  image: "{PINNED}"  # set by CI\n'


def test_a_helm_digest_key_is_replaced_or_added_with_the_file_line_ending() -> None:
    keys = Query(IMAGE, ("image.repository", "image.tag", "image.digest"))
    text = f"image:\n  repository: {IMAGE}\n  tag: latest-workers\n  digest: ''\n"
    assert pinned_text("v.yaml", text, keys).endswith(f"  digest: '{DIGEST}'\n")
    crlf = f"image:\r\n  repository: {IMAGE}\r\n  tag: latest-workers # CI\r\nx: 1\r\n"
    assert pinned_text("v.yaml", crlf, keys) == crlf.replace(
        "# CI\r\n", f"# CI\r\n  digest: {DIGEST}\r\n"
    )


def test_a_kustomization_digest_is_replaced_and_its_tag_kept() -> None:
    text = f"images:\n- name: {IMAGE}\n  newTag: latest-workers\n  digest: sha256:{'0' * 64}\n"
    got = pinned_text("kustomization.yaml", text, Query(IMAGE))
    assert got == text.replace(f"sha256:{'0' * 64}", DIGEST)


@pytest.mark.parametrize(
    ("ref", "flavor", "ours"),
    [
        ("latest-workers", "workers", True),
        ("0.22.7-workers", "workers", True),
        ("workers-sha-c804cace", "workers", True),
        ("0.22.7-workers-arm64", "workers", True),
        ("latest", "workers", False),
        ("0.22.7", "workers", False),
        ("latest", "", True),
        ("docs", "", False),
        ("v0.12.1-docs", "workers", False),
        (None, "", True),  # a bare name: latest, the production image
        (None, "workers", False),
    ],
)
def test_the_flavor_of_a_reference_is_its_tag(ref: str | None, flavor: str, ours: bool) -> None:
    parsed = Reference.parse(IMAGE + (f":{ref}" if ref else ""))
    assert pins.owner(parsed, flavor, frozenset()) is ours


def test_a_digest_alone_waits_for_the_registry() -> None:
    ref = Reference.parse(f"{IMAGE}@{DIGEST}")
    assert pins.owner(ref, "workers", frozenset()) is None
    assert pins.owner(ref, "workers", frozenset({DIGEST})) is True


@given(
    name=st.sampled_from([IMAGE, "127.0.0.1:5000/demo/app", "localhost:5000/a"]),
    tag=st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)),
    digest=st.one_of(st.none(), st.just(DIGEST)),
)
def test_references_split_and_join_back(name: str, tag: str | None, digest: str | None) -> None:
    ref = Reference(name, tag, digest)
    assert Reference.parse(str(ref)) == ref


def test_a_splice_that_changes_another_value_is_refused() -> None:
    text = "a: x\nb: y\n"
    with pytest.raises(ManifestRefused, match="cannot be edited without changing other YAML"):
        splice("f.yaml", text, [Splice(3, 4, "z\nb: q", {1: "z"})])  # rewrites b too
