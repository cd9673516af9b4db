"""Preflight says what a real BuildKit said about each case of the corpus.

tests/fixtures/buildkit/record built every case of cases.yaml with docker's BuildKit and
wrote its verdicts to verdicts.json; here each case is laid out again and checked by
preflight, with no docker. A case BuildKit builds must pass (a false failure stops a good
release); a case it fails on must fail naming the path BuildKit named; an image or URL the
build would fetch must be named as not checked, not passed in silence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.buildkit_corpus import (
    agrees,
    classify,
    expected,
    load_cases,
    load_verdicts,
    materialise,
    preflight_verdict,
)

from release_pipeline.verbs.context import LocalTree
from release_pipeline.verbs.preflight import check

CASES = load_cases()
RECORDED = load_verdicts()["cases"]


def test_every_case_has_its_recorded_verdict() -> None:
    """A case added without re-running the recorder has no judge: this names it."""
    assert sorted(RECORDED) == sorted(case["name"] for case in CASES)


def test_a_case_buildkit_could_not_judge_says_what_is_documented() -> None:
    too_new = [c for c in CASES if RECORDED[c["name"]]["verdict"] == "needs newer frontend"]
    assert too_new, "the corpus covers syntax only a newer frontend reads"
    assert [c["name"] for c in too_new if "expect" not in c] == []


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
async def test_preflight_agrees_with_buildkit(case: dict[str, Any], tmp_path: Path) -> None:
    context = materialise(case, tmp_path)
    report = await check(
        LocalTree(context),
        case.get("path", "Dockerfile"),
        [case.get("target", "t")],
        case.get("build_args", {}),
    )
    want = expected(case, RECORDED[case["name"]])
    got = preflight_verdict(report)
    assert agrees(want, got), f"BuildKit: {want}\npreflight: {got}\n{report.text()}"


# What docker 20.10's BuildKit printed for the corpus (the ends of real outputs): the recorder
# reads each as its verdict, so a re-recording with a changed reader cannot drift unseen.
OUTPUTS = [
    (
        {},
        'ERROR: failed to compute cache key: "/a\\\\b.txt" not found: not found',
        "missing",
        "a\\b.txt",
    ),
    ({}, "failed to compute cache key: too many symlinks: /a", "missing", "a"),
    ({}, "executor failed running [/preflight-run]: network bridge not found", "ok", ""),
    (
        {},
        'failed to load cache key: failed to do request: Head "https://registry-1.docker.io/v2/'
        'library/nginx/manifests/1.27": dial tcp: lookup registry-1.docker.io: no such host',
        "not checkable",
        "nginx:1.27",
    ),
    (
        {},
        'failed to load cache key: Get "https://example.com/archive.tar.gz": dial tcp: '
        "no such host",
        "not checkable",
        "https://example.com/archive.tar.gz",
    ),
    (
        {},
        "failed to solve with frontend dockerfile.v0: failed to create LLB definition: invalid "
        "stage index 3",
        "refused",
        "invalid stage index 3",
    ),
    (
        {"feature": "COPY --parents"},
        "failed to create LLB definition: dockerfile parse error line 2: Unknown flag: parents",
        "needs newer frontend",
        "COPY --parents",
    ),
]


@pytest.mark.parametrize(("case", "output", "verdict", "detail"), OUTPUTS)
def test_the_recorder_reads_buildkits_output(
    case: dict[str, str], output: str, verdict: str, detail: str
) -> None:
    found = classify({"name": "x", **case}, 1, output)
    assert found["verdict"] == verdict
    assert detail in found.values() or not detail


def test_an_output_the_recorder_cannot_read_stops_it() -> None:
    with pytest.raises(ValueError, match="no verdict"):
        classify({"name": "x"}, 1, "ERROR: something new")
