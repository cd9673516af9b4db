"""Each forgery issue 16 found, replayed on a real registry: a lying proxy in front of it for
headers and manifests, real images pushed with forged configs and labels. Every verb must
refuse (exit 1, one clean line, nothing written) or carry on without the forged value."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pytest
from conftest import ProxyFactory
from seeding import seed_commit
from support.hostile import FORGED, forge_body, on_manifests, output_problems, written_strings
from support.hostile_answers import Answer, Hostile
from support.images import fetch_raw, tag_digests
from support.proxy import WRITE_METHODS
from support.registry import Registry

from release_pipeline.cli import app as cli
from release_pipeline.errors import shown
from release_pipeline.rules.manifests import REVISION, SOURCE

REPO = "forged/app"
OLD, NEW = hashlib.sha1(b"forged old").hexdigest(), hashlib.sha1(b"forged new").hexdigest()
# How `errors.shown` quotes FORGED: control characters as '?', every '::' split.
FORGED_SHOWN = "?[2J?[31m : :error: :pwned"
SECRET_SOURCE = "https://bot:ghp_SECRET@github.com/org/app\n::error::x"
# A header outside the digest grammar is named, never echoed: it could hold anything.
NOT_A_DIGEST = f"a Docker-Content-Digest of {len(FORGED)} characters that is not sha256:"


@pytest.fixture
def released(registry: Registry, capsys: pytest.CaptureFixture[str]) -> Registry:
    """1.0.0 released from OLD (latest-workers on it)."""
    seed_commit(registry.host, REPO, OLD)
    argv = ["merge", f"--image={registry.host}/{REPO}", "--version=1.0.0", f"--sha={OLD}"]
    assert cli.run(argv) == 0
    capsys.readouterr()
    return registry


def refused(capsys: pytest.CaptureFixture[str], argv: list[str], expected: str) -> tuple[str, str]:
    """Run a verb that must fail on what the registry sent: exit 1, one clean line."""
    assert cli.run(argv) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1, err
    assert output_problems(out, err) == []
    assert expected in err, err
    return out, err


def test_a_forged_digest_header_is_refused_by_status_unechoed(
    released: Registry, proxy_factory: ProxyFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """status printed `latest-workers = host/repo@ESC[2J...` raw."""

    def forge(answer: Answer) -> None:
        answer.set_header("Docker-Content-Digest", FORGED)

    proxy = proxy_factory(released.host, hostile=Hostile(rewrite=on_manifests(forge)))
    for argv in (["status"], ["status", "--json"]):
        refused(capsys, [*argv, f"--image={proxy.host}/{REPO}"], NOT_A_DIGEST)
        assert FORGED_SHOWN not in capsys.readouterr().err


def test_a_forged_digest_header_is_refused_by_a_conflicting_merge(
    released: Registry, proxy_factory: ProxyFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """A merge re-run with another commit printed the forged digest in its TagConflict."""
    seed_commit(released.host, REPO, NEW)
    before = tag_digests(released.host, REPO)

    def forge(answer: Answer) -> None:
        if answer.method == "HEAD":
            answer.set_header("Docker-Content-Digest", FORGED)

    proxy = proxy_factory(released.host, hostile=Hostile(rewrite=on_manifests(forge)))
    argv = ["merge", f"--image={proxy.host}/{REPO}", "--version=1.0.0", f"--sha={NEW}"]
    refused(capsys, argv, NOT_A_DIGEST)
    assert [m for m, _ in proxy.counted() if m in WRITE_METHODS] == []
    assert tag_digests(released.host, REPO) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("architecture", "amd64\n::error title=pwned::release approved"),
        ("variant", "v8\n::error title=pwned::release approved"),
        ("os", "linux\x1b[2J"),
        ("architecture", "sparc"),  # printable, but no GOARCH name: tags cannot name it
    ],
)
@pytest.mark.parametrize("verb", ["merge", "plan"])
def test_a_forged_config_platform_is_refused_quoted(
    released: Registry, capsys: pytest.CaptureFixture[str], field: str, value: str, verb: str
) -> None:
    """merge's refusal printed a config's architecture raw, as a line of its own."""
    seed_commit(released.host, REPO, NEW, config={field: value})
    before = tag_digests(released.host, REPO)
    argv = [verb, f"--image={released.host}/{REPO}", "--version=1.1.0", f"--sha={NEW}"]
    _, err = refused(capsys, argv, "which is not os/GOARCH[/vN]")
    assert "release approved" not in err or ": :error" in err
    assert tag_digests(released.host, REPO) == before


# Forged child digests of 71 characters, as long as a real one, and what refuses them.
CHILD_DIGESTS = {
    "newline": ("sha256:" + "a" * 63 + "\n", "manifest holds text with control characters"),
    "upper-case hex": ("sha256:" + "A" * 64, "index child digest 'sha256:AAAA"),
    "other algorithm": ("sha257:" + "a" * 64, "index child digest 'sha257:aaaa"),
}


@pytest.mark.parametrize("forged", list(CHILD_DIGESTS))
@pytest.mark.parametrize(
    "argv",
    [
        ["status"],
        ["promote", "--from=1.0.0-workers"],
        ["promote", "--from=1.0.0-workers", "--dry-run", "--json"],
        ["merge", "--version=1.0.1", f"--sha={OLD}"],
    ],
    ids=["status", "promote", "promote-dry-run", "merge"],
)
def test_an_index_child_digest_of_71_characters_off_the_grammar_is_refused(
    released: Registry,
    proxy_factory: ProxyFactory,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    forged: str,
) -> None:
    digest, expected = CHILD_DIGESTS[forged]

    def forge(body: dict[str, Any]) -> None:
        if "manifests" in body:
            body["manifests"][0]["digest"] = digest

    proxy = proxy_factory(released.host, hostile=Hostile(rewrite=forge_body(forge)))
    before = tag_digests(released.host, REPO)
    refused(capsys, [*argv[:1], f"--image={proxy.host}/{REPO}", *argv[1:]], expected)
    assert tag_digests(released.host, REPO) == before


@pytest.mark.parametrize(
    ("label", "copied"),
    [
        (SECRET_SOURCE, False),
        ("https://bot:ghp_SECRET@github.com/org/app", False),
        ("https://github.com/org/app\n::error::x", False),
        ("https://github.com/org/app::error::x", False),
        ("https://github.com/org/app", True),  # the rule passes a good label through
    ],
)
def test_a_source_label_is_copied_only_if_it_passes_the_source_url_rule(
    released: Registry, capsys: pytest.CaptureFixture[str], label: str, copied: bool
) -> None:
    seed_commit(released.host, REPO, NEW, labels={SOURCE: label})
    argv = ["merge", f"--image={released.host}/{REPO}", "--version=1.1.0", f"--sha={NEW}"]
    assert cli.run([*argv, "--json"]) == 0
    out, err = capsys.readouterr()
    assert "ghp_SECRET" not in out + err
    index = json.loads(fetch_raw(released.host, REPO, "1.1.0-workers")[0])
    assert index["annotations"].get(SOURCE) == (label if copied else None)
    assert index["annotations"][REVISION] == NEW
    assert all("ghp_SECRET" not in s for s in written_strings(released.host, REPO))


@pytest.mark.parametrize(
    "url",
    ["https://github.com/org/app::error::x", "https://github.com/org/app\x1b[2J"],
)
def test_the_source_url_flag_follows_the_same_rule(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    argv = ["plan", "--image=127.0.0.1:9/app", "--version=1.0.0", f"--sha={OLD}"]
    assert cli.run([*argv, f"--source-url={url}"]) == 2
    _, err = capsys.readouterr()
    assert "invalid source_url" in err and output_problems("", err) == []


@pytest.mark.parametrize(
    "image",
    ["[::1%lo]:{port}/app", "[fe80::1%eth0]/x", "[fe80::1%25eth0]:5000/x"],
)
def test_an_ipv6_zone_identifier_is_refused_before_any_request(
    registry: Registry, capsys: pytest.CaptureFixture[str], image: str
) -> None:
    """`[::1%lo]:PORT/app` passed input checks, then spent 14 s in DNS retries."""
    text = image.format(port=registry.host.rsplit(":", 1)[1])
    started = time.monotonic()
    assert cli.run(["status", f"--image={text}"]) == 2
    assert time.monotonic() - started < 2
    _, err = capsys.readouterr()
    assert (
        err
        == "release-pipeline: invalid image: host must not carry an IPv6 zone identifier ('%')\n"
    )


def _challenge(value: str) -> Hostile:
    def forge(answer: Answer) -> None:
        if answer.path.startswith("/v2/") and answer.path != "/v2/":
            answer.status, answer.body = 401, b""
            answer.set_header("WWW-Authenticate", value)

    return Hostile(rewrite=forge)


def _header(path_part: str, status: int, name: str, value: str) -> Hostile:
    def forge(answer: Answer) -> None:
        if path_part in answer.path and answer.method == "GET":
            answer.status = status
            answer.set_header(name, value)

    return Hostile(rewrite=forge)


def _tag_list(tags: list[str]) -> Hostile:
    def forge(answer: Answer) -> None:
        if answer.path.endswith("/tags/list") or "/tags/list?" in answer.path:
            answer.body = json.dumps({"name": REPO, "tags": tags}).encode()

    return Hostile(rewrite=forge)


# A header or URL outside its grammar is named, never echoed (it could hold a token).
HEADER_CASES = {
    "auth scheme": (_challenge(FORGED), "that is no challenge (not echoed"),
    "token realm": (
        _challenge('Bearer realm="http://127.0.0.1:9/t::error::pwned",service="x"'),
        "the Bearer challenge of",
    ),
    "blob redirect": (
        _header("/blobs/", 307, "Location", "/v2/x" + FORGED),
        "named a URL of 29 characters; not followed nor echoed",
    ),
    "next tag page": (
        _header(
            "/tags/list", 200, "Link", '</v2/forged/app/tags/list?last=::error::x>; rel="next"'
        ),
        "named a URL of 40 characters; not followed nor echoed",
    ),
    "tag name": (_tag_list(["1.0.0-workers", "1.2.0-workers\n::error::x"]), "is not a tag name"),
}


@pytest.mark.parametrize("case", list(HEADER_CASES))
def test_forged_challenges_urls_and_tag_names_are_refused_quoted(
    released: Registry,
    proxy_factory: ProxyFactory,
    capsys: pytest.CaptureFixture[str],
    case: str,
) -> None:
    seed_commit(released.host, REPO, NEW)
    before = tag_digests(released.host, REPO)
    hostile, expected = HEADER_CASES[case]
    proxy = proxy_factory(released.host, hostile=hostile)
    argv = ["merge", f"--image={proxy.host}/{REPO}", "--version=1.1.0", f"--sha={NEW}"]
    refused(capsys, argv, expected)
    assert tag_digests(released.host, REPO) == before


def test_promote_never_copies_an_index_whose_text_could_forge_output(
    released: Registry, proxy_factory: ProxyFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """promote copies the source index byte for byte: a forged annotation in it (with a
    consistent digest: a lying registry, not a corrupt transfer) would be written again
    under latest-workers and the yank markers."""

    def forge(body: dict[str, Any]) -> None:
        body.setdefault("annotations", {})["org.example.note"] = "ok\n::error::pwned"

    before = tag_digests(released.host, REPO)
    proxy = proxy_factory(released.host, hostile=Hostile(rewrite=forge_body(forge)))
    argv = [
        "promote",
        f"--image={proxy.host}/{REPO}",
        "--from=1.0.0-workers",
        "--to=stable-workers",
    ]
    refused(capsys, argv, "'ok?: :error: :pwned'")
    assert [m for m, _ in proxy.counted() if m in WRITE_METHODS] == []
    assert tag_digests(released.host, REPO) == before


@pytest.mark.parametrize(
    ("sent", "quoted"),
    [
        ("see https://bot:ghp_SECRET@github.com/org", "see https://***@github.com/org"),
        ("token ghp_SECRET1 refused", "token ghp_*** refused"),
        ("pat github_pat_11AB_cdEF", "pat github_pat_***"),
        ("mail ops@example.com", "mail ops@example.com"),  # no URL: nothing to hide
        # Secrets go before clipping: a clip inside one shows none of it.
        ("https://bot:ghp_SECRET@h/" + "x" * 80, "https://***@h/" + "x" * 66 + "..."),
    ],
)
def test_registry_text_never_carries_a_credential(sent: str, quoted: str) -> None:
    assert shown(sent) == quoted
