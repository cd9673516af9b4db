"""Workload 7: per-arch refs as `docker buildx` pushes them, against plain per-arch images.

buildx's default provenance turns each per-arch push into a one-platform index (the image
plus an attestation manifest). merge reads the platform image behind it by digest, so the
target is at most one extra request per platform, for the first release and for a re-run.
Each run seeds a fresh pair of repositories with the same commit: plain images (the
benchmark's usual seeding) and buildx-shaped refs (written by raw HTTP exactly as buildx
does, tests/buildx_refs.py), and releases each twice.
"""

from __future__ import annotations

from typing import Any

from bench import Bench, Env
from buildx_refs import push_buildx_arch
from naming import FLAVOR, TWO, sha_for, token
from output import print_table
from samples import Row

T_EXTRA_PER_PLATFORM = 1


def attested_refs(bench: Bench, env: Env) -> None:
    """Run the workload on `env` and record its targets in `bench`."""
    version = "0.22.8"
    samples: dict[str, list[Any]] = {"plain": [], "buildx": [], "plain-rerun": [], "rerun": []}
    for i in range(bench.runs):
        sha = sha_for(f"attested-{i}")
        plain, attested = f"bench/attested-plain{i}", f"bench/attested{i}"
        env.seeder.per_arch(plain, sha, TWO)
        for platform in TWO:
            push_buildx_arch(
                env.registry.host,
                attested,
                f"{FLAVOR}-sha-{sha[:8]}-{token(platform)}",
                arch=platform.split("/")[1],
                revision=sha,
                seed=f"bench-{i}",
            )
        for repo, first, rerun in ((plain, "plain", "plain-rerun"), (attested, "buildx", "rerun")):
            samples[first].append(bench.release(env, repo, version, sha, TWO))
            samples[rerun].append(bench.release(env, repo, version, sha, TWO))
    rows = [
        Row("project: merge, plain per-arch images", samples["plain"]),
        Row("project: merge, buildx per-arch indexes", samples["buildx"]),
        Row("project: re-run, plain", samples["plain-rerun"]),
        Row("project: re-run, buildx", samples["rerun"]),
    ]
    worst = [row.worst(lambda s: s.api) for row in rows]
    first_extra = (worst[1] - worst[0]) / len(TWO)
    rerun_extra = (worst[3] - worst[2]) / len(TWO)
    unverified = {tuple(s.extra["report"]["revision_unverified"]) for s in samples["buildx"]}
    print_table(
        f"Workload 7: per-arch refs as docker buildx pushes them (image + provenance "
        f"attestation in a one-platform index) vs plain images [{bench.runs} runs]",
        rows,
        [
            bench.check(
                f"extra API requests per platform, first release <= {T_EXTRA_PER_PLATFORM}",
                first_extra,
                T_EXTRA_PER_PLATFORM,
                "{:.1f}",
            ),
            bench.check(
                f"extra API requests per platform, re-run <= {T_EXTRA_PER_PLATFORM}",
                rerun_extra,
                T_EXTRA_PER_PLATFORM,
                "{:.1f}",
            ),
            bench.check("buildx re-run writes == 0", rows[3].worst(lambda s: s.writes), 0),
        ],
        [
            bench.cross_check(samples["buildx"] + samples["rerun"]),
            f"extra cost of attested refs: first release {worst[0]} -> {worst[1]} "
            f"(+{first_extra:.1f} per platform), re-run {worst[2]} -> {worst[3]} "
            f"(+{rerun_extra:.1f} per platform)",
            "revisions: every buildx report verified both images"
            if unverified == {()}
            else f"WARNING: revision_unverified in buildx reports: {sorted(unverified)}",
        ],
    )
    bench.show_requests("project requests, buildx first release (run 1)", samples["buildx"][0])
