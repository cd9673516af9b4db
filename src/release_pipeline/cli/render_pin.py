"""`pin`'s report as text: one row per reference of the image, then what was written.

Paths and references come from the user's files: every one is printed through `shown`.
"""

from __future__ import annotations

from release_pipeline.cli.render import Row, Style, banner, grid
from release_pipeline.errors import shown
from release_pipeline.verbs.report import PinReport, PinSite

REF_CHARS = 120


def pin_text(report: PinReport, style: Style) -> list[str]:
    dry, check = report.dry_run, report.check
    lines = banner(dry, style)
    release = report.version or "unreleased digest"
    verb = "check against" if check else "pin"
    flavor = report.flavor or "production"
    lines += style.note(
        f"{report.image} ({flavor}): {verb} {release} = {style.ref(report.image, report.digest)}"
    )
    if report.forced:
        lines += style.labelled("forced", report.forced, "warn")
    state = "not pinned" if check else "would pin" if dry else "pinned"
    rows: list[Row] = [(_cells(s, state), "bad" if check else "good") for s in report.changes]
    rows += [(_cells(s, "already pinned"), None) for s in report.unchanged]
    if rows:
        lines += grid(("WHERE", "KIND", "REFERENCE", "STATE"), rows, style)
    if report.skipped:
        where = ", ".join(_where(s) for s in report.skipped)
        lines += style.note(f"left alone (another flavor): {where}")
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


def _cells(site: PinSite, state: str) -> tuple[str, str, str, str]:
    return (_where(site), site.kind, shown(site.old, REF_CHARS), state)
