"""How promote's report reads, rendered from a report with no registry behind it: a promote
that writes nothing says so, and a rollback shows the floating tag before and after, what it
yanked and what it restored, conditionally in a dry run. What promote prints against a real
registry is in test_cli_output.py."""

from __future__ import annotations

from pydantic import Field

from release_pipeline.cli.render import Style, render
from release_pipeline.verbs.report import PromoteReport


def test_a_promote_that_writes_nothing_says_so() -> None:
    """An already-current promote (its report's `written` is empty): the words for it."""
    digest = "sha256:" + "ab" * 32
    report = PromoteReport(
        image="ghcr.io/org/app",
        flavor="workers",
        tag="latest-workers",
        source="1.2.0-workers",
        digest=digest,
        pinned=f"ghcr.io/org/app@{digest}",
        version="1.2.0",
        yanked=[],
        written=[],
        tags={},
        reason="no live version is newer than 1.2.0: nothing to yank.",
    )
    text = render(report, Style())
    assert "latest-workers already points at 1.2.0 (sha256:abababababab): not written" in text
    assert "nothing written" in text.splitlines() and "TAG" not in text
    dry = render(report.model_copy(update={"dry_run": True}), Style())
    assert dry.splitlines()[0] == "dry run: nothing written" and "would write nothing" in dry


class _Rollback(PromoteReport):
    """The fields `promote` adds to its report on the "rollback" branch, so the renderer's
    lines for them are checked before that branch lands."""

    previous: str | None = None
    previous_version: str | None = None
    after: str | None = None
    after_version: str | None = None
    restored: list[str] = Field(default_factory=list)


def test_promote_shows_the_floating_tag_before_and_after() -> None:
    old, new = "sha256:" + "0a" * 32, "sha256:" + "1b" * 32
    marker = "1.10.0-workers-yanked"
    report = _Rollback(
        image="ghcr.io/org/app",
        flavor="workers",
        tag="latest-workers",
        source="1.2.0-workers",
        digest=new,
        pinned=f"ghcr.io/org/app@{new}",
        version="1.2.0",
        yanked=["1.10.0"],
        written=[marker, "latest-workers"],
        tags={marker: old, "latest-workers": new},
        reason="1.10.0 is newer than 1.2.0 and live: ...",
        previous=old,
        previous_version="1.10.0",
        after=new,
        after_version="1.2.0",
        restored=["1.1.0"],
    )
    text = render(report, Style()).splitlines()
    assert "  latest-workers         0a0a0a0a0a0a -> 1b1b1b1b1b1b  moved" in text
    assert "before: latest-workers -> 1.10.0 (sha256:0a0a0a0a0a0a)" in text
    assert "after: latest-workers -> 1.2.0 (sha256:1b1b1b1b1b1b)" in text
    assert "yanked: 1.10.0" in text and "restored: 1.1.0" in text
    dry = render(report.model_copy(update={"dry_run": True}), Style()).splitlines()
    assert "  latest-workers         0a0a0a0a0a0a -> 1b1b1b1b1b1b  would move" in dry
    assert "now: latest-workers -> 1.10.0 (sha256:0a0a0a0a0a0a)" in dry
    assert "would be: latest-workers -> 1.2.0 (sha256:1b1b1b1b1b1b)" in dry
    assert "would yank: 1.10.0" in dry and "would restore: 1.1.0" in dry
