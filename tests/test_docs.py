"""Every shell command shown in README.md and docs/*.md is run here or marked as needing what
these tests cannot reach, and every output shown next to a command is what it prints.

Markers, on the line before a shell fence (```sh, bash, shell or console), indented like it:

    <!-- runs -->                    run here, at the repository root, in one bash session per
                                     page with the page's other `runs` blocks, in page order
                                     (what one block exports, the next one sees); every command
                                     must succeed (`set -e`)
    <!-- needs: engine -->           needs a Dagger engine: none can run where this is tested
    <!-- needs: github -->           needs GitHub: Actions, GHCR, attestations
    <!-- needs: private-registry --> needs a registry behind a private CA, and root
    <!-- needs: ci -->               the test command itself: .ci/run must run it verbatim
    <!-- needs: install -->          installs packages: root and the package registries

A shell block without a marker fails, and so does a fence with no language. Whatever its
marker, every `release-pipeline ...` command shown must be accepted by the CLI's parser and
every `dagger call ...` by the module's registration (tests/support/registration.py).

Shown output: a ```text fence right after a `runs` block (blank lines between at most) is
compared with everything that block printed, stdout and stderr together as a terminal shows
them (PYTHONUNBUFFERED=1, NO_COLOR=1, COLUMNS=100, no TTY). Before comparing, both sides go
through `support.docs.normalize`, which erases only what must vary between runs: a loopback
port becomes `PORT`, the session's temp directory `/tmp`, a local-try directory's random
suffix `XXXXXX`, and each distinct digest (`sha256:HEX`, full or shortened, or the bare 12
hex digits a table shows) becomes `sha256:<n>` numbered by first appearance in the page (so
the shown digests must be equal where the printed ones are).

After a change to what the CLI prints, regenerate every shown output with one command:

    UPDATE_DOCS=1 python3 -m pytest -q tests/test_docs.py -p no:cacheprovider

It rewrites each shown `text` block with what its command printed (port and temp paths
normalized as above, real digests kept). To show output for a new `runs` block, put an empty
```text fence right after it and run that command.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.doc_runs import check_runs, rewrite
from support.docs import (
    Page,
    link_problems,
    marker_problems,
    normalize,
    parse_page,
    shell_commands,
)
from support.registration import registration
from support.workflows import disagreements, parse_call

from release_pipeline.cli import app as cli

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
UPDATE = os.environ.get("UPDATE_DOCS") == "1"
README_MAX_LINES = 200


def page(path: Path) -> Page:
    return parse_page(path, path.read_text())


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# --- the pages --------------------------------------------------------------------------


def test_readme_is_a_front_page() -> None:
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; the rest belongs in docs/"


def test_docs_pages_exist() -> None:
    assert [rel(p) for p in PAGES if p.parent.name == "docs"], "docs/ has no pages"


@pytest.mark.parametrize("path", PAGES, ids=rel)
def test_every_shell_block_is_marked(path: Path) -> None:
    assert marker_problems(page(path)) == []


@pytest.mark.parametrize("path", PAGES, ids=rel)
def test_relative_links_resolve(path: Path) -> None:
    assert link_problems(page(path), ROOT) == []


@pytest.mark.parametrize("index", ["README.md", "docs/README.md"])
def test_every_docs_page_is_linked_from_the_indexes(index: str) -> None:
    """No page is an orphan: the front page and the docs index each link every docs page."""
    path = ROOT / index
    targets = re.findall(r"\]\(([^)#\s]+)", path.read_text())
    linked = {(path.parent / target).resolve() for target in targets}
    pages = [p for p in PAGES if p.parent.name == "docs" and p != path]
    assert [rel(p) for p in pages if p not in linked] == []


def test_the_ci_block_is_what_ci_runs() -> None:
    ci_run = (ROOT / ".ci" / "run").read_text()
    shown = [
        (rel(path), block.code)
        for path in PAGES
        for block in page(path).blocks
        if block.marker == "needs: ci"
    ]
    assert shown, "README shows no test command"
    for where, code in shown:
        for line in filter(None, (c.strip() for c in code.split("\n"))):
            pattern = rf"^\s*(exec\s+)?{re.escape(line)}\s*$"
            assert re.search(pattern, ci_run, re.M), f"{where}: .ci/run does not run {line!r}"


def shown_commands(program: str) -> list[tuple[str, list[str]]]:
    return [
        (f"{rel(path)}:{block.start}", argv)
        for path in PAGES
        for block in page(path).blocks
        if block.marker is not None
        for argv in shell_commands(block.code)
        if argv[0] == program
    ]


def test_cli_commands_shown_parse() -> None:
    """Also those marked `needs: github`: a renamed or mistyped flag fails here."""
    commands = shown_commands("release-pipeline")
    assert commands
    problems = []
    for where, argv in commands:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.suppress(SystemExit):
            cli.parser().parse_args(argv[1:])
        if err.getvalue():
            problems.append(f"{where}: {' '.join(argv)}\n{err.getvalue()}")
    assert problems == []


def test_dagger_calls_shown_agree_with_the_module() -> None:
    calls = [(w, argv) for w, argv in shown_commands("dagger") if argv[1:2] == ["call"]]
    assert calls
    problems = [
        f"{where}: {problem}"
        for where, argv in calls
        for problem in disagreements(parse_call(argv[1:]), registration())
    ]
    assert problems == []


# --- running the `runs` blocks ----------------------------------------------------------


RUN_PAGES = [p for p in PAGES if any(b.marker == "runs" for b in page(p).blocks)]


@pytest.mark.parametrize("path", RUN_PAGES, ids=rel)
def test_commands_shown_run_and_print_what_is_shown(path: Path, tmp_path: Path) -> None:
    """The README's local try among them: a real registry on loopback, real images, in order."""
    doc = page(path)
    problems, updates = check_runs(doc, tmp_path)
    if UPDATE and updates and not any("block failed" in p for p in problems):
        path.write_text(rewrite(doc, updates))
        problems, _ = check_runs(page(path), tmp_path / "again")
    assert problems == [], "\n\n".join(problems)


def test_the_local_try_scripts_pass_shellcheck() -> None:
    scripts = sorted(str(p) for p in (ROOT / "examples" / "local-try").iterdir())
    proc = subprocess.run(["shellcheck", *scripts], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_readme_runs_a_local_try() -> None:
    """The front page's try starts a registry, releases, rolls back and stops it, in order."""
    words = [
        " ".join(argv[:2])
        for block in page(ROOT / "README.md").blocks
        if block.marker == "runs"
        for argv in shell_commands(block.code)
    ]
    verbs = [w for w in words if w.startswith(("release-pipeline", "examples/"))]
    order = ["merge", "status", "plan", "promote", "stop"]
    assert all(any(v.endswith(word) for v in verbs) for word in order), verbs
    assert verbs[-1] == "examples/local-try/stop", verbs
    assert any("examples/local-try/start" in w for w in words), words


def test_the_local_try_says_how_to_install_what_it_needs() -> None:
    """Issue 26: the try named Debian packages without the command that installs them, and
    said nothing of a venv. Its install block installs every tool `start` requires, and the
    CLI into a virtual environment."""
    (block,) = [b for b in page(ROOT / "README.md").blocks if b.marker == "needs: install"]
    commands = shell_commands(block.code)
    (apt,) = [argv for argv in commands if argv[:2] == ["apt-get", "install"]]
    start = (ROOT / "examples" / "local-try" / "start").read_text()
    required = re.search(r"^for tool in (.*); do$", start, re.M)
    assert required is not None
    assert {*required[1].split()} - {"python3"} <= set(apt[2:])
    assert ["python3", "-m", "venv", ".venv"] in commands and ["pip", "install", "."] in commands


def test_the_readme_names_the_engine_floor_and_the_tested_sdk() -> None:
    """One sentence: the floor is dagger.json's engineVersion, the tested SDK is the one
    ci/constraints.txt holds; no other engine version is named on the front page."""
    floor = json.loads((ROOT / "dagger.json").read_text())["engineVersion"]
    sdk = re.search(r"^dagger-io==(\S+)$", (ROOT / "ci" / "constraints.txt").read_text(), re.M)
    assert sdk is not None
    text = " ".join((ROOT / "README.md").read_text().split())
    sentence = f"engine {floor} or later, the floor `dagger.json`'s `engineVersion` sets, "
    assert f"{sentence}and are tested with SDK {sdk[1]}, the version `ci/constraints.txt`" in text
    assert set(re.findall(r"engine v?(\d+\.\d+\.\d+)", text)) == {floor.lstrip("v")}


# --- the checks themselves --------------------------------------------------------------


def made_up(text: str, tmp_path: Path) -> Page:
    path = tmp_path / "docs" / "page.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return parse_page(path, text)


def test_an_unmarked_or_mismarked_block_is_caught(tmp_path: Path) -> None:
    text = (
        "```sh\nls\n```\n\n<!-- run -->\n```bash\nls\n```\n\n<!-- runs -->\n```python\nx\n```\n"
        "\n<!-- needs: engine -->\n```sh\ndagger call\n```\n```text\nout\n```\n\n```\nbare\n```\n"
        "<!-- needs: github -->\n\nprose\n\n```sh\nls\n```\n"
    )
    problems = marker_problems(made_up(text, tmp_path))
    found = [re.sub(r"^.*?:(\d+): ", r"\1: ", p).split(" (")[0] for p in problems]
    assert found == [
        "23: fence without a language",
        "1: shell block without a marker",
        "6: unknown marker 'run'",
        "11: marker 'runs' on a 'python' block",
        "16: output shown for a block that is not run",
        "30: shell block without a marker",
        "26: marker not directly before a fence",
    ]


def test_a_broken_link_is_caught(tmp_path: Path) -> None:
    """Issue 26 adds the last two: README promised "picking the module SHA" at a section that
    said neither. Every key word of a link's text (three letters or more, less function words
    and file names, stemmed) must be in the linked section."""
    (tmp_path / "docs" / "other.md").parent.mkdir(parents=True)
    (tmp_path / "docs" / "other.md").write_text(
        "# Other page\n\n## A `status` section\n\n## Pinning: one SHA\n\nThe module's SHA.\n"
    )
    text = (
        "[ok](other.md#a-status-section) [ok](#here) [web](https://example.com/x)\n"
        "[gone](missing.md) [out](../../shared/seed/) [anchor](other.md#nowhere)\n"
        "[the module, pinned](other.md#pinning-one-sha) [other.md](other.md#pinning-one-sha)\n"
        "[picking the module SHA](other.md#pinning-one-sha) [verifying](#here)\n\n# Here\n"
    )
    problems = link_problems(made_up(text, tmp_path), tmp_path)
    assert [p.split("link ")[1] for p in problems] == [
        "'missing.md': no such file",
        "'../../shared/seed/' leaves the repository",
        "'other.md#nowhere': other.md has no heading with that anchor",
        "'other.md#pinning-one-sha': its section never says pick",
        "'#here': its section never says verify",
    ]


def test_commands_are_split_as_the_shell_would() -> None:
    code = (
        'REGISTRY_PASSWORD=x release-pipeline merge --image "$IMAGE" \\\n    --sha "$(git rev-parse'
        " 'v1^{commit}')\" >/dev/null 2>&1 # why\n"
        "cp a b && update-ca-certificates; echo '#' | cat\n"
        'eval "$(examples/local-try/start 2>/dev/null)"\n'
    )
    assert shell_commands(code) == [
        [
            "release-pipeline",
            "merge",
            "--image",
            "$IMAGE",
            "--sha",
            "$(git rev-parse 'v1^{commit}')",
        ],
        ["cp", "a", "b"],
        ["update-ca-certificates"],
        ["echo", "#"],
        ["cat"],
        ["eval", "$(examples/local-try/start )"],
    ]


def test_a_failing_block_or_a_wrong_output_is_caught(tmp_path: Path) -> None:
    text = (
        '<!-- runs -->\n```sh\nexport WORD=hello\n```\n\n<!-- runs -->\n```sh\necho "$WORD"\n```\n'
        "\n```text\ngoodbye\n```\n"
    )
    problems, updates = check_runs(made_up(text, tmp_path), tmp_path / "run1")
    assert len(problems) == 1 and "-goodbye\n+hello" in problems[0]
    assert updates == {11: "hello"}
    failing = "<!-- runs -->\n```sh\nfalse\necho never\n```\n\n<!-- runs -->\n```sh\ntrue\n```\n"
    problems, _ = check_runs(made_up(failing, tmp_path), tmp_path / "run2")
    assert len(problems) == 1 and ":2: block failed" in problems[0]


def test_a_page_that_leaves_its_registry_running_is_caught(tmp_path: Path) -> None:
    text = '<!-- runs -->\n```sh\neval "$(examples/local-try/start 2>/dev/null)"\n```\n'
    problems, _ = check_runs(made_up(text, tmp_path), tmp_path / "run")
    assert [p.split(": ", 1)[1] for p in problems] == [
        "leaves a registry running (/tmp/local-try.XXXXXX); end with examples/local-try/stop"
    ]


hexes = st.text("0123456789abcdef", min_size=64, max_size=64)


@given(
    st.lists(st.integers(0, 3), min_size=1, max_size=8),
    st.lists(hexes, min_size=4, max_size=4, unique_by=lambda h: h[:12]),
    st.lists(hexes, min_size=4, max_size=4, unique_by=lambda h: h[:12]),
    st.integers(1024, 65535),
)
def test_normalizing_keeps_which_digests_are_equal(
    slots: list[int], first: list[str], second: list[str], port: int
) -> None:
    """Two runs that differ only in digest bytes and port agree; a run in which two digests
    that were distinct become one does not, nor one with any other word changed."""

    def render(digests: list[str], port: int, pattern: list[int]) -> str:
        return "\n".join(
            f"127.0.0.1:{port}/app@sha256:{digests[i]} {digests[i][:12]} live" for i in pattern
        )

    shown = normalize([render(first, 5000, slots)])
    assert shown == normalize([render(second, port, slots)])
    if slots[0] != slots[-1]:
        merged = [slots[0] if s == slots[-1] else s for s in slots]
        assert shown != normalize([render(second, port, merged)])
    assert shown != normalize([render(first, 5000, slots).replace("live", "yanked", 1)])
