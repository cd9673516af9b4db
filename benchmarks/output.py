"""Output: the tables, the targets' verdicts and the request listings."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from metering import Exchange
from samples import Row, Sample, Step


@dataclass
class Check:
    text: str
    value: str
    ok: bool


def secs(n: float | None) -> str:
    return "-" if n is None else f"{n:.3f}"


NAME_WIDTH = 40
COLUMNS: list[tuple[str, int, Callable[[Row], str]]] = [
    ("GET", 5, lambda r: r.cell(lambda s: s.method("GET"))),
    ("HEAD", 5, lambda r: r.cell(lambda s: s.method("HEAD"))),
    ("PUT", 5, lambda r: r.cell(lambda s: s.method("PUT"))),
    ("POST", 5, lambda r: r.cell(lambda s: s.method("POST"))),
    ("oth", 4, lambda r: r.cell(lambda s: s.method("other"))),
    ("API", 5, lambda r: r.cell(lambda s: s.api)),
    ("ping", 5, lambda r: r.cell(lambda s: s.pings)),
    ("tok", 4, lambda r: r.cell(lambda s: s.tokens)),
    ("all", 5, lambda r: r.cell(lambda s: s.everything)),
    ("401", 4, lambda r: r.cell(lambda s: s.challenged)),
    ("TLS", 4, lambda r: r.cell(lambda s: s.tls_probes)),
    ("wr", 4, lambda r: r.cell(lambda s: s.writes)),
    ("B up", 8, lambda r: f"{r.median(lambda s: s.up) or 0:.0f}"),
    ("B down", 9, lambda r: f"{r.median(lambda s: s.down) or 0:.0f}"),
    ("wall s", 8, lambda r: secs(r.median(lambda s: s.wall))),
    ("call s", 7, lambda r: secs(r.median(lambda s: s.call))),
    ("CPU s", 6, lambda r: secs(r.median(lambda s: s.cpu))),
]


def print_table(
    title: str, rows: list[Row], checks: list[Check], notes: Sequence[str] = ()
) -> None:
    print(f"\n== {title}")
    head = f"{'':<{NAME_WIDTH}}" + "".join(f"{name:>{width}}" for name, width, _ in COLUMNS)
    print(head)
    print("-" * len(head))
    for row in rows:
        print(
            f"{row.name:<{NAME_WIDTH}}"
            + "".join(f"{get(row):>{width}}" for _, width, get in COLUMNS)
        )
    for note in notes:
        print(f"  {note}")
    for check in checks:
        verdict = "PASS" if check.ok else "MISS"
        print(f"  target: {check.text:<60} {check.value:>12}  {verdict}")


def describe(exchanges: list[Exchange]) -> list[str]:
    """The requests in order, one line each; the pages of one tag listing on one line."""
    lines: list[str] = []
    i = 0
    while i < len(exchanges):
        ex = exchanges[i]
        j = i + 1
        if ex.path.split("?")[0].endswith("/tags/list") and "last=" not in ex.path:
            while j < len(exchanges) and "last=" in exchanges[j].path:
                j += 1  # the next pages of this listing
        group = exchanges[i:j]
        statuses = "/".join(sorted({str(x.status) for x in group}))
        pages = f" + {len(group) - 1} next pages (last=...)" if len(group) > 1 else ""
        lines.append(
            f"{len(group):>2} x {ex.method:<4} {ex.path}{pages} -> {statuses}  "
            f"[{sum(x.up for x in group)} B up, {sum(x.down for x in group)} B down]"
        )
        i = j
    return lines


def print_peer_steps(sample: Sample) -> None:
    """Requests per peer command kind, from one run."""
    kinds: dict[str, list[Step]] = {}
    for step in sample.steps:
        kinds.setdefault(step.label, []).append(step)
    print("  peers, per command (run 1):")
    for label, steps in kinds.items():
        methods: dict[str, int] = {}
        for e in steps[0].exchanges:
            if e.api:
                methods[e.method] = methods.get(e.method, 0) + 1
        mix = " ".join(f"{m} {n}" for m, n in methods.items())
        api = _span([sum(e.api for e in x.exchanges) for x in steps])
        pings = _span([sum(e.ping for e in x.exchanges) for x in steps])
        tokens = _span([x.tokens for x in steps])
        probes = _span([x.tls_probes for x in steps])
        wall = statistics.median(x.wall for x in steps)
        print(
            f"    {len(steps)} x {label:<27} each: {api} API ({mix}) + {pings} ping + "
            f"{tokens} token; {probes} TLS probes; {wall:.3f} s"
        )


def _span(values: list[int]) -> str:
    return str(values[0]) if min(values) == max(values) else f"{min(values)}-{max(values)}"
