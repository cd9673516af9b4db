"""Reports as text for a person at a terminal, often in an incident.

`report.py` holds the values (and their JSON); this module only lays them out, so every
word a table prints comes from a report field and text and JSON cannot disagree. The rules:

- a dry run says so first (`dry run: nothing written`) and speaks conditionally ("would
  write", "would overwrite", "would yank"); a tag that held another digest shows
  `OLD -> NEW` as its digest;
- tags are listed in the order they are written, per-arch SHA tags first;
- by default lines fit 100 columns: digests are cut to their first 12 hex digits, as
  `docker images` shows image IDs, and notes wrap. `wide` prints every digest in full and
  wraps nothing (for copying a digest, or grep);
- color only marks what the words already say (a terminal without it loses nothing).

One function per report type; `render` picks it. A new report field is shown by adding a
line to its function.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from release_pipeline.errors import shown
from release_pipeline.rules.inputs import is_digest
from release_pipeline.verbs.report import (
    ChannelReport,
    PinReport,
    PinSite,
    PromoteReport,
    ReleaseReport,
    StatusReport,
)

WIDTH = 100
SHORT_HEX = 12
DRY_RUN_BANNER = "dry run: nothing written"

_SGR = {"good": "32", "warn": "33", "bad": "31", "strong": "1"}


@dataclass(frozen=True)
class Style:
    """How to print: full digests and no wrapping (`wide`), ANSI color (`color`)."""

    wide: bool = False
    color: bool = False

    def digest(self, digest: str) -> str:
        """`sha256:HEX` in full when wide, else the first 12 hex digits (no algorithm)."""
        return digest if self.wide else digest.partition(":")[2][:SHORT_HEX] or digest

    def prefixed(self, digest: str) -> str:
        """`sha256:HEX`, the hex cut as `digest` cuts it: a digest standing alone in a note."""
        return digest if self.wide else f"{digest.partition(':')[0]}:{self.digest(digest)}"

    def ref(self, image: str, digest: str) -> str:
        return f"{image}@{self.prefixed(digest)}"

    def paint(self, text: str, tone: str | None) -> str:
        if not self.color or tone is None or not text:
            return text
        return f"\x1b[{_SGR[tone]}m{text}\x1b[0m"

    def note(self, text: str) -> list[str]:
        """A note line, wrapped to WIDTH (continuations indented) unless wide."""
        if self.wide:
            return [text]
        return textwrap.wrap(
            text,
            WIDTH,
            subsequent_indent="    ",
            break_long_words=False,
            break_on_hyphens=False,
        )

    def labelled(self, label: str, text: str, tone: str | None) -> list[str]:
        """`label: text` as a note, the label painted after wrapping (so color never
        moves a line break)."""
        first, *rest = self.note(f"{label}: {text}")
        return [self.paint(label, tone) + first[len(label) :], *rest]


def render(
    report: ReleaseReport | ChannelReport | PromoteReport | StatusReport | PinReport, style: Style
) -> str:
    if isinstance(report, PinReport):
        lines = pin_text(report, style)
    elif isinstance(report, ReleaseReport):
        lines = release_text(report, style)
    elif isinstance(report, ChannelReport):
        lines = channel_text(report, style)
    elif isinstance(report, PromoteReport):
        lines = promote_text(report, style)
    else:
        lines = status_text(report, style)
    if not style.wide:
        lines.append(
            f"(digests show their first {SHORT_HEX} hex digits; --wide or --json prints them "
            "in full)"
        )
    return "\n".join(lines)


def release_text(report: ReleaseReport, style: Style) -> list[str]:
    later: list[Row] = [
        ((tag, "", f"{_wrote(report.dry_run)} (points at a newer release)"), "good")
        for tag in report.written
        if tag not in report.tags
    ]
    lines = _published(report, report.version, later, style)
    lines += style.note(f"latest: {report.latest_reason}")
    return lines + _unverified(report, style)


def channel_text(report: ChannelReport, style: Style) -> list[str]:
    """A channel release: its tags as `release_text` lists them, then why the channel moved."""
    lines = _published(report, report.channel, [], style)
    lines += style.labelled("channel", report.reason, "warn" if report.forced else None)
    return lines + _unverified(report, style)


def _published(
    report: ReleaseReport | ChannelReport, name: str, later: list[Row], style: Style
) -> list[str]:
    """What a release wrote: its name, its tags in write order (then `later`), its pin."""
    dry = report.dry_run
    lines = banner(dry, style)
    lines += style.note(f"{report.image} {name} ({_flavor(report.flavor)}, {report.sha[:8]})")
    rows = _tag_rows(report.tags, report.written, report.replaced, dry, style) + later
    lines += grid(("TAG", "DIGEST", "STATE"), rows, style)
    return lines + style.note(f"pinned: {style.ref(report.image, report.index_digest)}")


def _unverified(report: ReleaseReport | ChannelReport, style: Style) -> list[str]:
    if not report.revision_unverified:
        return []
    return style.note(
        "revision not verified (no org.opencontainers.image.revision label): "
        + ", ".join(report.revision_unverified)
    )


def _tag_rows(
    tags: dict[str, str], written: list[str], replaced: dict[str, str], dry: bool, style: Style
) -> list[Row]:
    """A release's tags in write order: overwritten (old -> new), written, or unchanged."""
    rows: list[Row] = []
    for tag, digest in tags.items():
        if tag in replaced:
            change = _change(style, replaced[tag], digest)
            rows.append(((tag, change, "would overwrite" if dry else "overwritten"), "warn"))
        elif tag in written:
            rows.append(((tag, style.digest(digest), _wrote(dry)), "good"))
        else:
            rows.append(((tag, style.digest(digest), "unchanged"), None))
    return rows


def promote_text(report: PromoteReport, style: Style) -> list[str]:
    dry, tag = report.dry_run, report.tag
    lines = banner(dry, style)
    lines += style.note(f"{report.image}: {tag} <- {report.source}")
    # Where the floating tag pointed before and after, what was restored and what was
    # released meanwhile: fields `promote` adds to its report (branch "rollback"); each
    # line shows when its field is there, and the report's own digest stands for `after`.
    previous: str | None = getattr(report, "previous", None)
    previous_version: str | None = getattr(report, "previous_version", None)
    after: str = getattr(report, "after", None) or report.digest
    after_version: str | None = getattr(report, "after_version", None) or report.version
    restored: list[str] = getattr(report, "restored", [])
    meanwhile: list[str] = getattr(report, "released_meanwhile", [])
    rows: list[Row] = []
    for written in report.written:
        digest = report.tags[written]
        if written == tag and previous is not None and previous != digest:
            change = _change(style, previous, digest)
            rows.append(((written, change, "would move" if dry else "moved"), "warn"))
        else:
            rows.append(((written, style.digest(digest), _wrote(dry)), "good"))
    if rows:
        lines += grid(("TAG", "DIGEST", "STATE"), rows, style)
    if tag not in report.written:
        held = _pointed(style, report.version, report.digest)
        lines += style.note(f"{tag} already points at {held}: not written")
    if not report.written:
        lines.append(style.paint("would write nothing" if dry else "nothing written", "strong"))
    if previous is not None:
        before = "now" if dry else "before"
        lines += style.note(f"{before}: {tag} -> {_pointed(style, previous_version, previous)}")
    label = "would be" if dry else "after"
    lines += style.note(f"{label}: {tag} -> {_pointed(style, after_version, after)}")
    for names, done, would, tone in (
        (report.yanked, "yanked", "would yank", "bad"),
        (restored, "restored", "would restore", "good"),
        (meanwhile, "released meanwhile (yanked too)", "released meanwhile", None),
    ):
        if names:
            lines += style.labelled(would if dry else done, ", ".join(names), tone)
    lines += style.note(f"why: {report.reason}")
    if report.pin is not None:
        lines += pin_text(report.pin, style)
    return lines


def status_text(report: StatusReport, style: Style) -> list[str]:
    """One line per version; `->` marks the version the floating tag holds."""
    latest = report.latest
    where = "does not exist" if latest.digest is None else f"-> {latest.version or '?'}"
    if report.deployed:
        where += f", the manifests pin {', '.join(_pinned_versions(report))}"
    lines = style.note(f"{report.image} ({_flavor(report.flavor)}): {latest.tag} {where}")
    if latest.digest is not None:
        lines.append(f"  {latest.tag} = {style.ref(report.image, latest.digest)}")
        if latest.version is None:
            lines.append("  (that digest is no released version's index)")
    rows: list[Row] = []
    for v in report.versions:
        yanked = "yanked" if v.yanked_by in (None, v.version) else f"yanked as {v.yanked_by}"
        state = [s for s, on in (("prerelease", v.prerelease), (yanked, v.yanked)) if on]
        cells = (
            "->" if v.version == latest.version else "",
            v.version,
            style.digest(v.digest),
            (v.revision or "-")[:8],
            v.created or "-",
            ", ".join([*(state or ["live"]), *(["deployed"] if v.deployed else [])]),
        )
        rows.append((cells, "bad" if v.yanked else "good" if v.live else None))
    header = ("  ", "VERSION", "DIGEST", "REVISION", "CREATED", "STATE")
    lines += grid(header, rows, style, gap=" ")
    candidates = ", ".join(report.rollback_candidates) or "none"
    lines += style.note(f"rollback candidates (newest first): {candidates}")
    if report.deployed is not None:
        lines += deployed_text(report, style)
    return lines


def _pinned_versions(report: StatusReport) -> list[str]:
    refs = report.deployed or []
    found = sorted({r.version or "?" for r in refs if r.digest}, reverse=True)
    return found + (["a tag (not pinned)"] if any(r.digest is None for r in refs) else [])


def deployed_text(report: StatusReport, style: Style) -> list[str]:
    """Where the manifests pin each version (`status --manifests`), a yanked one flagged."""
    refs = report.deployed or []
    if not refs:
        return style.note("the manifests name no reference of this flavor")
    lines: list[str] = []
    for version in sorted({r.version for r in refs if r.digest}, key=str, reverse=True):
        mine = [r for r in refs if r.digest and r.version == version]
        where = ", ".join(f"{shown(r.path, 200)}:{r.line}" for r in mine)
        yanked = any(r.yanked for r in mine)
        label = f"deployed {version or '(no release)'}{' (YANKED)' if yanked else ''}"
        lines += style.labelled(label, where, "bad" if yanked else "good")
    unpinned = [r for r in refs if r.digest is None]
    if unpinned:
        where = ", ".join(f"{shown(r.path, 200)}:{r.line}" for r in unpinned)
        lines += style.labelled("not pinned (a tag)", where, "warn")
    return lines


REF_CHARS = 120  # a pin row's reference, from the user's file


def pin_text(report: PinReport, style: Style) -> list[str]:
    dry, check = report.dry_run, report.check
    lines = banner(dry, style)
    release = report.version or "unreleased digest"
    verb = "check against" if check else "pin"
    flavor = report.flavor or "production"
    lines += style.note(
        f"{report.image} ({flavor}): {verb} {release} ({style.prefixed(report.digest)})"
    )
    if report.forced:
        lines += style.labelled("forced", report.forced, "warn")
    state = "not pinned" if check else "would pin" if dry else "pinned"
    rows: list[Row] = [
        (_cells(s, state, style), "bad" if check else "good") for s in report.changes
    ]
    rows += [(_cells(s, "already pinned", style), None) for s in report.unchanged]
    if rows:
        lines += grid(("WHERE", "KIND", "REFERENCE", "STATE"), rows, style)
    if report.skipped:
        where = ", ".join(_where(s) for s in report.skipped)
        lines += style.note(f"left alone (another flavor): {where}")
    if report.unseen:
        text = (
            f"{', '.join(report.unseen)}: the images: entry applies to every container "
            f"named {report.image} there; pin could not check their flavors"
        )
        lines += style.labelled("not read", text, "warn")
    if check:
        if report.changes:
            text = f"{len(report.changes)} reference(s) not pinned to {release}: exit 1"
            lines += style.labelled("drift", text, "bad")
        else:
            lines += style.note(f"every reference of the flavor is pinned to {release}")
    elif report.written:
        lines += style.note(f"written: {', '.join(shown(p, 200) for p in report.written)}")
    elif not report.changes:
        lines.append(style.paint("nothing written: every reference is already pinned", "strong"))
    if report.diff:
        lines += report.diff.split("\n")
    return lines


def _where(site: PinSite) -> str:
    return f"{shown(site.path, 200)}:{site.line}"


def _cells(site: PinSite, state: str, style: Style) -> tuple[str, str, str, str]:
    """A reference's row; its digest cut as the style cuts digests."""
    name, at, digest = site.old.rpartition("@")
    old = f"{name}@{style.prefixed(digest)}" if at and is_digest(digest) else site.old
    return (_where(site), site.kind, shown(old, REF_CHARS), state)


Row = tuple[Sequence[str], str | None]  # cells, and the tone of the last one


def grid(header: Sequence[str], rows: Sequence[Row], style: Style, *, gap: str = "  ") -> list[str]:
    """Rows under a header, indented by two, columns padded to their widest cell; `gap`
    follows the first column. Color goes on the last column after padding, so escape
    codes never shift alignment."""
    widths = [
        max(len(cells[i]) for cells, _ in [(header, None), *rows]) for i in range(len(header))
    ]

    def line(cells: Sequence[str], tone: str | None) -> str:
        first, *middle = (f"{c:<{w}}" for c, w in zip(cells[:-1], widths, strict=False))
        last = style.paint(cells[-1], tone)
        return f"  {first}{gap}{'  '.join([*middle, last])}".rstrip()

    return [line(header, None)] + [line(cells, tone) for cells, tone in rows]


def _change(style: Style, old: str, new: str) -> str:
    """A tag's digest before and after: the DIGEST cell of a tag this run moves."""
    return f"{style.digest(old)} -> {style.digest(new)}"


def banner(dry_run: bool, style: Style) -> list[str]:
    return [style.paint(DRY_RUN_BANNER, "strong")] if dry_run else []


def _wrote(dry_run: bool) -> str:
    return "would write" if dry_run else "written"


def _flavor(flavor: str) -> str:
    return flavor or "production"


def _pointed(style: Style, version: str | None, digest: str) -> str:
    """What a floating tag holds: `1.2.0 (sha256:HEX)`, or `? (...)` for no known version."""
    return f"{version or '?'} ({style.prefixed(digest)})"
