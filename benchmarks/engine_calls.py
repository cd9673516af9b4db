"""What one local release sends to the engine: the context upload, and sessions per release.

1. Upload: the files and bytes `dagger call ... --source=.` sends for a TestPlanIt-shaped tree
   whose node_modules holds 100,000 small files, with no Ignore (before) and with the
   module's default (after), walked as the CLI's filesync walks it
   (tests/support/context_upload.py; patterns read with moby/patternmatcher's rules).
2. Sessions and context transfers for a two-flavor release, through the module as the SDK
   runs it against the stand-in engine (tests/support/standin_engine.py) and a real
   registry: before, the laptop command's one `release` call per flavor (each call is an
   engine session and syncs `--source` again); after, one call with --flavors. A transfer is
   a distinct source directory the builds read; a session is a `dagger call`.

What it cannot show: the engine's per-client mirror (a second sync on a warm engine sends only
changes; a fresh CI engine copies everything), BuildKit sharing stages between flavors, and
time: the stand-in does no build work.

Usage: python3 benchmarks/engine_calls.py [--modules N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

import pytest  # noqa: E402
from support.context_upload import laptop_checkout, upload  # noqa: E402
from support.fixture_repo import DOCKERFILE, FIXTURE  # noqa: E402
from support.registry import start_registry  # noqa: E402
from support.standin_engine import StandInEngine  # noqa: E402

from release_pipeline.dagger import engine as engine_module  # noqa: E402
from release_pipeline.dagger.main import ReleasePipeline  # noqa: E402
from release_pipeline.rules.context import DEFAULT_RULES  # noqa: E402
from release_pipeline.rules.dockerignore import NO_RULES  # noqa: E402

SHA = "c804cace" + "9" * 32
FLAVORS = [
    {"name": "workers", "flavor": "workers", "target": "workers", "smoke": "node,smoke.js"},
    {"name": "production", "flavor": "", "target": "production", "smoke": "node,server.js"},
]


def upload_rows(modules: int) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        tree = laptop_checkout(Path(tmp) / "repo", FIXTURE, modules)
        rows = []
        for label, rules in (("no Ignore (before)", NO_RULES), ("default Ignore", DEFAULT_RULES)):
            start = time.perf_counter()
            sent = upload(tree, rules)
            took = time.perf_counter() - start
            rows.append(
                f"  {label:<20} {sent.files:>8} files {sent.bytes:>11,} bytes "
                f"{sent.entries:>8} entries  walk {took:.2f} s"
            )
        return rows


async def sessions(host: str, repo: str, calls: list[dict[str, object]]) -> tuple[int, int]:
    """(engine sessions, context transfers) of a release made of these `release` calls."""
    module = ReleasePipeline.__dagger_module__  # type: ignore[attr-defined]
    transfers: set[str] = set()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine_module, "MODULE_SHARES_CALLER_NETWORK", True)
        for n, args in enumerate(calls):
            engine = StandInEngine(FIXTURE, host, build_time=0.01)
            engine.install(patch)
            base = {"version": "0.22.8", "sha": SHA, "dockerfile": DOCKERFILE}
            # Each `dagger call` syncs --source anew: a directory of its own.
            base["source"] = f"Directory:upload-{n}"
            state = {"image": f"{host}/{repo}", **args.pop("ctor", {})}  # type: ignore[dict-item]
            await module.get_result("ReleasePipeline", state, "release", {**base, **args})
            transfers |= engine.sources()
    return len(calls), len(transfers)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--modules", type=int, default=100_000)
    options = parser.parse_args()
    print(f"upload of a TestPlanIt-shaped tree, {options.modules:,} files in node_modules:")
    print("\n".join(upload_rows(options.modules)))
    with tempfile.TemporaryDirectory() as tmp:
        registry = start_registry(Path(tmp))
        try:
            before = [
                {"ctor": {"flavor": f["flavor"]}, "target": f["target"],
                 "smoke_command": f["smoke"].split(",")}
                for f in FLAVORS
            ]  # fmt: skip
            after = [{"flavors": json.dumps(FLAVORS)}]
            print("two-flavor release:     engine sessions  context transfers")
            scenarios = (("one call per flavor", before), ("one call, --flavors", after))
            for n, (label, calls) in enumerate(scenarios):
                count, transfers = asyncio.run(sessions(registry.host, f"bench/app{n}", calls))
                print(f"  {label:<22} {count:>8} {transfers:>16}")
        finally:
            registry.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
