"""What the command line prints, read as a person in an incident reads it (issue 16, 2-4).

Dry runs say they wrote nothing and speak conditionally; `--force` shows old -> new; tables
list tags in write order and agree with `--json` field by field (both are parsed here);
tables fit 100 columns for a realistic release (long flavor, four platforms) unless
`--wide`; color only on a terminal (a real pseudo-terminal) and never with NO_COLOR or
`--json`; each retry is one line on stderr; `status` that finds nothing says what it
looked for and exits 1. All against a real registry, some through a counting proxy;
promote's report rendered with no registry behind it is in test_promote_render.py.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ProxyFactory
from support.commands import sha_of
from support.faults import Faults
from support.images import push_image, tag_digests
from support.proxy import WRITE_METHODS
from support.registry import Registry

from release_pipeline.cli import app as cli

REPO = "testplanit/testplanit"
FLAVOR = "enterprise_workers"  # long, as a real flavor can be
PLATFORMS = ("linux/amd64", "linux/arm64", "linux/arm/v7", "linux/ppc64le")
REVISION = "org.opencontainers.image.revision"
SRC = Path(cli.__file__).resolve().parents[1]
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def push_commit(host: str, commit: str) -> None:
    """The four per-arch images CI pushes for one commit, revision label included."""
    sha = sha_of(commit)
    for platform in PLATFORMS:
        _, arch, *variant = platform.split("/")
        push_image(
            host,
            REPO,
            f"{FLAVOR}-sha-{sha[:8]}-{arch}{''.join(variant)}",
            arch=arch,
            variant=variant[0] if variant else None,
            labels={REVISION: sha},
            seed=commit,
        )


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def both(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[dict[str, Any], str]:
    """The JSON and the --wide text of one command: run twice (the first must not have
    changed what the second sees, so only read-only or idempotent commands here)."""
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    code, text, err = run(capsys, *argv, "--wide")
    assert code == 0, err
    return json.loads(out), text


def rows(text: str) -> list[list[str]]:
    """A table's rows under its `TAG DIGEST STATE` header, cells split on 2+ spaces."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == ["TAG"])
    found = []
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break
        found.append(re.split(r"\s{2,}", line.strip(), maxsplit=2))
    return found


def note(text: str, label: str) -> str:
    (line,) = [ln for ln in text.splitlines() if ln.startswith(f"{label}: ")]
    return line.removeprefix(f"{label}: ")


def release(host: str, capsys: pytest.CaptureFixture[str], image: str) -> None:
    """10.22.17 from commit a, then 10.22.18 from commit b: latest on 10.22.18."""
    for commit, number in (("a", "10.22.17"), ("b", "10.22.18")):
        push_commit(host, commit)
        argv = ["merge", image, f"--flavor={FLAVOR}", f"--version={number}"]
        code, _, err = run(capsys, *argv, f"--sha={sha_of(commit)}", *platform_flags())
        assert code == 0, err


def platform_flags() -> list[str]:
    return [f"--platform={p}" for p in PLATFORMS]


def test_plan_and_force_read_as_what_they_are_and_agree_with_json(
    registry: Registry, proxy_factory: ProxyFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    proxy = proxy_factory(registry.host)
    image = f"--image={proxy.host}/{REPO}"
    push_commit(registry.host, "a")
    argv = ["plan", image, f"--flavor={FLAVOR}", "--version=10.22.17", f"--sha={sha_of('a')}"]
    planned, text = both(capsys, *argv, *platform_flags())
    assert [m for m, _ in proxy.counted() if m in WRITE_METHODS] == []
    assert text.splitlines()[0] == "dry run: nothing written"
    assert "now points" not in text and "would point at it" in note(text, "latest")
    table = rows(text)
    # Text and JSON agree, tag by tag, in write order: SHA tags, per-arch, index, latest.
    assert [r[0] for r in table] == list(planned["tags"])
    assert [r[1] for r in table] == list(planned["tags"].values())
    assert [r[0] for r in table if r[2] == "would write"] == planned["written"]
    assert [r[0] for r in table if r[2] == "unchanged"] == planned["unchanged"]
    sha_arch = [t for t in planned["tags"] if t.startswith(f"{FLAVOR}-sha-") and t.count("-") == 3]
    assert planned["unchanged"] == sha_arch and len(sha_arch) == 4
    assert planned["written"][-1] == f"latest-{FLAVOR}"
    assert note(text, "pinned") == planned["pinned"]
    assert note(text, "latest") == planned["latest_reason"]

    code, out, err = run(capsys, "merge", *argv[1:], *platform_flags(), "--json")
    assert code == 0, err
    merged = json.loads(out)
    assert merged["written"] == planned["written"] and merged["dry_run"] is False
    # The table's order is the order the registry received the writes, step by step.
    puts = [p.rsplit("/", 1)[1] for m, p in proxy.counted() if m == "PUT"]
    tokens = tuple(f"-{p.split('/', 1)[1].replace('/', '')}" for p in PLATFORMS)
    steps = [0 if t.endswith(tokens) else 2 if t.startswith("latest") else 1 for t in puts]
    assert steps == sorted(steps) and sorted(puts) == sorted(merged["written"])

    # The same version from another commit, with --force: old -> new, in text and JSON.
    push_commit(registry.host, "b")
    forced = ["plan", *argv[1:4], f"--sha={sha_of('b')}", *platform_flags(), "--force"]
    dry, text = both(capsys, *forced)
    assert dry["replaced"] and set(dry["replaced"]) <= set(dry["written"])
    for tag, digest, state in rows(text):
        if tag in dry["replaced"]:
            assert (digest, state) == (
                f"{merged['tags'][tag]} -> {dry['tags'][tag]}",
                "would overwrite",
            )
            assert dry["replaced"][tag] == merged["tags"][tag]
        else:
            assert digest == dry["tags"][tag] and state in ("would write", "unchanged")
    code, out, err = run(capsys, "merge", *forced[1:])
    assert code == 0, err
    overwritten = [r for r in rows(out) if r[2] == "overwritten"]
    assert [r[0] for r in overwritten] == list(dry["replaced"])
    short = {t: d.partition(":")[2][:12] for t, d in dry["replaced"].items()}
    assert all(r[1].startswith(f"{short[r[0]]} -> ") for r in overwritten)


def test_tables_fit_100_columns_and_wide_prints_full_digests(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    image = f"--image={registry.host}/{REPO}"
    release(registry.host, capsys, image)
    push_commit(registry.host, "c")
    overwrite = [image, f"--flavor={FLAVOR}", "--version=10.22.17", f"--sha={sha_of('c')}"]
    commands = [
        ["plan", *overwrite, *platform_flags(), "--force"],  # the widest rows: old -> new
        ["status", image, f"--flavor={FLAVOR}"],
        ["promote", image, f"--flavor={FLAVOR}", f"--from=10.22.17-{FLAVOR}", "--dry-run"],
    ]
    for argv in commands:
        code, out, err = run(capsys, *argv)
        assert code == 0, err
        assert max(map(len, out.splitlines())) <= 100, out
        assert not DIGEST.search(out), out  # short digests only
        assert "--wide or --json prints them in full" in out
        code, wide, err = run(capsys, *argv, "--wide")
        assert code == 0, err
        assert DIGEST.search(wide) and "--wide or --json" not in wide


def test_promote_shows_the_yank_conditionally_then_done(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    image = f"--image={registry.host}/{REPO}"
    release(registry.host, capsys, image)
    argv = ["promote", image, f"--flavor={FLAVOR}", f"--from=10.22.17-{FLAVOR}"]
    before = tag_digests(registry.host, REPO)
    dry, text = both(capsys, *argv, "--dry-run")
    assert tag_digests(registry.host, REPO) == before
    assert text.splitlines()[0] == "dry run: nothing written"
    assert note(text, "would yank") == ", ".join(dry["yanked"]) == "10.22.18"
    assert "yanked: " not in text
    latest = f"latest-{FLAVOR}"
    # New tags would be written; the floating tag, which exists, would move OLD -> NEW.
    assert [(r[0], r[1], r[2]) for r in rows(text)] == [
        (t, f"{dry['previous']} -> {dry['tags'][t]}", "would move")
        if t == latest
        else (t, dry["tags"][t], "would write")
        for t in dry["written"]
    ]
    assert note(text, "why") == dry["reason"]
    assert note(text, "would be") == f"{latest} -> 10.22.17 ({dry['digest']})"

    code, out, err = run(capsys, *argv, "--wide")
    assert code == 0, err
    assert "dry run" not in out and note(out, "yanked") == "10.22.18"
    assert [r[2] for r in rows(out)] == [
        "moved" if t == latest else "written" for t in dry["written"]
    ]
    assert note(out, "after") == f"{latest} -> 10.22.17 ({dry['digest']})"


def test_status_that_finds_nothing_says_what_it_looked_for_and_exits_1(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    release(registry.host, capsys, f"--image={registry.host}/{REPO}")
    for image, flavor, named, tags, latest in (
        (REPO + "x", FLAVOR, FLAVOR, f"1.0.0-{FLAVOR} or v1.0.0-{FLAVOR}", f"latest-{FLAVOR}"),
        (REPO, "enterprise_worker", "enterprise_worker", "1.0.0-enterprise_worker", None),
        (REPO, "", "'' (production)", "(such as 1.0.0 or v1.0.0)", "latest"),
    ):
        where = f"{registry.host}/{image}"
        code, out, err = run(capsys, "status", f"--image={where}", f"--flavor={flavor}")
        assert code == 1 and out == "", out
        assert f"status found nothing in {where} for flavor {named}: " in err, err
        assert tags in err and f"no {latest or 'latest-' + flavor} tag" in err, err

    code, out, err = run(capsys, "status", f"--image={registry.host}/{REPO}x", "--json")
    assert code == 1 and "status found nothing" in err
    assert json.loads(out)["versions"] == [] and json.loads(out)["latest"]["digest"] is None

    code, out, err = run(capsys, "status", f"--image={registry.host}/{REPO}", f"--flavor={FLAVOR}")
    assert code == 0 and err == "", err


def test_each_retry_is_one_line_on_stderr(
    registry: Registry, proxy_factory: ProxyFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    release(registry.host, capsys, f"--image={registry.host}/{REPO}")
    faults = Faults(sequence=["503", "reset"], path="/tags/list", retry_after="0")
    proxy = proxy_factory(registry.host, faults=faults)
    code, out, err = run(capsys, "status", f"--image={proxy.host}/{REPO}", f"--flavor={FLAVOR}")
    assert code == 0, err
    notices = err.splitlines()
    pattern = re.compile(
        rf"release-pipeline: retrying: GET /v2/{REPO}/tags/list on {re.escape(proxy.host)}: "
        r"(.+); attempt (\d) of 8 failed, waiting (\d+\.\d) s"
    )
    matched = [pattern.fullmatch(line) for line in notices]
    assert all(matched) and len(matched) == faults.total == 2, err
    causes = [(m[1], m[2]) for m in matched if m]
    assert causes == [("answered 503", "1"), ("the connection failed", "2")], err
    assert "10.22.18" in out


def in_terminal(argv: list[str], **env: str) -> str:
    """stdout of the CLI run on a pseudo-terminal (stdout is a TTY, as in a shell)."""
    master, slave = pty.openpty()
    environ = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    environ |= {"PYTHONPATH": str(SRC), "TERM": "xterm-256color", **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "release_pipeline", *argv],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=environ,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    return b"".join(chunks).decode()


def test_color_only_on_a_terminal_never_with_no_color_or_json(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    image = f"--image={registry.host}/{REPO}"
    release(registry.host, capsys, image)
    argv = ["status", image, f"--flavor={FLAVOR}"]
    colored = in_terminal(argv)
    assert "\x1b[32mlive\x1b[0m" in colored, colored
    plain = in_terminal(argv, NO_COLOR="1")
    assert "\x1b" not in plain and "live" in plain
    assert re.sub(r"\x1b\[[0-9;]*m", "", colored) == plain  # color adds nothing else
    assert "\x1b" not in in_terminal([*argv, "--json"])
    code, out, _ = run(capsys, *argv)  # a pipe, not a terminal
    assert code == 0 and "\x1b" not in out


def test_status_text_and_json_agree_field_by_field(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    image = f"--image={registry.host}/{REPO}"
    release(registry.host, capsys, image)
    argv = ["promote", image, f"--flavor={FLAVOR}", f"--from=10.22.17-{FLAVOR}"]
    assert run(capsys, *argv)[0] == 0  # 10.22.18 yanked: every state shows
    report, text = both(capsys, "status", image, f"--flavor={FLAVOR}")
    lines = text.splitlines()
    latest = report["latest"]
    assert lines[0] == f"{report['image']} ({FLAVOR}): {latest['tag']} -> {latest['version']}"
    assert lines[1] == f"  {latest['tag']} = {report['image']}@{latest['digest']}"
    table = [ln.split() for ln in lines[3:] if ln.startswith("  ")]
    shown = [
        {
            "marked": cells[0] == "->",
            "version": cells[-5],
            "digest": cells[-4],
            "revision": cells[-3],
            "created": cells[-2],
            "state": cells[-1],
        }
        for cells in table
    ]
    expected = [
        {
            "marked": v["version"] == latest["version"],
            "version": v["version"],
            "digest": v["digest"],
            "revision": (v["revision"] or "-")[:8],
            "created": v["created"] or "-",
            "state": "yanked" if v["yanked"] else "live" if v["live"] else "prerelease",
        }
        for v in report["versions"]
    ]
    assert shown == expected and [s["state"] for s in shown] == ["yanked", "live"]
    candidates = ", ".join(report["rollback_candidates"]) or "none"
    assert note(text, "rollback candidates (newest first)") == candidates
