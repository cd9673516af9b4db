"""The command line's flags, as a person under pressure types them (issue 16, item 1).

No flag is reachable by a prefix (`--fo` once meant `--force`), a misspelled flag is named
first with the closest real one, `--version` is the program's only before the verb, and every
verb's help has a description, an example that parses, and the exit codes. Every refusal
exits 2 before any request: a proxy in front of a real registry counts what was sent.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from conftest import ProxyFactory
from support.registry import Registry

from release_pipeline.cli import app as cli
from release_pipeline.cli import flags

SHA = "a" * 40
SRC = Path(cli.__file__).resolve().parents[2]  # src/


def base_argv(verb: str, image: str) -> list[str]:
    """A command of `verb` that is complete and valid: only the flag under test is wrong."""
    required = {
        "merge": ["--version=1.0.0", f"--sha={SHA}"],
        "plan": ["--version=1.0.0", f"--sha={SHA}"],
        "promote": ["--from=1.0.0-workers"],
        "status": [],
    }
    return [verb, f"--image={image}", *required[verb]]


def verb_flags(verb: str) -> list[str]:
    parsers = flags.verb_parsers(cli.parser())
    return [f for f in flags.flag_names(parsers[verb]) if f.startswith("--")]


def prefixes(verb: str) -> list[str]:
    """Every proper prefix of a verb's long flags ('--fo', '--dry', '--sh', ...) that is
    not itself one of its flags."""
    flags = set(verb_flags(verb))
    found = {f[:n] for f in flags for n in range(3, len(f))} - flags
    return sorted(found)


@pytest.mark.parametrize("verb", ["merge", "plan", "promote", "status"])
def test_no_flag_is_reachable_by_a_prefix_and_nothing_is_sent(
    verb: str,
    registry: Registry,
    proxy_factory: ProxyFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    proxy = proxy_factory(registry.host)
    tried = prefixes(verb)
    assert {"--fo", "--dry", "--sh"} & set(tried) or verb == "status", tried
    for prefix in [*tried, "--fo", "--dry", "--sh"]:
        if prefix in verb_flags(verb):
            continue
        code = cli.run([*base_argv(verb, f"{proxy.host}/app"), prefix])
        err = capsys.readouterr().err
        assert code == 2, (prefix, err)
        assert f"error: unknown flag {prefix}" in err, err
    assert proxy.counted() == []


def test_a_misspelled_flag_is_named_first_with_the_closest_real_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The case: --version (required) is missing because it was misspelled, and
    # argparse used to say only that --version is required.
    code = cli.run(["merge", "--image=localhost:5000/app", "--verison", "0.22.8"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines()[-1] == (
        "release-pipeline merge: error: unknown flag --verison; did you mean --version?"
    )
    assert "required" not in err

    code = cli.run(["promote", "--image=localhost:5000/app", "--from=1.0.0", "--dryrun"])
    assert code == 2
    assert "unknown flag --dryrun; did you mean --dry-run?" in capsys.readouterr().err
    code = cli.run(["promte", "--image=localhost:5000/app"])
    assert code == 2
    assert "unknown verb 'promte'; did you mean promote?" in capsys.readouterr().err


def test_version_is_the_programs_before_the_verb_and_the_releases_after_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.run(["--version"]) == 0
    assert capsys.readouterr().out == f"release-pipeline {version('release-pipeline')}\n"

    args = cli.parser().parse_args(["merge", *base_argv("merge", "localhost:5000/app")[1:]])
    assert args.version == "1.0.0"

    # A verb without a release version: the program's version is pointed at, not guessed.
    assert cli.run(["status", "--image=localhost:5000/app", "--version"]) == 2
    err = capsys.readouterr().err
    assert "unknown flag --version for status" in err and "'release-pipeline --version'" in err


def test_version_through_python_m_as_ci_runs_it() -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-m", "release_pipeline", "--version"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"release-pipeline {version('release-pipeline')}\n"


VERBS = list(flags.verb_parsers(cli.parser()))


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_help_has_a_description_an_example_that_parses_and_exit_codes(
    verb: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.run([verb, "--help"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    description = lines[lines.index("") + 1]
    assert len(description) > 20 and not description.startswith(("usage", "options"))
    example = text.split("example:\n", 1)[1].split("\n\n", 1)[0].replace("\\\n", " ")
    argv = shlex.split(example.replace('"$SHA"', SHA))
    assert argv[:2] == ["release-pipeline", verb]
    cli.check_flags(cli.parser(), argv[1:])  # exits 2 on an unknown flag
    cli.parser().parse_args(argv[1:])  # exits 2 on a missing required flag
    codes = text[text.index("exit codes:") :]
    assert all(f"\n  {code}  " in codes for code in (0, 1, 2)), codes


def help_pages(**env: str) -> dict[str, str]:
    """Every `--help` (the program's, then each verb's) as a pipe reads it: no terminal,
    COLUMNS only as given. One process for all of them."""
    script = (
        "import contextlib, io, json, sys\n"
        "from release_pipeline.cli import app, flags\n"
        "pages = {}\n"
        "for verb in ['', *flags.verb_parsers(app.parser())]:\n"
        "    out = io.StringIO()\n"
        "    with contextlib.redirect_stdout(out):\n"
        "        app.run([verb, '--help'] if verb else ['--help'])\n"
        "    pages[verb] = out.getvalue()\n"
        "sys.stdout.write(json.dumps(pages))\n"
    )
    clean = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | {"PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=clean | env,
        check=True,
        timeout=60,
    )
    pages: dict[str, str] = json.loads(done.stdout)
    return pages


def test_every_help_fits_100_columns_and_wraps_alike_with_columns_unset() -> None:
    """Issue 26: `preflight --help` had a 112-column example, and with COLUMNS unset every
    page wrapped its flags at 80 where docs/cli.md (COLUMNS=100) shows them at 100."""
    pages = help_pages()
    assert set(pages) == {"", *VERBS}
    for verb, text in pages.items():
        assert max(map(len, text.splitlines())) <= 100, (verb, text)
    assert pages == help_pages(COLUMNS="100")
    narrow = help_pages(COLUMNS="60")["promote"]  # a narrower terminal still narrows it
    assert "--dry-run             show what promote would write and\n" in narrow


def test_top_level_help_lists_the_verbs_and_the_exit_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.run(["--help"]) == 0
    text = capsys.readouterr().out
    assert all(f"    {verb} " in text for verb in ("merge", "plan", "promote", "status"))
    assert "exit codes:" in text and "status: found no version" in text


def test_every_verb_parser_refuses_prefixes_verbs_added_later_included() -> None:
    top = cli.parser()
    assert top.allow_abbrev is False
    parsers = flags.verb_parsers(top)
    assert {"merge", "plan", "promote", "status"} <= set(parsers)
    assert [name for name, p in parsers.items() if p.allow_abbrev is not False] == []
