"""Kustomizations: what one builds as far as pin can see, and an `images:` entry to add.

Pure, like `pins`. An ops repository is usually a base and overlays: the overlay deployed
(`overlays/prod`) lists `../../base`, or a remote base, and pins through its own `images:`
entry so the staging overlay keeps its image. `pin --kustomization K` does that: it edits
K's entry for the image, adding it when there is none, and leaves the resources alone.

Kustomize matches `images:` entries by name, whatever the tag, so an entry sets every
flavor of the repository that K builds. `clash` refuses an entry over resources that use
another flavor; what pin cannot read (a remote base, a path leaving the manifests
directory) cannot be checked, and the report names it (`Build.unseen`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from release_pipeline.errors import ManifestRefused
from release_pipeline.rules.pins import KUSTOMIZATIONS, Reference, Site, owner
from release_pipeline.rules.yaml_spans import Collection, Node, Parsed, Scalar, Splice

_RESOURCE_KEYS = ("resources", "components", "bases")  # `bases`: kustomize before v5


@dataclass(frozen=True)
class Build:
    """The manifest files a kustomization builds from the tree (its own included), and the
    resources it lists that pin cannot read, as written."""

    files: frozenset[str]
    unseen: tuple[str, ...]


def kustomization_at(where: str, paths: Iterable[str]) -> str | None:
    """The kustomization file `where` names: the file itself, or the one in that directory
    (kustomize refuses a directory with two, and so does this)."""
    where = posixpath.normpath(where.strip("/") or ".")
    found = set(paths)
    if posixpath.basename(where) in KUSTOMIZATIONS and where in found:
        return where
    here = [posixpath.normpath(posixpath.join(where, name)) for name in sorted(KUSTOMIZATIONS)]
    present = [p for p in here if p in found]
    if len(present) > 1:
        raise ManifestRefused(where, 0, f"holds {' and '.join(present)}: kustomize takes one")
    return present[0] if present else None


def build(path: str, documents: Mapping[str, Collection], paths: Iterable[str]) -> Build:
    """What the kustomization at `path` builds: its resources, components and bases,
    followed into the tree (a file, or a directory with a kustomization), once each."""
    found = set(paths)
    files: set[str] = set()
    unseen: list[str] = []
    todo, seen = [path], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        files.add(current)
        for entry in _resources(documents.get(current)):
            target = posixpath.normpath(posixpath.join(posixpath.dirname(current), entry))
            nested = None if _outside(target) else kustomization_at(target, found)
            if nested is not None:
                todo.append(nested)
            elif not _outside(target) and target in found:
                files.add(target)
            else:
                unseen.append(entry)
    return Build(frozenset(files), tuple(dict.fromkeys(unseen)))


def _outside(path: str) -> bool:
    return path == ".." or path.startswith("../") or path.startswith("/")


def _resources(doc: Collection | None) -> list[str]:
    out: list[str] = []
    for key in _RESOURCE_KEYS:
        found = doc.get(key) if doc is not None else None
        items = found[1] if found else None
        if isinstance(items, Collection) and not items.mapping:
            out += [n.value for n in items.children if isinstance(n, Scalar) and n.value]
    return out


REMOVE_ENTRY = "remove the entry, and pin rewrites the resources"


def clash(
    entry: Reference,
    at: tuple[str, int],
    sites: Iterable[Site],
    built: frozenset[str],
    flavor: str,
    ours: frozenset[str],
    remedy: str = REMOVE_ENTRY,
) -> None:
    """Refuse the `images:` entry when a container the kustomization builds uses the image
    as another flavor than the entry: the entry would set both flavors to one image."""
    mine = owner(entry, flavor, ours)
    for used in sites:
        if used.kind != "container" or used.path not in built:
            continue
        if owner(used.ref, flavor, ours) != mine:
            raise ManifestRefused(
                *at,
                f"images: entry for {entry.name} would also rewrite {used.path}:"
                f"{used.line} ({used.shown_as[:120]}), another flavor: kustomize matches "
                f"entries by name; {remedy}",
            )


def add_entry(path: str, parsed: Parsed, image: str, digest: str) -> tuple[Splice, int]:
    """The splice that adds `- name: IMAGE / digest: D` to the kustomization's `images:`
    (the key too, when missing), indented as the file is; and the line it lands on."""
    docs = [d for d in parsed.documents if isinstance(d, Collection)]
    if len(parsed.documents) != 1 or not docs or not docs[0].mapping or docs[0].flow:
        raise ManifestRefused(path, 0, "is not one block mapping: add the images: entry by hand")
    root = docs[0]
    found = root.get("images")
    nl = parsed.line_ending
    if found is None:
        at, indent = _line_end(path, parsed, root), " " * root.column
        new = f"{nl}{indent}images:{nl}{indent}- name: {image}{nl}{indent}  digest: {digest}"
        tokens: tuple[str, ...] = ("images", "[", "{", "name", image, "digest", digest, "}", "]")
        after, lines_before = root.end_event - 1, 2
    else:
        images = found[1]
        if not isinstance(images, Collection) or images.mapping or images.flow:
            raise ManifestRefused(
                path, found[0].line, "has images: that is not a block list: add the entry by hand"
            )
        at, indent = _line_end(path, parsed, images), " " * images.column
        new = f"{nl}{indent}- name: {image}{nl}{indent}  digest: {digest}"
        tokens = ("{", "name", image, "digest", digest, "}")
        after, lines_before = images.end_event - 1, 1
    line = parsed.text.count("\n", 0, at) + 1 + lines_before
    return Splice(at, at, new, after=after, inserted=tokens), line


def _line_end(path: str, parsed: Parsed, node: Collection) -> int:
    """Where the line ends (before its line break) on which `node`'s last value ends: a
    one-line scalar, or a flow collection (`[]`, `{app: w}`)."""
    last: Node = node
    while isinstance(last, Collection) and not last.flow and last.children:
        last = last.children[-1]
    one_line = isinstance(last, Scalar) and last.style in (None, "'", '"')
    if not (one_line or (isinstance(last, Collection) and last.flow)):
        raise ManifestRefused(
            path, node.line, "ends in a value pin cannot append after: add the entry by hand"
        )
    assert isinstance(last, Scalar | Collection)
    text = parsed.text
    found = text.find("\n", last.end)
    return len(text) if found < 0 else found - (text[found - 1] == "\r")
