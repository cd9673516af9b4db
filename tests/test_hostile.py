"""A registry (or a mirror in front of it) that lies or breaks: every answer is checked before
it is trusted, the release stops with a clear error, and nothing more is written."""

from __future__ import annotations

import hashlib
import time

import pytest
from conftest import ProxyFactory
from hypothesis import given
from hypothesis import strategies as st
from seeding import seed_commit
from support.hostile_answers import Hostile
from support.images import tag_digests
from support.proxy import WRITE_METHODS
from support.registry import Registry

from release_pipeline.cli import app as cli
from release_pipeline.errors import shown

REPO = "hostile/app"
OLD, NEW = hashlib.sha1(b"hostile old").hexdigest(), hashlib.sha1(b"hostile new").hexdigest()


@pytest.fixture
def released(registry: Registry, capsys: pytest.CaptureFixture[str]) -> Registry:
    """1.0.0 released from OLD (latest-workers on it), NEW's per-arch images pushed."""
    seed_commit(registry.host, REPO, OLD)
    argv = ["merge", f"--image={registry.host}/{REPO}", "--version=1.0.0", f"--sha={OLD}"]
    assert cli.run(argv) == 0
    seed_commit(registry.host, REPO, NEW)
    capsys.readouterr()
    return registry


CASES = {
    # a per-arch manifest whose bytes do not hash to the Docker-Content-Digest sent with them
    "tampered per-arch manifest": (
        Hostile(tamper_manifest_for=f"/manifests/workers-sha-{NEW[:8]}-arm64$"),
        "1.1.0",
        NEW,
        "bytes hash to sha256:",
    ),
    # the SHA index a re-release of the same commit reads back, tampered
    "tampered SHA index": (
        Hostile(tamper_manifest_for=f"/manifests/workers-sha-{OLD[:8]}$"),
        "1.0.1",
        OLD,
        "bytes hash to sha256:",
    ),
    "manifest over 4 MiB": (
        Hostile(oversize_manifest_for=f"/manifests/workers-sha-{NEW[:8]}-amd64$"),
        "1.1.0",
        NEW,
        "larger than 4194304 bytes",
    ),
    "manifest of invalid JSON": (
        Hostile(invalid_json_for=f"/manifests/workers-sha-{NEW[:8]}-amd64$"),
        "1.1.0",
        NEW,
        "invalid JSON",
    ),
    "index child of an unknown media type": (
        Hostile(unknown_child_for=f"/manifests/workers-sha-{OLD[:8]}$"),
        "1.0.1",
        OLD,
        "unknown media type 'application/vnd.example.unknown+json'",
    ),
    "per-arch tag that is an index of an unknown child": (
        Hostile(unknown_child_for=f"/manifests/workers-sha-{NEW[:8]}-amd64$"),
        "1.1.0",
        NEW,
        "unknown media type",
    ),
    "tag list that never ends": (
        Hostile(endless_tags=True),
        "1.1.0",
        NEW,
        "did not end after 1000 pages",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_answers_stop_the_release_with_nothing_written(
    released: Registry,
    proxy_factory: ProxyFactory,
    capsys: pytest.CaptureFixture[str],
    case: str,
) -> None:
    hostile, version, sha, expected = CASES[case]
    before = tag_digests(released.host, REPO)
    proxy = proxy_factory(released.host, hostile=hostile)
    argv = ["merge", f"--image={proxy.host}/{REPO}", f"--version={version}", f"--sha={sha}"]
    started = time.monotonic()
    assert cli.run(argv) == 1
    elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("release-pipeline: merge failed: ") and expected in err, err
    assert len(err) < 600 and err.count("\n") == 1  # one clear line, no dump of what was sent
    assert [m for m, _ in proxy.counted() if m in WRITE_METHODS] == []
    assert tag_digests(released.host, REPO) == before
    assert elapsed < 20, elapsed


@pytest.mark.parametrize(
    ("hostile", "source", "expected"),
    [
        (Hostile(tamper_manifest_for="/manifests/1.0.0-workers$"), "1.0.0-workers", "hash to"),
        (Hostile(invalid_json_for="/manifests/1.0.0-workers$"), "1.0.0-workers", "invalid JSON"),
        (Hostile(unknown_child_for="/manifests/1.0.0-workers$"), "1.0.0-workers", "unknown"),
        (Hostile(endless_tags=True), "1.0.0-workers", "did not end"),
    ],
    ids=["tampered", "invalid-json", "unknown-child", "endless-tags"],
)
def test_hostile_answers_stop_a_promote_with_nothing_written(
    released: Registry,
    proxy_factory: ProxyFactory,
    capsys: pytest.CaptureFixture[str],
    hostile: Hostile,
    source: str,
    expected: str,
) -> None:
    before = tag_digests(released.host, REPO)
    proxy = proxy_factory(released.host, hostile=hostile)
    assert cli.run(["promote", f"--image={proxy.host}/{REPO}", f"--from={source}"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("release-pipeline: promote failed: ")
    assert expected in err, err
    assert [m for m, _ in proxy.counted() if m in WRITE_METHODS] == []
    assert tag_digests(released.host, REPO) == before


def test_registry_error_text_cannot_inject_lines_or_workflow_commands() -> None:
    """Registry-sent text ends up in CI logs: no newlines, no `::error::` commands survive."""
    import httpx

    from release_pipeline.registry.session import Response, describe

    body = b'{"errors":[{"code":"DENIED","message":"no\\n::error::pwned\\u001b[31m"}]}'
    text = describe(Response(403, httpx.Headers(), body))
    assert "\n" not in text and "\x1b" not in text and "::" not in text
    assert text.startswith("DENIED: no?")


# Colons dense enough that `:::` and `::::` turn up in every run, beside arbitrary text.
@given(st.text(alphabet=":e \n\x1b\x07") | st.text())
def test_registry_text_shown_in_an_error_cannot_start_a_workflow_command(text: str) -> None:
    """Whatever a registry sends (labels, annotations, error text), what an error quotes has
    no `::` (GitHub's workflow-command marker, `:::` included) and no control characters."""
    quoted = shown(text)
    assert "::" not in quoted and quoted.isprintable()
    assert len(quoted) <= 83
