"""Registry states as earlier tooling and this pipeline leave them, for the rule properties.

A state holds releases of two flavors (production '' and workers), some as this pipeline's
indexes and some as single-platform images (what the old workflow left), prereleases,
versions of one commit sharing their index, yank and restore events, a floating tag anywhere
(or on another image), and the `docs` image's tags. `seed` writes one by raw HTTP.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass

from history import image, seed_docs
from hypothesis import strategies as st
from seeding import digest_of
from support.images import OCI_INDEX, OCI_MANIFEST, fetch_raw, put_manifest_raw

from release_pipeline.rules.versions import Version

FLAVORS = ("", "workers")
VERSIONS = ("0.9.0", "1.0.0", "1.0.1", "1.1.0-rc.1", "1.1.0", "2.0.0")
repos = itertools.count()  # a fresh repository per example


@dataclass(frozen=True)
class Release:
    flavor: str
    version: str
    commit: int
    events: int  # yank, restore, yank, ... : how many were written


@dataclass(frozen=True)
class State:
    releases: tuple[Release, ...]
    indexed: frozenset[int]  # commits released as an index (else a single-platform image)
    latest: dict[str, int | None]  # flavor -> index into its releases; -1: the docs image


@st.composite
def states(draw: st.DrawFn) -> State:
    releases = []
    for flavor in FLAVORS:
        versions = draw(st.lists(st.sampled_from(VERSIONS), unique=True, max_size=5))
        for version in versions:
            commit = draw(st.integers(0, 3))
            events = draw(st.integers(0, 3)) if Version.parse(version).stable else 0
            releases.append(Release(flavor, version, commit, events))
    indexed = draw(st.frozensets(st.integers(0, 3)))
    latest = {}
    for flavor in FLAVORS:
        mine = [r for r in releases if r.flavor == flavor]
        latest[flavor] = draw(st.one_of(st.none(), st.integers(-1, len(mine) - 1)))
    return State(tuple(releases), indexed, latest)


def version_tag(flavor: str, version: str, prefix: str = "") -> str:
    return f"{prefix}{version}" + (f"-{flavor}" if flavor else "")


def event_tags(flavor: str, version: str, events: int) -> list[str]:
    base = version_tag(flavor, version)
    names = []
    for n in range(1, events + 1):
        generation = (n + 1) // 2
        if n % 2:
            names.append(f"{base}-yanked" if generation == 1 else f"{base}-{generation}_yanked")
        else:
            names.append(f"{base}-{generation}_restored")
    return names


def seed(host: str, repo: str, state: State) -> dict[str, str]:
    """Write the state; returns 'flavor/version' -> the digest its version tags hold."""
    seed_docs(host, repo)
    top: dict[tuple[str, int], tuple[bytes, str]] = {}
    for r in state.releases:
        key = (r.flavor, r.commit)
        if key in top:
            continue
        raw = image(host, repo, f"{r.flavor}:{r.commit}", labels={})
        if r.commit in state.indexed:
            put_manifest_raw(host, repo, digest_of(raw), raw, OCI_MANIFEST)
            child = {"mediaType": OCI_MANIFEST, "digest": digest_of(raw), "size": len(raw)}
            child["platform"] = {"architecture": "arm64", "os": "linux"}
            index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [child]}
            top[key] = (json.dumps(index).encode(), OCI_INDEX)
        else:
            top[key] = (raw, OCI_MANIFEST)
    digests = {}
    for r in state.releases:
        raw, media_type = top[(r.flavor, r.commit)]
        names = [version_tag(r.flavor, r.version), version_tag(r.flavor, r.version, "v")]
        for name in names + event_tags(r.flavor, r.version, r.events):
            put_manifest_raw(host, repo, name, raw, media_type)
        digests[f"{r.flavor}/{r.version}"] = digest_of(raw)
    for flavor, where in state.latest.items():
        mine = [r for r in state.releases if r.flavor == flavor]
        if where == -1:
            body, media_type, _ = fetch_raw(host, repo, "docs")
            put_manifest_raw(host, repo, floating_tag(flavor), body, media_type)
        elif where is not None:
            put_manifest_raw(host, repo, floating_tag(flavor), *top[(flavor, mine[where].commit)])
    return digests


def floating_tag(flavor: str) -> str:
    return "latest" + (f"-{flavor}" if flavor else "")


def flavor_digests(state: State, digests: dict[str, str], flavor: str) -> dict[str, str]:
    """`flavor`'s versions -> the digest their version tags hold (`seed`'s answer)."""
    return {
        r.version: digests[f"{flavor}/{r.version}"] for r in state.releases if r.flavor == flavor
    }


def marked(state: State, flavor: str) -> set[str]:
    """`flavor`'s versions whose own events say yanked (a yank written last)."""
    return {r.version for r in state.releases if r.flavor == flavor and r.events % 2}


def live_versions(
    state: State, digests: dict[str, str], flavor: str, marked: set[str]
) -> dict[str, str]:
    """The live versions of `flavor` and their digests, when `marked` are the versions whose
    own events say yanked: stable, and holding no index a marked version holds."""
    digest = flavor_digests(state, digests, flavor)
    yanked_digests = {digest[v] for v in marked}
    return {v: d for v, d in digest.items() if Version.parse(v).stable and d not in yanked_digests}
