"""Read README.md and docs/*.md the way tests/test_docs.py checks them: fenced blocks with
their markers and shown outputs, relative links, the commands in a shell block, and the one
normalization rule for comparing a shown output with a printed one.

Pure functions over text, so the checks themselves are tested on small made-up pages.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MARKERS",
    "SHELL_LANGS",
    "Block",
    "Page",
    "link_problems",
    "marker_problems",
    "normalize",
    "parse_page",
    "shell_commands",
]

SHELL_LANGS = frozenset({"sh", "bash", "shell", "console"})
"""Fence languages that hold shell commands: each such block needs a marker."""

MARKERS = frozenset(
    {
        "runs",
        "needs: engine",
        "needs: github",
        "needs: private-registry",
        "needs: ci",
        "needs: install",
    }
)
"""What may stand on the line before a shell fence, as `<!-- MARKER -->`:
`runs` (tests/test_docs.py runs it), `needs: engine` (a Dagger engine), `needs: github`
(GitHub: Actions, GHCR, attestations), `needs: private-registry` (a registry behind a private
CA, and root to trust it), `needs: ci` (the test command itself: .ci/run must run it verbatim),
`needs: install` (installs packages: root and the package registries)."""

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<lang>[^`\s]*)\s*$")
_MARKER = re.compile(r"^[ \t]*<!--\s*(?P<marker>[^>]*?)\s*-->\s*$")
_LINK = re.compile(
    r"(?<!!)\[(?P<text>(?:[^\]]|\\\])*)\]\((?P<target><[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\)"
)
_HEADING = re.compile(r"^#{1,6}[ \t]+(?P<title>.+?)[ \t]*#*[ \t]*$")


@dataclass(frozen=True)
class Block:
    """One fenced block. Lines are 1-based; `code` is dedented by the fence's indent."""

    lang: str
    start: int  # the opening fence's line
    end: int  # the closing fence's line
    code: str
    marker: str | None  # the `<!-- ... -->` on the line before the fence, if any
    indent: str


@dataclass(frozen=True)
class Page:
    path: Path
    lines: list[str]
    blocks: list[Block]
    problems: list[str]  # unclosed fences, fences with no language

    def shown_output(self, block: Block) -> Block | None:
        """The `text` block right after `block` (only blank lines between), if any."""
        later = [b for b in self.blocks if b.start > block.end]
        if not later or later[0].lang != "text":
            return None
        between = self.lines[block.end : later[0].start - 1]
        return later[0] if all(not line.strip() for line in between) else None


def parse_page(path: Path, text: str) -> Page:
    lines = text.split("\n")
    blocks: list[Block] = []
    problems: list[str] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence, indent, lang = opening["fence"], opening["indent"], opening["lang"]
        close = next(
            (
                j
                for j in range(i + 1, len(lines))
                if lines[j].strip().startswith(fence) and not lines[j].strip().strip(fence[0])
            ),
            None,
        )
        if close is None:
            problems.append(f"{path}:{i + 1}: fence never closed")
            break
        if not lang:
            problems.append(f"{path}:{i + 1}: fence without a language (sh, text, python, ...)")
        previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        mark = _MARKER.match(previous)
        body = [
            line[len(indent) :] if line.startswith(indent) else line
            for line in lines[i + 1 : close]
        ]
        blocks.append(
            Block(lang, i + 1, close + 1, "\n".join(body), mark["marker"] if mark else None, indent)
        )
        i = close + 1
    return Page(path, lines, blocks, problems)


def marker_problems(page: Page) -> list[str]:
    """Every shell block carries a known marker, and a marker sits only on a shell block;
    a shown output follows only a block that runs (nothing else can be compared)."""
    problems = list(page.problems)
    for block in page.blocks:
        where = f"{page.path}:{block.start}"
        if block.lang in SHELL_LANGS:
            if block.marker is None:
                problems.append(f"{where}: shell block without a marker ({_marker_list()})")
            elif block.marker not in MARKERS:
                problems.append(f"{where}: unknown marker {block.marker!r} ({_marker_list()})")
            elif block.marker != "runs" and page.shown_output(block) is not None:
                problems.append(f"{where}: output shown for a block that is not run")
        elif block.marker in MARKERS:
            problems.append(f"{where}: marker {block.marker!r} on a {block.lang!r} block")
    fenced = {line for b in page.blocks for line in range(b.start, b.end + 1)}
    for number, line in enumerate(page.lines, 1):
        mark = _MARKER.match(line)
        if mark and mark["marker"] in MARKERS and number not in fenced:
            following = next((b for b in page.blocks if b.start > number), None)
            if (
                following is None
                or following.marker != mark["marker"]
                or any(page.lines[k].strip() for k in range(number, following.start - 1))
            ):
                problems.append(f"{page.path}:{number}: marker not directly before a fence")
    return problems


def _marker_list() -> str:
    return "one of " + ", ".join(f"<!-- {m} -->" for m in sorted(MARKERS))


def slug(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", title)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def headings(text: str) -> list[tuple[str, int, int]]:
    """Every heading outside fenced blocks: its anchor, its line (1-based) and its level."""
    page = parse_page(Path(), text)
    fenced = {line for b in page.blocks for line in range(b.start, b.end + 1)}
    found: list[tuple[str, int, int]] = []
    seen: set[str] = set()
    for number, line in enumerate(page.lines, 1):
        heading = _HEADING.match(line)
        if heading and number not in fenced:
            base = slug(heading["title"])
            name, n = base, 0
            while name in seen:  # GitHub numbers repeated headings: name, name-1, ...
                n += 1
                name = f"{base}-{n}"
            seen.add(name)
            found.append((name, number, len(line) - len(line.lstrip("#"))))
    return found


def anchors(text: str) -> set[str]:
    """Every heading's anchor, outside fenced blocks."""
    return {name for name, _, _ in headings(text)}


def link_problems(page: Page, root: Path) -> list[str]:
    """Every relative link names a file (or directory) inside `root` that exists, and every
    `#anchor` into a Markdown page names one of its headings, whose section says the
    `key_words` of the link's text. Links to other sites (a
    scheme such as https:, or mailto:) are not followed: nothing here can reach them."""
    fenced = {line for b in page.blocks for line in range(b.start, b.end + 1)}
    problems = []
    for number, line in enumerate(page.lines, 1):
        if number in fenced:
            continue
        for link in _LINK.finditer(line):
            target = link["target"].strip("<>")
            if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):
                continue
            where = f"{page.path}:{number}: link {target!r}"
            path_part, _, fragment = target.partition("#")
            dest = (page.path.parent / path_part).resolve() if path_part else page.path.resolve()
            if not dest.is_relative_to(root.resolve()):
                problems.append(f"{where} leaves the repository")
            elif not dest.exists():
                problems.append(f"{where}: no such file")
            elif fragment and dest.suffix == ".md" and fragment not in anchors(dest.read_text()):
                problems.append(f"{where}: {dest.name} has no heading with that anchor")
            elif fragment and dest.suffix == ".md":
                body = section(dest.read_text(), fragment).lower()
                missing = [w for w in key_words(link["text"]) if w not in body]
                if missing:
                    problems.append(f"{where}: its section never says {', '.join(missing)}")
    return problems


_STOP_WORDS = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "what",
        "how",
        "its",
        "from",
        "into",
        "this",
        "that",
        "here",
        "only",
        "are",
    ]
)


def key_words(text: str) -> list[str]:
    """What a link's text promises, cheaply: its words of three letters or more, less a few
    function words and a file name (`rollback.md` names a page, not a subject), each cut to
    a stem (a final -ing, -ed or -s dropped). The linked section must contain every stem."""
    words = re.findall(r"[A-Za-z]{3,}", re.sub(r"\S+\.md\b", "", text).lower())
    return [re.sub(r"(?<=\w{3})(ing|ed|s)$", "", w) for w in words if w not in _STOP_WORDS]


def section(text: str, anchor: str) -> str:
    """The heading with `anchor` and everything up to the next heading of its level or
    higher (fenced blocks included: a command shown there is part of what it says)."""
    lines, found = text.split("\n"), headings(text)
    for i, (name, number, level) in enumerate(found):
        if name == anchor:
            end = next((m for _, m, lv in found[i + 1 :] if lv <= level), len(lines) + 1)
            return "\n".join(lines[number - 1 : end - 1])
    return ""


def shell_commands(code: str) -> list[list[str]]:
    """The simple commands of a shell block as argv lists: continuation lines joined,
    comments, redirections (`>/dev/null`, `2>&1`) and leading `VAR=value` assignments
    dropped, split at `&&`, `||`, `|` and `;`. Words keep `$VAR` and `$(...)` unexpanded,
    as the shell would receive them."""
    commands: list[list[str]] = []
    for line in code.replace("\\\n", " ").split("\n"):
        line = _REDIRECTION.sub("", line)
        lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words: list[str] = []
        for token in [*lexer, ";"]:
            if token in {"&&", "||", "|", ";", "&"}:
                while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
                    words.pop(0)
                if words:
                    commands.append(words)
                words = []
            else:
                words.append(token)
    return commands


_REDIRECTION = re.compile(r"(?<!\S)\d*(?:>>?|<)(?:&\d+|\s*[^\s|&;()\"']+)")
_PORT = re.compile(r"\b(127\.0\.0\.1|localhost|\[::1\]):\d{2,5}\b")
_LOCAL_TRY_DIR = re.compile(r"local-try\.[A-Za-z0-9]{6}")
# A digest in full or shortened (`sha256:` and at least 6 hex), or the bare 12 hex digits a
# table shows, as `docker images` does. Commit SHAs (8 or 40 hex) are fixed, so they stay.
_DIGEST = re.compile(r"\b(?:sha256:[0-9a-f]{6,64}|[0-9a-f]{12})\b")


def normalize(texts: list[str], tmp: str | None = None, *, digests: bool = True) -> list[str]:
    """The one rule for comparing shown and printed outputs; what it erases must vary between
    runs, nothing else:
    - a loopback registry's port: `127.0.0.1:47687` -> `127.0.0.1:PORT` (localhost, [::1] too);
    - the session's temporary directory `tmp` -> `/tmp`, and the random suffix of a local-try
      directory -> `local-try.XXXXXX`;
    - with `digests`, each distinct digest (`sha256:HEX`, full or shortened, or a bare
      12-hex short digest) becomes `sha256:<n>`, numbered by first appearance across
      `texts`, so two outputs agree when the same digests are equal in both, whatever their
      bytes;
    - trailing spaces on each line and trailing blank lines.
    """
    numbers: dict[str, str] = {}

    def number(match: re.Match[str]) -> str:
        return numbers.setdefault(match.group(0), f"sha256:<{len(numbers) + 1}>")

    out = []
    for text in texts:
        if tmp:
            text = text.replace(tmp, "/tmp")
        text = _PORT.sub(lambda m: f"{m.group(1)}:PORT", text)
        text = _LOCAL_TRY_DIR.sub("local-try.XXXXXX", text)
        if digests:
            text = _DIGEST.sub(number, text)
        out.append("\n".join(line.rstrip() for line in text.rstrip().split("\n")))
    return out
