"""The rollback rule over generated registry states, on a real registry (issue 14).

Each example seeds a fresh repository by raw HTTP (`registry_states`: two flavors, old
workflow images and this pipeline's indexes, shared indexes, yanks and restores, a floating
tag anywhere, the docs image). Then, for each flavor:
- `status`'s rollback candidates equal an oracle computed here from the seeded state, and
  equal the versions `promote --from` takes that its dry run would neither restore nor leave
  in place, older than latest's: one set, read two ways;
- `promote --from` takes every stable release of the flavor and nothing of the other's;
- a real promote writes exactly what its dry run said, only the flavor's floating tag and
  new event tags: no tag that existed before, of any flavor, is ever overwritten (PUTs
  recorded at the proxy), and the docs tags are untouched;
- after it, the rule holds on what the registry holds: the floating tag names the promoted
  index, and it is the newest live one once the run's yank and restore events count.
"""

from __future__ import annotations

import re

import anyio
from conftest import ProxyFactory
from history import DOCS_TAGS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from registry_states import (
    FLAVORS,
    State,
    flavor_digests,
    floating_tag,
    live_versions,
    marked,
    repos,
    seed,
    states,
    version_tag,
)
from support.images import tag_digests
from support.proxy import WRITE_METHODS
from support.registry import Registry

from release_pipeline.errors import InvalidInput, RegistryError
from release_pipeline.registry.client import RegistryClient
from release_pipeline.rules.specs import promote_spec, status_spec
from release_pipeline.rules.versions import Version
from release_pipeline.verbs.promote import promote
from release_pipeline.verbs.report import PromoteReport
from release_pipeline.verbs.status import status


def yanked_by(state: State, digests: dict[str, str], flavor: str) -> dict[str, str | None]:
    """Each version of `flavor` -> the version whose own yank event yanks it: itself, else
    the newest marked one holding its index; None when nothing yanks it."""
    digest = flavor_digests(state, digests, flavor)
    newest_first = sorted(marked(state, flavor), key=Version.parse, reverse=True)
    return {
        v: v
        if v in newest_first
        else next((m for m in newest_first if digest[m] == digest[v]), None)
        for v in digest
    }


def oracle(state: State, digests: dict[str, str], flavor: str, held: str | None) -> list[str]:
    """The rollback candidates, from the seeded state alone (newest first)."""
    digest = flavor_digests(state, digests, flavor)
    live = live_versions(state, digests, flavor, marked(state, flavor))
    sharing = sorted((Version.parse(v) for v, d in digest.items() if d == held), reverse=True)
    current = next((v for v in sharing if v.stable), sharing[0] if sharing else None)
    chosen = [
        v for v in live if (current is None or Version.parse(v) < current) and digest[v] != held
    ]
    return sorted(chosen, key=Version.parse, reverse=True)


async def dry_run(host: str, repo: str, source: str, flavor: str) -> PromoteReport | str:
    """The dry run's report, or 'invalid' (exit 2) / 'refused' (exit 1)."""
    try:
        spec = promote_spec(f"{host}/{repo}", source, flavor=flavor)
        async with RegistryClient(host, secure=False, push=False) as client:
            return await promote(spec, client, dry_run=True)
    except InvalidInput:
        return "invalid"
    except RegistryError:
        return "refused"


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(state=states(), pick=st.integers(0, 10))
def test_candidates_are_what_promote_takes_and_no_verb_overwrites_an_immutable_tag(
    registry: Registry, proxy_factory: ProxyFactory, state: State, pick: int
) -> None:
    host, repo = registry.host, f"rule/state{next(repos)}"
    digests = seed(host, repo, state)
    anyio.run(_check, host, repo, state, digests, pick, proxy_factory)


async def _check(
    host: str,
    repo: str,
    state: State,
    digests: dict[str, str],
    pick: int,
    proxy_factory: ProxyFactory,
) -> None:
    for flavor in FLAVORS:
        other = next(f for f in FLAVORS if f != flavor)
        async with RegistryClient(host, secure=False, push=False) as client:
            report = await status(status_spec(f"{host}/{repo}", flavor), client)
        held = report.latest.digest
        listed = [v.version for v in report.versions]
        mine = sorted(
            (r.version for r in state.releases if r.flavor == flavor),
            key=Version.parse,
            reverse=True,
        )
        assert listed == mine  # nothing of the other flavor or of docs
        assert {v.version: v.yanked_by for v in report.versions} == yanked_by(
            state, digests, flavor
        )
        assert report.rollback_candidates == oracle(state, digests, flavor, held)

        stable_taken, by_promote = [], []
        for version in mine:
            dry = await dry_run(host, repo, version, flavor)
            if not Version.parse(version).stable:
                assert dry == "refused", version
                continue
            assert isinstance(dry, PromoteReport), (version, dry)
            stable_taken.append(version)
            current = report.latest.version
            below = current is None or Version.parse(version) < Version.parse(current)
            if not dry.restored and below and dry.digest != held:
                by_promote.append(version)
        assert by_promote == report.rollback_candidates
        for r in state.releases:
            if r.flavor == other and f"{flavor}/{r.version}" not in digests:
                assert await dry_run(host, repo, r.version, flavor) == "invalid"
            if r.flavor == other and other:  # a production tag is a bare version: see above
                foreign = version_tag(other, r.version)
                assert await dry_run(host, repo, foreign, flavor) == "invalid", foreign

        if stable_taken:
            chosen = stable_taken[pick % len(stable_taken)]
            done = await _real_run(host, repo, chosen, flavor, proxy_factory)
            _check_end_state(state, digests, flavor, done, tag_digests(host, repo))


async def _real_run(
    host: str, repo: str, version: str, flavor: str, proxy_factory: ProxyFactory
) -> PromoteReport:
    before = tag_digests(host, repo)
    dry = await dry_run(host, repo, version, flavor)
    assert isinstance(dry, PromoteReport)
    proxy = proxy_factory(host)
    spec = promote_spec(f"{proxy.host}/{repo}", version, flavor=flavor)
    async with RegistryClient(proxy.host, secure=False) as client:
        done = await promote(spec, client)
    put = [p.rsplit("/", 1)[1] for m, p in proxy.counted() if m in WRITE_METHODS]
    assert sorted(put) == sorted(done.written) == sorted(dry.written)
    assert done.tags == dry.tags and done.yanked == dry.yanked
    floating = floating_tag(flavor)
    suffix = f"-{flavor}" if flavor else ""
    event = re.compile(
        r"[0-9][0-9A-Za-z.-]*" + re.escape(suffix) + r"-(?:[0-9]+_)?(?:yanked|restored)"
    )
    for name in put:
        assert name == floating or (name not in before and event.fullmatch(name)), name
    after = tag_digests(host, repo)
    assert {t: after[t] for t in DOCS_TAGS} == {t: before[t] for t in DOCS_TAGS}
    assert {t: d for t, d in after.items() if before.get(t) != d} == done.tags
    return done


def _check_end_state(
    state: State, digests: dict[str, str], flavor: str, done: PromoteReport, tags: dict[str, str]
) -> None:
    """After the rollback, the rule holds on what the registry now holds: the floating tag
    names the promoted index, and that index is the newest live one once the events the
    run wrote count (each event tag named for its version, as the tag list reads them)."""
    now_marked = (marked(state, flavor) | set(done.yanked)) - set(done.restored)
    for version in [*done.yanked, *done.restored]:
        kind = "yanked" if version in done.yanked else "restored"
        base = re.escape(version_tag(flavor, version))
        assert any(re.fullmatch(f"{base}-(?:[0-9]+_)?{kind}", t) for t in done.written), version
    floating = floating_tag(flavor)
    assert tags[floating] == done.digest == digests[f"{flavor}/{done.version}"]
    live = live_versions(state, digests, flavor, now_marked)
    newest = max(live, key=Version.parse)
    assert live[newest] == done.digest, (newest, done.version, sorted(now_marked))
