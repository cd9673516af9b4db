"""When a channel tag moves: the one rule `channel` releases, their re-list and `promote` read.

A channel (`tags.ChannelScheme`: `docs`, `edge-workers`) follows a branch, not SemVer, so
"newer" is git's answer, not the registry's: a commit is newer than the one the channel
holds when it descends from it. Pure: the caller reads the registry and asks git
(`Ancestry`), and hands the answers here.

The rule:
- The channel moves to commit S only when S descends from the commit it holds (read from the
  index's revision annotation), or it holds nothing yet, or what it holds records no commit
  (an index other tooling left: nothing shows S is older, and every index a channel release
  writes records one, so that happens once, on adoption).
- A commit that is not a descendant (an older push's re-run, or history rewritten by a
  force-push) leaves the channel where it is, and so does a commit that a rollback yanked;
  `force` moves it anyway.
- A registry has no compare-and-swap: each release that moves the channel first writes its
  release tag (`C-F_SHA`), then the channel, then lists again (`settle_target`): a live
  release that is newer takes the channel. The last writer's list sees every release tag
  written before its own channel tag, so the channel ends on the newest of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from release_pipeline.rules.releases import Ledger

Ancestry = Callable[[str, str], "bool | None"]
"""`is_ancestor(older, newer)`: True when `older` is `newer` or one of its ancestors, False
when it is not, None when the checkout cannot tell (it does not have `newer`: pushed after
it was fetched). A full clone has every ancestor of what it has, so a commit it lacks is
no ancestor of one it has: False, never None, for that question."""


@dataclass(frozen=True)
class Holding:
    """What the channel tag holds: its digest and the commit it records, if any."""

    digest: str
    revision: str | None


@dataclass(frozen=True)
class Decision:
    move: bool
    reason: str
    forced: bool = False  # moved only because of --force


def short(sha: str) -> str:
    return sha[:8]


def decide(
    tag: str,
    ledger: Ledger[str],
    sha: str,
    held: Holding | None,
    is_ancestor: Ancestry,
    *,
    force: bool = False,
) -> Decision:
    """Whether a release of commit `sha` moves channel `tag`, with the one-sentence reason."""
    name = short(sha)
    if held is not None and held.revision == sha:
        return Decision(True, f"{tag} already holds {name}.")
    stay = _stay_reason(tag, ledger, sha, held, is_ancestor)
    if stay is None:
        if held is None:
            return Decision(True, f"{tag} did not exist; it now points at {name}.")
        if held.revision is None:
            return Decision(
                True,
                f"{tag} held an index that records no commit (left by other tooling); "
                f"it now points at {name}.",
            )
        return Decision(
            True, f"{name} descends from {short(held.revision)}; {tag} now points at {name}."
        )
    if force:
        return Decision(True, f"--force: {stay} {tag} was moved to {name} anyway.", forced=True)
    return Decision(False, f"{stay} {tag} stays where it is; --force moves it.")


def _stay_reason(
    tag: str, ledger: Ledger[str], sha: str, held: Holding | None, is_ancestor: Ancestry
) -> str | None:
    name = short(sha)
    if ledger.marked(sha):
        return f"{name} was yanked by a rollback of {tag} (promote --from {name} puts it back)."
    if held is None or held.revision is None:
        return None
    answer = is_ancestor(held.revision, sha)
    if answer is True:
        return None
    if answer is None:
        return f"this checkout cannot tell whether {name} descends from {short(held.revision)}."
    return (
        f"{name} does not descend from {short(held.revision)}, which {tag} holds (an older "
        "commit's re-run, or a rewritten branch)."
    )


def takes_over(candidate: str, current: str, is_ancestor: Ancestry, *, arrived: bool) -> bool:
    """Whether release `candidate` takes the channel from `current`: it descends from it.
    One that `arrived` while this run ran (its run checked it descends from what the channel
    held) also does when this checkout does not have it, unless it is `current`'s past: a
    commit the checkout lacks was pushed after it was fetched, and is newer."""
    if candidate == current or is_ancestor(candidate, current) is not False:
        return False
    answer = is_ancestor(current, candidate)
    return answer is True or (answer is None and arrived)


def settle_target(current: str, seen: Ledger[str], now: Ledger[str], is_ancestor: Ancestry) -> str:
    """Where a release that moved the channel to `current` puts it after listing again
    (`seen`: its first list, `now`: the new one): on the newest live release that descends
    from it (a re-run of an older commit's release settles on a newer one already there),
    or, when a rollback yanked the one it ends on, on the newest live one in its past."""
    arrived = now.versions - seen.versions
    for candidate in sorted(now.versions):
        if now.marked(candidate):
            continue
        if takes_over(candidate, current, is_ancestor, arrived=candidate in arrived):
            current = candidate
    if now.marked(current):
        current = newest_live(current, now, is_ancestor) or current
    return current


def passed_over(
    target: str, releases: Iterable[str], ledger: Ledger[str], is_ancestor: Ancestry
) -> list[str]:
    """The releases a rollback of the channel to `target` yanks: every live one that is not
    `target`'s past (what it held and anything newer), so no re-run of their release moves
    the channel back. A diverged line's release gets one too: it is no way forward."""
    return sorted(
        r
        for r in releases
        if r != target and not ledger.marked(r) and is_ancestor(r, target) is not True
    )


def newest_live(current: str, ledger: Ledger[str], is_ancestor: Ancestry) -> str | None:
    """The newest live release in `current`'s past: where the channel goes when a rollback
    yanked `current` while its release ran (the rollback's target, or a later live one)."""
    best: str | None = None
    for release in sorted(ledger.versions):
        if ledger.marked(release) or is_ancestor(release, current) is not True:
            continue
        if best is None or is_ancestor(best, release) is True:
            best = release
    return best
