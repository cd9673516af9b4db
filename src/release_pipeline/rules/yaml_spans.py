"""A YAML file as the character spans of its nodes: what `pins` needs to edit image fields.

Why not load and dump (PyYAML's, or ruamel.yaml's round trip): a dump renders the document
again, and comments, quoting, indentation, key order, line endings or unrelated documents
may come out different; the ops repository's review would then show lines nobody meant to
change. Flux's setters and Argo CD Image Updater touch only the image fields, and so does
this: PyYAML's parser (libyaml's when present) is used only for its events, whose marks
give each scalar's span in the original text; `pins` splices new values into those spans,
and `splice` parses the result again and requires every event to be what it was, but the
edited scalars. Whatever is not an image field cannot change.

The tree is composed here from the events, not by PyYAML's composer, so the work is bounded:
an alias stays an `Alias` (a billion-laughs file is as small as its text), nesting stops at
`MAX_DEPTH`, a file at `MAX_FILE_CHARS` and `MAX_EVENTS`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from release_pipeline.errors import ManifestRefused, shown

MAX_FILE_CHARS = 2 << 20  # a manifest is kilobytes; a Helm values file rarely 100 KiB
MAX_DEPTH = 64  # Kubernetes objects nest about 15 deep
MAX_EVENTS = 200_000  # a 2 MiB file of short scalars

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Scalar:
    value: str
    style: str | None  # None: plain; "'", '"', '|', '>'
    start: int  # character offsets of the whole token, quotes included
    end: int
    line: int  # 1-based
    column: int  # 0-based
    ordinal: int  # the how-manyth scalar event of the file
    anchor: str | None
    event: int  # the how-manyth event of the file


@dataclass
class Collection:
    """A mapping (`pairs`) or a sequence (`items`), block or flow."""

    mapping: bool
    flow: bool
    line: int
    column: int  # of its first key or `-` (block style)
    anchor: str | None
    children: list[Node] = field(default_factory=list)
    end_event: int = 0  # the how-manyth event ends it
    end: int = 0  # the character offset after it (flow style: after its bracket)

    @property
    def pairs(self) -> list[tuple[Node, Node]]:
        return list(zip(self.children[::2], self.children[1::2], strict=True))

    def get(self, key: str) -> tuple[Scalar, Node] | None:
        """The (key, value) whose plain key is `key` (the last one, as loaders do)."""
        found = None
        for k, v in self.pairs:
            if isinstance(k, Scalar) and k.value == key:
                found = (k, v)
        return found


@dataclass
class Alias:
    name: str
    line: int


Node = Scalar | Collection | Alias


@dataclass(frozen=True)
class Parsed:
    """One file's documents and the nodes its anchors name."""

    documents: list[Node]
    anchors: dict[str, Node]
    line_ending: str  # "\r\n" when the file uses it, else "\n"
    text: str


def _events(path: str, text: str) -> Iterator[Any]:
    """The parser's events (typed Any: PyYAML's stubs type marks as optional)."""
    try:
        yield from yaml.parse(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise ManifestRefused(path, line, f"is not valid YAML: {shown(str(exc.problem))}") from None
    except yaml.YAMLError as exc:
        raise ManifestRefused(path, 0, f"is not valid YAML: {shown(str(exc))}") from None


def parse(path: str, text: str) -> Parsed:
    """Compose the file's nodes from its events, within the bounds above."""
    if len(text) > MAX_FILE_CHARS:
        raise ManifestRefused(path, 0, f"is larger than {MAX_FILE_CHARS >> 20} MiB: not a manifest")
    documents: list[Node] = []
    anchors: dict[str, Node] = {}
    stack: list[Collection] = []
    ordinal = 0

    def add(node: Node, anchor: str | None) -> None:
        if anchor is not None:
            anchors[anchor] = node
        (stack[-1].children if stack else documents).append(node)

    event: Any
    for count, event in enumerate(_events(path, text)):
        if count > MAX_EVENTS:
            raise ManifestRefused(path, 0, f"has more than {MAX_EVENTS} YAML nodes")
        line = event.start_mark.line + 1
        if isinstance(event, yaml.ScalarEvent):
            mark: Any = event.start_mark
            end: Any = event.end_mark
            node = Scalar(
                event.value,
                event.style or None,
                mark.index,
                end.index,
                line,
                mark.column,
                ordinal,
                event.anchor,
                count,
            )
            ordinal += 1
            add(node, event.anchor)
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            if len(stack) >= MAX_DEPTH:
                raise ManifestRefused(path, line, f"nests deeper than {MAX_DEPTH} levels")
            mapping = isinstance(event, yaml.MappingStartEvent)
            first: Any = event.start_mark
            collection = Collection(
                mapping, bool(event.flow_style), line, first.column, event.anchor
            )
            add(collection, event.anchor)
            stack.append(collection)
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            closed: Any = event.end_mark
            ended = stack.pop()
            ended.end_event, ended.end = count, closed.index
        elif isinstance(event, yaml.AliasEvent):
            add(Alias(str(event.anchor), line), None)
    return Parsed(documents, anchors, "\r\n" if "\r\n" in text else "\n", text)


@dataclass(frozen=True)
class Splice:
    """Replace `text[start:end]` by `new`; `values` are the scalars' values afterwards (by
    ordinal), `inserted` the events the splice adds after event number `after`: a scalar's
    value, or `[`, `]`, `{`, `}` for a sequence's or a mapping's start and end."""

    start: int
    end: int
    new: str
    values: dict[int, str] = field(default_factory=dict)
    after: int | None = None
    inserted: tuple[str, ...] = ()


def splice(path: str, text: str, splices: list[Splice]) -> str:
    """Apply non-overlapping splices, then prove only the named scalars changed: the
    result's events are the original's with those values (and insertions), nothing else."""
    ordered = sorted(splices, key=lambda s: s.start)
    for one, two in itertools.pairwise(ordered):
        if one.end > two.start:
            raise ManifestRefused(path, 0, "has two image fields in one span (cannot edit)")
    out, at = [], 0
    for s in ordered:
        out += [text[at : s.start], s.new]
        at = s.end
    result = "".join([*out, text[at:]])
    expected = _expected(_signature(path, text), ordered)
    if _signature(path, result) != expected:
        line = text.count("\n", 0, ordered[0].start) + 1 if ordered else 0
        raise ManifestRefused(
            path,
            line,
            "cannot be edited without changing other YAML content here (flow style or "
            "quoting that does not round-trip); pin this reference by hand",
        )
    return result


Signature = list[tuple[str, str | None, str | None]]


def _signature(path: str, text: str) -> Signature:
    """Every event's kind, scalar value and anchor: what a loader would see."""
    sig: Signature = []
    for event in _events(path, text):
        value = event.value if isinstance(event, yaml.ScalarEvent) else None
        anchor = getattr(event, "anchor", None)
        sig.append((type(event).__name__, value, anchor))
    return sig


_BRACKETS = {
    "[": "SequenceStartEvent",
    "]": "SequenceEndEvent",
    "{": "MappingStartEvent",
    "}": "MappingEndEvent",
}


def _inserted(token: str) -> tuple[str, str | None, str | None]:
    kind = _BRACKETS.get(token)
    return ("ScalarEvent", token, None) if kind is None else (kind, None, None)


def _expected(sig: Signature, splices: list[Splice]) -> Signature:
    values = {k: v for s in splices for k, v in s.values.items()}
    inserts = {s.after: s.inserted for s in splices if s.after is not None}
    out: Signature = []
    ordinal = 0
    for index, (kind, value, anchor) in enumerate(sig):
        if kind == "ScalarEvent":
            value = values.get(ordinal, value)
            ordinal += 1
        out.append((kind, value, anchor))
        out += [_inserted(token) for token in inserts.get(index, ())]
    return out
