"""`merge` over generated registry states, on a real registry: the rule's other writer.

The same states the rollback property seeds (`registry_states`), then one `merge` of a new
commit under a drawn version and flavor, planned first, run through a recording proxy:
- a version the flavor already has is refused by both, with nothing written;
- otherwise the real run writes exactly what `plan` said, only tags that did not exist
  (any flavor's) and the flavor's floating tag; the other flavor and the docs tags are
  untouched;
- after it, the floating tag holds this release's index exactly when it is the newest live
  version (the seeded yanks counting), and is left untouched otherwise: a merge never moves
  it below a live version, and never onto a version it did not release, even where other
  tooling left it somewhere else.
"""

from __future__ import annotations

import anyio
from conftest import ProxyFactory
from history import DOCS_TAGS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from registry_states import (
    FLAVORS,
    VERSIONS,
    State,
    flavor_digests,
    floating_tag,
    live_versions,
    marked,
    repos,
    seed,
    states,
)
from seeding import seed_commit
from support.commands import sha_of
from support.images import tag_digests
from support.proxy import WRITE_METHODS
from support.registry import Registry

from release_pipeline.errors import TagConflict
from release_pipeline.registry.client import RegistryClient
from release_pipeline.rules.specs import ReleaseSpec, release_spec
from release_pipeline.rules.versions import Version
from release_pipeline.verbs.release import merge
from release_pipeline.verbs.report import ReleaseReport


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    state=states(),
    flavor=st.sampled_from(FLAVORS),
    version=st.sampled_from((*VERSIONS, "3.0.0")),
)
def test_merge_writes_only_new_tags_and_ends_on_the_newest_live_version(
    registry: Registry, proxy_factory: ProxyFactory, state: State, flavor: str, version: str
) -> None:
    host, repo = registry.host, f"merge-rule/state{next(repos)}"
    digests = seed(host, repo, state)
    sha = sha_of(f"new {next(repos)}")
    seed_commit(host, repo, sha, flavor=flavor)
    before = tag_digests(host, repo)
    proxy = proxy_factory(host)
    spec = release_spec(f"{proxy.host}/{repo}", version, sha, flavor=flavor)
    planned = anyio.run(_merge, proxy.host, spec, True)
    done = anyio.run(_merge, proxy.host, spec, False)
    put = [p.rsplit("/", 1)[1] for m, p in proxy.counted() if m in WRITE_METHODS]
    after = tag_digests(host, repo)

    if version in flavor_digests(state, digests, flavor):
        assert planned == done == "conflict", (planned, done)
        assert put == [] and after == before
        return
    assert isinstance(planned, ReleaseReport) and isinstance(done, ReleaseReport)
    floating = floating_tag(flavor)
    assert sorted(put) == sorted(done.written) == sorted(planned.written)
    for name in put:
        assert name == floating or name not in before, name
    assert {t: after[t] for t in DOCS_TAGS} == {t: before[t] for t in DOCS_TAGS}
    assert {t: d for t, d in after.items() if before.get(t) != d} == {t: done.tags[t] for t in put}

    live = live_versions(state, digests, flavor, marked(state, flavor))
    newest = Version.parse(version).stable and all(Version.parse(v) < spec.version for v in live)
    # The floating tag moves to this release exactly when it is the newest live version;
    # otherwise it is left where it was, even where other tooling left it (never backwards,
    # never onto a version this run did not release).
    assert after.get(floating) == (done.index_digest if newest else before.get(floating))
    assert done.latest_moved is newest


async def _merge(host: str, spec: ReleaseSpec, dry_run: bool) -> ReleaseReport | str:
    async with RegistryClient(host, secure=False) as client:
        try:
            return await merge(spec, client, dry_run=dry_run)
        except TagConflict:
            return "conflict"
