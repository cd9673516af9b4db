"""The BuildKit corpus (tests/fixtures/buildkit): cases as data, laid out as build contexts,
BuildKit's output read as a verdict, and preflight's report read the same way.

One module serves the recorder (which builds each case with a real BuildKit) and the test
(which runs preflight on each case without one), so both lay out the same context and read a
verdict by the same rules.

A verdict is a dict: `{"verdict": "ok"}`, `{"verdict": "missing", "path": P}` (P relative to
the context, as BuildKit names it), `{"verdict": "refused", "detail": ...}` (the Dockerfile
itself is refused), `{"verdict": "not checkable", "needs": REF}` (an image or URL the build
fetches), or `{"verdict": "needs newer frontend", "detail": ...}`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import yaml

from release_pipeline.verbs.preflight import PreflightReport

HERE = Path(__file__).resolve().parent.parent / "fixtures" / "buildkit"
CASES = HERE / "cases.yaml"
VERDICTS = HERE / "verdicts.json"
Verdict = dict[str, str]

_NOT_FOUND = re.compile(r'failed to compute cache key: ("(?:[^"\\]|\\.)*") not found')
_LOOP = re.compile(r"failed to compute cache key: too many symlinks: /(\S*)")
_IMAGE = re.compile(r"https://registry-1\.docker\.io/v2/(?:library/)?([^\"]+)/manifests/([^\"]+)\"")
_URL = re.compile(r'failed to load cache key: Get "([^"]+)"')
_REFUSED = re.compile(r"failed to create LLB definition: (.*)")
_FRONTEND = re.compile(
    r"dockerfile parse error|Unknown flag|unknown instruction|missing ':' in substitution"
    r"|failed to create LLB definition|docker\.io/docker/dockerfile|buildkit-mount\d+/"
)


def load_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = yaml.safe_load(CASES.read_text())
    return cases


def load_verdicts() -> dict[str, Any]:
    verdicts: dict[str, Any] = json.loads(VERDICTS.read_text())
    return verdicts


def materialise(case: dict[str, Any], root: Path) -> Path:
    """Lay `case` out under `root` (its `outside` files there too); the context directory."""
    context = root / "ctx"
    context.mkdir(parents=True)
    for name in case.get("outside", []):
        (root / name).write_text(name)
    ignore = case.get("ignore", {})
    texts = {".dockerignore": ignore} if isinstance(ignore, str) else dict(ignore)
    texts[case.get("path", "Dockerfile")] = case["dockerfile"]
    for name in case.get("files", []):
        target = context / name
        if name.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(name)
    for name, text in texts.items():
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        (context / name).write_text(text.rstrip("\n") + "\n")
    for name, target in case.get("symlinks", {}).items():
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, context / name)
    return context


def classify(case: dict[str, Any], returncode: int, output: str) -> Verdict:
    """BuildKit's verdict from `docker build`'s exit code and output (stdout and stderr)."""
    if returncode == 0 or "executor failed running [/preflight-run]" in output:
        return {"verdict": "ok"}  # every path resolved; scratch has no /preflight-run
    if "feature" in case and _FRONTEND.search(output):
        return {"verdict": "needs newer frontend", "detail": case["feature"]}
    if found := _NOT_FOUND.search(output):
        return {"verdict": "missing", "path": json.loads(found.group(1)).lstrip("/")}
    if found := _LOOP.search(output):
        return {"verdict": "missing", "path": found.group(1)}
    if found := _IMAGE.search(output):
        return {"verdict": "not checkable", "needs": f"{found.group(1)}:{found.group(2)}"}
    if found := _URL.search(output):
        return {"verdict": "not checkable", "needs": found.group(1)}
    if found := _REFUSED.search(output):
        return {"verdict": "refused", "detail": found.group(1).strip()}
    raise ValueError(f"{case['name']}: no verdict in BuildKit's output:\n{output[-2000:]}")


def preflight_verdict(report: PreflightReport) -> dict[str, Any]:
    """Preflight's report in the verdict's terms: problems first, then what it did not check."""
    if any(not p.paths for p in report.problems):
        return {"verdict": "refused", "problems": [p.message for p in report.problems]}
    if report.problems:
        return {
            "verdict": "missing",
            "paths": sorted({x for p in report.problems for x in p.paths}),
        }
    unchecked = [note for note in report.notes if "not checked" in note]
    if unchecked:
        return {"verdict": "not checkable", "notes": unchecked}
    return {"verdict": "ok"}


def expected(case: dict[str, Any], recorded: Verdict) -> Verdict:
    """What preflight is held to: BuildKit's verdict, or the documented one where the
    recorded frontend was too old to judge."""
    if recorded["verdict"] == "needs newer frontend":
        verdict: Verdict = case["expect"]
        return verdict
    return recorded


def agrees(want: Verdict, got: dict[str, Any]) -> bool:
    """Whether preflight's verdict `got` says what BuildKit's `want` says. Where BuildKit
    built the case, preflight may pass it with a note of what it did not check."""
    if want["verdict"] == "ok":
        return got["verdict"] in ("ok", "not checkable")
    if want["verdict"] != got["verdict"]:
        return False
    if want["verdict"] == "missing":
        return want["path"] in got["paths"]
    if want["verdict"] == "not checkable":
        return any(want["needs"].removesuffix(":latest") in note for note in got["notes"])
    return True
