"""The measuring side the workloads share: a registry set-up (`Env`) and `Bench`, which runs
the project and the peers against it and records the targets' verdicts for the summary.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from metering import Meter
from naming import sha_for
from output import Check, describe
from peers import Peers
from project_worker import run_project
from samples import Sample, measure
from seeder import Seeder
from support.proxy import Proxy
from support.registry import Registry


@dataclass
class Env:
    """A registry with its counting proxy, seeder and peers (one per auth mode)."""

    registry: Registry
    proxy: Proxy
    meter: Meter
    seeder: Seeder
    peers: Peers
    creds: tuple[str, str] | None = None


@dataclass
class Bench:
    runs: int
    verbose: bool
    checks: list[Check] = field(default_factory=list)  # every target's verdict, for the summary
    # Workload 1's worst API counts: workloads 4 and 5 report what they add to them.
    first_api: int | None = None
    first_peer_api: int | None = None

    def check(self, text: str, value: float, limit: float, fmt: str = "{:.0f}") -> Check:
        c = Check(text, fmt.format(value), value <= limit)
        self.checks.append(c)
        return c

    def project(self, env: Env, op: str, repo: str, **job: Any) -> Sample:
        job |= {"op": op, "image": f"{env.proxy.host}/{repo}", "repo": repo, "creds": env.creds}
        return measure(env.meter, lambda: run_project(job))

    def release(
        self, env: Env, repo: str, version: str, sha: str, platforms: Sequence[str], **job: Any
    ) -> Sample:
        return self.project(
            env, "merge", repo, version=version, sha=sha, platforms=list(platforms), **job
        )

    def peer_release(
        self, env: Env, repo: str, version: str, sha: str, platforms: Sequence[str]
    ) -> Sample:
        steps = env.peers.release_cmds(env.proxy.host, repo, version, sha, platforms)
        return env.peers.perform(env.meter, steps)

    def paired_releases(
        self, env: Env, name: str, version: str, platforms: Sequence[str], passes: int = 1
    ) -> tuple[list[list[Sample]], list[list[Sample]]]:
        """Per run, seed twin repositories alike; the project releases into one and the peers
        into the other, `passes` times each. Returns (ours, theirs), indexed [pass][run]."""
        ours: list[list[Sample]] = [[] for _ in range(passes)]
        theirs: list[list[Sample]] = [[] for _ in range(passes)]
        for i in range(self.runs):
            sha = sha_for(f"{name}-{i}")
            repo_p, repo_d = f"bench/{name}-p{i}", f"bench/{name}-d{i}"
            for repo in (repo_p, repo_d):
                env.seeder.per_arch(repo, sha, platforms)
            for n in range(passes):
                ours[n].append(self.release(env, repo_p, version, sha, platforms))
                theirs[n].append(self.peer_release(env, repo_d, version, sha, platforms))
        return ours, theirs

    def cross_check(self, samples: Iterable[Sample]) -> str:
        """The client's own count (client.stats.by_method) against the proxy's."""
        for s in samples:
            stats = s.extra.get("stats", {})
            if sum(stats.values()) != s.everything:
                seen = {m: n for m, n in s.by_method().items() if n}
                return (
                    f"WARNING: client.stats.by_method {stats} != proxy {seen} "
                    f"+ {s.tokens} token requests"
                )
        return "client.stats.by_method agrees with the proxy's count in every run"

    def show_requests(self, label: str, sample: Sample) -> None:
        print(f"  {label}:")
        for line in describe(sample.exchanges):
            print(f"    {line}")
