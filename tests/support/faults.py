"""Seeded fault injection for the test proxy: which request fails, and how.

Retries and rollback are only trusted if they survive the failures real registries give
(throttling, 5xx, dropped connections, writes whose answer is lost). Drawing them from a
seeded generator makes a failing run replayable; the proxy (support.proxy) acts them out.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from .proxy import WRITE_METHODS

__all__ = ["FAULT_KINDS", "Faults"]

FAULT_KINDS = ("429", "500", "502", "503", "reset", "delay", "drop_after_write")


@dataclass
class Faults:
    """Seeded, thread-safe fault injection.

    Each request that matches `methods` and `path` (a regex searched in the path with query)
    gets, with probability `rate`, one kind drawn from `kinds` among those that apply to it
    (`drop_after_write` applies to writes only). `sequence`, when given, decides the first
    matching requests deterministically instead (None = no fault); `rate` applies after it.
    `limit` caps the total number of injected faults. `injected` counts faults by kind.
    """

    rate: float = 0.0
    seed: int = 0
    kinds: Sequence[str] = FAULT_KINDS
    methods: frozenset[str] | None = None
    path: str | None = None
    retry_after: str | None = "0"
    delay: float = 0.05
    sequence: Sequence[str | None] = ()
    limit: int | None = None
    injected: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        unknown = {k for k in (*self.kinds, *self.sequence) if k is not None} - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULT_KINDS}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        self.methods = frozenset(m.upper() for m in self.methods) if self.methods else None
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()
        self._matched = 0
        self._path_re = re.compile(self.path) if self.path else None

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.injected.values())

    def pick(self, method: str, path: str) -> str | None:
        """The fault to inject into this request, or None."""
        if self.methods is not None and method not in self.methods:
            return None
        if self._path_re is not None and not self._path_re.search(path):
            return None
        with self._lock:
            index = self._matched
            self._matched += 1
            if self.limit is not None and sum(self.injected.values()) >= self.limit:
                return None
            if index < len(self.sequence):
                kind = self.sequence[index]
                if kind == "drop_after_write" and method not in WRITE_METHODS:
                    kind = None
            else:
                applicable = [
                    k for k in self.kinds if k != "drop_after_write" or method in WRITE_METHODS
                ]
                # Always draw, so one request's method does not shift later draws.
                hit = self._random.random() < self.rate
                choice = self._random.randrange(len(applicable)) if applicable else 0
                kind = applicable[choice] if hit and applicable else None
            if kind is not None:
                self.injected[kind] += 1
            return kind
