"""The channel rule (`rules/channels.py`): when a branch-keyed tag moves, pure, no registry.

The property runs the rule's steps as `verbs/channel.py` orders its requests (list, read the
channel, write the release tag, write the channel, list again and settle), for many
releases at once, interleaved by hypothesis, some killed at any step and re-run, over
generated histories. Whatever the interleaving, once every run is done the channel holds the
newest released commit: never an older one, and no release lost.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from channel_history import Commits
from hypothesis import given, settings
from hypothesis import strategies as st

from release_pipeline.errors import InvalidInput
from release_pipeline.rules.channels import (
    Holding,
    decide,
    passed_over,
    settle_target,
    takes_over,
)
from release_pipeline.rules.inputs import Platform
from release_pipeline.rules.releases import Ledger
from release_pipeline.rules.tags import ChannelScheme, read_tag
from release_pipeline.verbs.converge import CONVERGE_ROUNDS

DOCS = ChannelScheme("docs", "docs")
AMD64 = Platform("linux", "amd64", None)


def test_channel_tags_follow_the_flavor_and_read_as_nothing_else() -> None:
    edge = ChannelScheme("workers", "edge")
    assert (edge.tag, edge.arch_tag(AMD64)) == ("edge-workers", "edge-workers-amd64")
    assert (DOCS.tag, DOCS.arch_tag(AMD64)) == ("docs", "docs-amd64")
    assert ChannelScheme("", "docs").tag == "docs"
    sha = "ab" * 20
    assert edge.release_tag(sha) == f"edge-workers_{sha}"
    assert edge.release_of(edge.release_tag(sha)) == sha
    assert DOCS.release_of(edge.release_tag(sha)) is None  # another channel's release
    for tag in (edge.release_tag(sha), edge.yank_marker(sha), edge.restore_marker(sha, 2)):
        assert read_tag(tag).kind == "channel", tag
    assert read_tag(edge.yank_marker(sha)).flavor == "workers"
    ledger = Ledger.read(edge, [edge.release_tag(sha), edge.yank_marker(sha), "1.0.0-workers"])
    assert ledger.versions == {sha} and ledger.marked(sha)
    assert ledger.restore_tag(sha) == f"edge-workers_{sha}-1_restored"


@pytest.mark.parametrize("channel", ["latest", "sha", "amd64", "Docs", "a-b", "x_y", "restored"])
def test_a_channel_that_would_read_as_another_tag_is_refused(channel: str) -> None:
    with pytest.raises(InvalidInput, match="channel"):
        ChannelScheme("workers", channel).check()


def test_decide_moves_forward_only_and_says_why() -> None:
    git = Commits()
    old, new = git.line(2)
    empty: Ledger[str] = Ledger.read(DOCS, [])

    def verdict(sha: str, held: Holding | None, *, force: bool = False) -> tuple[bool, str]:
        d = decide("docs", empty, sha, held, git.is_ancestor, force=force)
        return d.move, d.reason

    assert verdict(new, None) == (True, f"docs did not exist; it now points at {new[:8]}.")
    assert verdict(new, Holding("d", old))[0]
    moved, why = verdict(old, Holding("d", new))
    assert not moved and "does not descend from" in why and "--force moves it" in why
    moved, why = verdict(old, Holding("d", new), force=True)
    assert moved and why.startswith("--force:")
    assert verdict(new, Holding("d", None))[1].startswith("docs held an index that records no")
    rewritten = git.commit("force-pushed", parent=None)
    assert not verdict(rewritten, Holding("d", new))[0]
    gone = "f" * 40  # held, but in no history the checkout has: a force-push removed it
    moved, why = verdict(new, Holding("d", gone))
    assert not moved and "does not descend from ffffffff" in why
    blind = decide("docs", empty, new, Holding("d", old), git.seen_by(1).is_ancestor)
    assert not blind.move and "cannot tell" in blind.reason
    yanked = Ledger.read(DOCS, [DOCS.release_tag(new), DOCS.yank_marker(new)])
    d = decide("docs", yanked, new, Holding("d", old), git.is_ancestor)
    assert not d.move and "yanked by a rollback" in d.reason


def test_a_release_the_checkout_lacks_is_newer_only_when_it_is_not_its_past() -> None:
    git = Commits()
    a, b, c = git.line(3)
    early = git.seen_by(2)  # fetched before c was pushed, and cannot fetch it
    assert takes_over(c, b, early.is_ancestor, arrived=True)
    assert not takes_over(c, b, early.is_ancestor, arrived=False)  # e.g. a force-pushed line
    assert takes_over(c, b, git.is_ancestor, arrived=False)
    assert not takes_over(a, b, early.is_ancestor, arrived=True)
    diverged = git.commit("other line", parent=a)
    assert not takes_over(diverged, b, git.is_ancestor, arrived=True)


def test_a_rollback_yanks_what_the_channel_held_and_everything_newer() -> None:
    git = Commits()
    c0, c1, c2, c3 = git.line(4)
    ledger = Ledger.read(DOCS, [DOCS.release_tag(c) for c in (c0, c1, c2, c3)])
    assert passed_over(c1, ledger.versions, ledger, git.is_ancestor) == sorted([c2, c3])


# --- the property: concurrent releases, interleaved step by step -------------------------

Step = Iterator[None]


class Registry:
    """Tags -> the commit whose index they hold ("legacy": an index recording none)."""

    def __init__(self, initial: str | None) -> None:
        self.tags: dict[str, str] = {}
        if initial is not None:
            self.tags[DOCS.tag] = initial
            if initial != "legacy":
                self.tags[DOCS.release_tag(initial)] = initial

    def holding(self) -> Holding | None:
        held = self.tags.get(DOCS.tag)
        if held is None:
            return None
        return Holding(held, None if held == "legacy" else held)


def release(reg: Registry, sha: str, git: Commits) -> Step:
    """One channel release's registry steps, in `verbs/channel.py`'s order; each `yield` is
    a point where another run's request may land, or where this run may be killed."""
    seen = Ledger.read(DOCS, list(reg.tags))
    yield
    held = reg.holding()
    yield
    if not decide(DOCS.tag, seen, sha, held, git.is_ancestor).move:
        return
    reg.tags[DOCS.release_tag(sha)] = sha
    yield
    reg.tags[DOCS.tag] = current = sha
    yield
    for _ in range(CONVERGE_ROUNDS):
        now = Ledger.read(DOCS, list(reg.tags))
        yield
        target = settle_target(current, seen, now, git.is_ancestor)
        if target == current:
            return
        reg.tags[DOCS.tag] = current = target
        yield
    raise AssertionError("did not settle")


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[int, str | None, list[tuple[int, int]], list[int]]:
    """A line of commits, what the channel holds first (nothing, an index other tooling left,
    or the first commit), the runs (a commit each, re-runs of older ones included, and the
    step each is killed after: 0 never), and the interleaving."""
    count = draw(st.integers(2, 7))
    initial = draw(st.sampled_from([None, "legacy", "first"]))
    runs = draw(st.lists(st.tuples(st.integers(0, count - 1), st.integers(0, 6)), max_size=8))
    schedule = draw(st.lists(st.integers(0, 7), max_size=80))
    return count, initial, runs, schedule


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_concurrent_channel_releases_end_on_the_newest_commit(
    scenario: tuple[int, str | None, list[tuple[int, int]], list[int]],
) -> None:
    count, initial, runs, schedule = scenario
    git = Commits()
    line = git.line(count)
    start = line[0] if initial == "first" else initial
    reg = Registry(start)
    active = [(line[i], release(reg, line[i], git), kill, [0]) for i, kill in runs]
    killed: list[str] = []
    picks = iter(schedule)
    while active:
        index = next(picks, 0) % len(active)
        sha, run, kill, steps = active[index]
        steps[0] += 1
        if next(run, "done") == "done" or steps[0] == kill:
            if steps[0] == kill:
                killed.append(sha)  # stopped after this step: CI re-runs the job later
            del active[index]
    for sha in killed:
        for _ in release(reg, sha, git):
            pass
    released = [line[i] for i, _ in runs] + ([line[0]] if start == line[0] else [])
    if released:
        assert reg.tags[DOCS.tag] == max(released, key=line.index)
    else:
        assert reg.holding() == Registry(start).holding()
