"""Read the reusable workflows (.github/workflows/) and their example callers (examples/), run
their `run:` scripts for real, and check the `dagger call` lines those scripts execute against
what the module registers.

Scripts run in bash with the environment GitHub would give them (the workflow's `env:` block, the
step's `env:`, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files). `dagger` is replaced by a recorder
on PATH that logs each argv and answers like the module would, so the test sees exactly the
command lines a runner would execute, once per flavor.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
REUSABLE = ROOT / ".github" / "workflows"
RELEASE = REUSABLE / "release.yml"
ROLLBACK = REUSABLE / "rollback.yml"
EXAMPLES = ROOT / "examples" / "testplanit"
SAAS = EXAMPLES / "release.yml"
SELFHOST = EXAMPLES / "release-selfhost.yml"
ROLLBACK_CALLER = EXAMPLES / "rollback.yml"
CALLERS = sorted(p for p in EXAMPLES.rglob("*") if p.suffix in {".yml", ".yaml"})
WORKFLOWS = sorted(
    p
    for top in (REUSABLE, ROOT / "examples")
    for p in top.rglob("*")
    if p.suffix in {".yml", ".yaml"} and p.is_file()
)
REUSABLE_WORKFLOWS = [RELEASE, ROLLBACK]
# How a workflow pins an action: OWNER/REPO@SHA # vX.Y.Z.
PIN = re.compile(r"uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # (v\d+\.\d+\.\d+)$", re.MULTILINE)


@functools.cache
def load(path: Path) -> dict[str, Any]:
    """The parsed workflow (cached: tests only read it)."""
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def triggers(wf: dict[str, Any]) -> dict[str, Any]:
    # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean True.
    on = wf.get("on", wf.get(True))
    assert isinstance(on, dict), "triggers must be a mapping"
    return on


def steps(wf: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for job in wf["jobs"].values() for s in job.get("steps", [])]


def step_named(job: dict[str, Any], needle: str) -> dict[str, Any]:
    found = [s for s in job["steps"] if needle in s.get("name", "")]
    assert len(found) == 1, f"expected one step named like {needle!r}"
    return found[0]


def uses(step: dict[str, Any], action: str) -> bool:
    return str(step.get("uses", "")).startswith(action + "@")


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def walk(node: Any, path: tuple[Any, ...] = ()) -> Any:
    """Yield (path, string) for every string in the document, keys included."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str):
                yield (*path, key), key
            yield from walk(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, (*path, i))
    elif isinstance(node, str):
        yield path, node


# --- running scripts ------------------------------------------------------------------------


@dataclass
class StepRun:
    result: subprocess.CompletedProcess[str]
    outputs: dict[str, str]
    summary: str
    calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def log(self) -> str:
        return self.result.stdout + self.result.stderr


FAKE_DAGGER = """#!{python}
# Stands in for the Dagger CLI: records argv and whether the password variable was set, then
# answers like the module's functions would. FAKE_DAGGER_FAIL=function makes that call fail.
import hashlib, json, os, sys

argv = sys.argv[1:]
password_set = bool(os.environ.get("REGISTRY_PASSWORD"))
with open(os.environ["FAKE_DAGGER_LOG"], "a") as log:
    log.write(json.dumps({{"argv": argv, "password_set": password_set}}) + "\\n")
words = iter(argv[1:])
function = ""
for word in words:
    if word in ("-m", "--mod"):
        next(words)
    elif not word.startswith("-"):
        function = word
        break
if function == os.environ.get("FAKE_DAGGER_FAIL"):
    print(function + " failed", file=sys.stderr)
    sys.exit(1)
digest = "sha256:" + hashlib.sha256(" ".join(argv).encode()).hexdigest()
image = next((w.split("=", 1)[1] for w in argv if w.startswith("--image=")), "throwaway/x")
dry_run = "--dry-run" in argv
def flag(name):
    return next((w.split("=", 1)[1] for w in argv if w.startswith(name + "=")), None)
if function == "publish-platform" and flag("--flavors") is not None:
    flavors = json.loads(flag("--flavors"))
    images = [
        {{"name": f["name"], "platform": flag("--platform"),
          "digest": "sha256:" + hashlib.sha256((" ".join(argv) + f["name"]).encode()).hexdigest()}}
        for f in flavors
    ]
    print(json.dumps({{"images": images, "emulated": []}}))
elif function == "publish-platform":
    print(digest)
elif function in ("merge", "release"):
    # The floating tag holds the release unless FAKE_DAGGER_OLDER (a hotfix of an older line).
    flavor = next((w.split("=", 1)[1] for w in argv if w.startswith("--flavor=")), "")
    floating = "latest" + ("-" + flavor if flavor else "")
    tags = {{}} if os.environ.get("FAKE_DAGGER_OLDER") else {{floating: digest}}
    print(json.dumps({{"index_digest": digest, "pinned": image + "@" + digest, "tags": tags}}))
elif function == "status":
    print(json.dumps({{"latest": {{"tag": "latest", "digest": digest}}, "versions": []}}))
elif function == "promote":
    print(json.dumps({{"dry_run": dry_run, "yanked": ["0.22.8"], "digest": digest}}))
else:
    print("unexpected call", argv, file=sys.stderr)
    sys.exit(2)
"""


def run_step(
    wf: dict[str, Any],
    step: dict[str, Any],
    tmp_path: Path,
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    fake_dagger: bool = False,
    extra_path: Path | None = None,
) -> StepRun:
    """Run one `run:` step as GitHub would: workflow env, then step env, then `env` overrides
    (values of `${{ }}` expressions, which only GitHub can evaluate, come from `env`)."""
    output = tmp_path / "github_output"
    summary = tmp_path / "github_step_summary"
    log = tmp_path / "dagger_calls.jsonl"
    for f in (output, summary, log):
        f.write_text("")
    path = os.environ["PATH"]
    full_env: dict[str, str] = {}
    for source in (wf.get("env", {}), step.get("env", {})):
        full_env |= {k: str(v) for k, v in source.items() if "${{" not in str(v)}
    full_env |= env or {}
    if fake_dagger:
        bin_dir = tmp_path / "fake-bin"
        bin_dir.mkdir(exist_ok=True)
        fake = bin_dir / "dagger"
        fake.write_text(FAKE_DAGGER.format(python=sys.executable))
        fake.chmod(0o755)
        path = f"{bin_dir}:{path}"
    if extra_path is not None:
        path = f"{extra_path}:{path}"
    full_env |= {
        "PATH": path,
        "HOME": str(tmp_path),
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_REPOSITORY": "TestPlanIt/testplanit",
        "FAKE_DAGGER_LOG": str(log),
    }
    result = subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        cwd=cwd or tmp_path,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return StepRun(
        result,
        parse_outputs(output.read_text()),
        summary.read_text(),
        [json.loads(line) for line in log.read_text().splitlines()],
    )


def parse_outputs(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT lines: NAME=VALUE, or NAME<<DELIM ... DELIM."""
    values: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and "=" not in line.split("<<", 1)[0]:
            name, delim = line.split("<<", 1)
            values[name] = "\n".join(iter(lambda: next(lines), delim))
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
    return values


# --- `dagger call` lines against the module's registration ----------------------------------


@dataclass(frozen=True)
class DaggerCall:
    module: str
    constructor: dict[str, str]
    function: str  # Python spelling (publish_platform)
    args: dict[str, list[str]]  # Python spelling -> every value given (flags may repeat)
    chain: list[str]


def snake(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def parse_call(argv: list[str]) -> DaggerCall:
    """`call [--progress=plain] -m MODULE [--ctor=V ...] FUNCTION [--arg[=V] ...] [FIELD ...]`"""
    assert argv[0] == "call", argv
    words = argv[1:]
    module = ""
    constructor: dict[str, str] = {}
    while words and words[0].startswith("-"):
        word = words.pop(0)
        if word in ("-m", "--mod"):
            module = words.pop(0)
        elif word == "--progress=plain":
            continue
        else:
            name, sep, value = word.partition("=")
            assert sep, f"constructor flag without a value: {word}"
            constructor[snake(name)] = value
    assert words, f"no function in {argv}"
    function = snake(words.pop(0))
    args: dict[str, list[str]] = {}
    while words and words[0].startswith("--"):
        name, sep, value = words.pop(0).partition("=")
        args.setdefault(snake(name), []).append(value if sep else "true")
    return DaggerCall(module, constructor, function, args, [snake(w) for w in words])


def disagreements(call: DaggerCall, registration: dict[str, Any]) -> list[str]:
    """Everything in `call` the module would reject: unknown function, argument or field,
    a missing required argument."""
    functions = registration["functions"]
    problems = [
        f"constructor has no argument {name!r}"
        for name in call.constructor
        if name not in functions[""]["args"]
    ]
    fn = functions.get(call.function)
    if fn is None:
        return [*problems, f"module has no function {call.function!r}"]
    problems += [
        f"{call.function} has no argument {name!r}" for name in call.args if name not in fn["args"]
    ]
    problems += [
        f"{call.function} needs {name!r}" for name in fn["required"] if name not in call.args
    ]
    fields = registration["objects"].get(fn["returns"] or "", [])
    problems += [
        f"{fn['returns']} has no field {name!r}" for name in call.chain if name not in fields
    ]
    return problems
