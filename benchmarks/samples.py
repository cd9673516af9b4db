"""One measured run (a Sample, with its peer Steps), and a row of runs in a table."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from metering import Exchange, Meter
from support.proxy import WRITE_METHODS

METHODS = ("GET", "HEAD", "PUT", "POST", "PATCH", "DELETE")


@dataclass
class Step:
    """One peer command and what it sent."""

    label: str
    exchanges: list[Exchange]
    tls_probes: int
    tokens: int
    wall: float


@dataclass
class Sample:
    exchanges: list[Exchange]
    tls_probes: int
    wall: float
    tokens: int = 0  # requests to the token server (not through the proxy)
    call: float | None = None  # the project's own call, without process start
    cpu: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)

    def by_method(self) -> dict[str, int]:
        counts = dict.fromkeys(METHODS, 0)
        for ex in self.exchanges:
            if ex.api:
                counts[ex.method] = counts.get(ex.method, 0) + 1
        return counts

    def method(self, name: str) -> int:
        """API requests with this method; "other" = any method but GET, HEAD, PUT, POST."""
        counts = self.by_method()
        if name != "other":
            return counts[name]
        return sum(n for m, n in counts.items() if m not in ("GET", "HEAD", "PUT", "POST"))

    @property
    def challenged(self) -> int:
        return sum(ex.status == 401 for ex in self.exchanges)

    @property
    def everything(self) -> int:
        return len(self.exchanges) + self.tokens

    @property
    def api(self) -> int:
        return sum(ex.api for ex in self.exchanges)

    @property
    def pings(self) -> int:
        return sum(ex.ping for ex in self.exchanges)

    @property
    def others(self) -> int:
        return sum(not ex.api and not ex.ping for ex in self.exchanges)

    @property
    def writes(self) -> int:
        return sum(ex.api and ex.method in WRITE_METHODS for ex in self.exchanges)

    @property
    def up(self) -> int:
        return sum(ex.up for ex in self.exchanges)

    @property
    def down(self) -> int:
        return sum(ex.down for ex in self.exchanges)


@dataclass
class Row:
    name: str
    samples: list[Sample]

    def values(self, get: Callable[[Sample], int]) -> list[int]:
        return [get(s) for s in self.samples]

    def cell(self, get: Callable[[Sample], int]) -> str:
        vals = self.values(get)
        lo, hi = min(vals), max(vals)
        return str(lo) if lo == hi else f"{lo}-{hi}"

    def worst(self, get: Callable[[Sample], int]) -> int:
        return max(self.values(get))

    def median(self, get: Callable[[Sample], float | None]) -> float | None:
        vals = [v for s in self.samples if (v := get(s)) is not None]
        return statistics.median(vals) if vals else None


def measure(meter: Meter, action: Callable[[], Sample | None]) -> Sample:
    """Run `action` and attribute to it every request the proxy saw meanwhile."""
    mark = meter.mark()
    start = time.perf_counter()
    result = action()
    wall = time.perf_counter() - start
    sample = result or Sample([], 0, 0.0)
    sample.exchanges, sample.tls_probes, sample.tokens = meter.since(mark)
    sample.wall = wall
    return sample
