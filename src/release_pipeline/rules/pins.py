"""Where deployment manifests name an image, whose flavor each reference is, and its pin.

Pure: `verbs/pin.py` reads the files and the registry; this decides. Three places name an
image (`find_sites`):
- `image:` of a container, initContainer or ephemeralContainer in a Pod, Deployment,
  StatefulSet, DaemonSet, ReplicaSet, Job or CronJob, in any document of a file;
- an `images:` entry of a kustomization (`kustomization.yaml`, `.yml`, `Kustomization`)
  whose `newName` (else `name`) is the image and which sets `newTag` or `digest`;
- the Helm values keys a user names: one key holding the whole reference, or three
  (repository, tag, digest). A file with `{{` is a template: never parsed nor edited.

Which flavor a reference is (`owner`): its tag decides (`tags.read_tag`, the scheme every
verb reads), a bare name is `latest` (production); a digest alone is this flavor's when it
is one of its releases (the verb reads which). What a kustomization builds, and the
`images:` entry `--kustomization` adds, are `kustomize`'s (docs/deploy.md).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from release_pipeline.errors import ManifestRefused
from release_pipeline.rules.inputs import is_digest
from release_pipeline.rules.tags import read_tag
from release_pipeline.rules.yaml_spans import Alias, Collection, Node, Parsed, Scalar, Splice

KUSTOMIZATIONS = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})
_TEMPLATE_PATHS = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
MAX_ALIAS_NODES = 10_000  # followed behind an alias on a container's path
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
SiteKind = Literal["container", "kustomize", "helm"]


@dataclass(frozen=True)
class Reference:
    """`name[:tag][@digest]`, split; `text` as written."""

    name: str
    tag: str | None
    digest: str | None

    @classmethod
    def parse(cls, text: str) -> Reference:
        rest, at, digest = text.partition("@")
        slash = rest.rfind("/")
        colon = rest.rfind(":")
        if colon > slash:
            return cls(rest[:colon], rest[colon + 1 :], digest if at else None)
        return cls(rest, None, digest if at else None)

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        return self.name + tag + (f"@{self.digest}" if self.digest else "")


@dataclass(frozen=True)
class Site:
    """One place a file names the image, and how to pin it."""

    path: str
    line: int
    kind: SiteKind
    ref: Reference  # what it resolves to now (kustomize: newName:newTag@digest)
    shown_as: str  # the field's text, for a report
    # what an edit splices: the image scalar, the kustomize entry or the Helm document
    node: Scalar | Collection = field(compare=False, repr=False)


@dataclass(frozen=True)
class Query:
    """The image to find, and the Helm keys the user named (dotted paths)."""

    image: str
    helm_keys: tuple[str, ...] = ()


def owner(ref: Reference, flavor: str, our_digests: frozenset[str]) -> bool | None:
    """Whether `ref` is `flavor`'s image: by its tag, else its digest being one of
    `our_digests` (None: a digest not known yet), else a bare name (production's latest)."""
    if ref.tag:
        return read_tag(ref.tag).flavor == flavor
    if ref.digest is not None:
        return True if ref.digest in our_digests else None
    return flavor == ""


def is_template(text: str) -> bool:
    return "{{" in text


def find_sites(path: str, parsed: Parsed, query: Query) -> list[Site]:
    """Every place the file names `query.image`; refuses an alias or anchor on one."""
    name = posixpath.basename(path)
    sites: list[Site] = []
    for document in parsed.documents:
        if not isinstance(document, Collection) or not document.mapping:
            continue
        if name in KUSTOMIZATIONS:
            sites += _kustomize(path, document, query.image)
        sites += _containers(path, parsed, document, query.image)
        if query.helm_keys:
            sites += _helm(path, document, query)
    return sites


def _scalar(path: str, node: Node | None, what: str) -> Scalar | None:
    """A scalar field's node; refuses an alias or anchor there (editing it would change
    every other use of the anchor, or none)."""
    if node is None:
        return None
    if isinstance(node, Alias):
        raise ManifestRefused(
            path, node.line, f"{what} is the alias *{node.name}: pin the anchored value by hand"
        )
    if isinstance(node, Scalar) and node.anchor is not None:
        raise ManifestRefused(
            path, node.line, f"{what} carries the anchor &{node.anchor}: aliases share it"
        )
    return node if isinstance(node, Scalar) else None


def _at(node: Node | None, keys: Iterable[str]) -> Node | None:
    for key in keys:
        if not isinstance(node, Collection) or not node.mapping:
            return None
        found = node.get(key)
        node = found[1] if found else None
    return node


def _names(parsed: Parsed, node: Node | None, image: str) -> bool:
    """Whether an aliased subtree may mention the image (then it cannot be pinned): aliases
    inside it are followed, up to `MAX_ALIAS_NODES` nodes (a billion-laughs file would
    expand past any memory), and beyond that counted as naming it."""
    budget = MAX_ALIAS_NODES
    todo = [node]
    while todo:
        budget -= 1
        if budget < 0:
            return True
        n = todo.pop()
        if isinstance(n, Alias):
            todo.append(parsed.anchors.get(n.name))
        elif isinstance(n, Scalar) and n.value.startswith(image):
            return True
        elif isinstance(n, Collection):
            todo += n.children
    return False


def _containers(path: str, parsed: Parsed, doc: Collection, image: str) -> list[Site]:
    kind = _at(doc, ["kind"])
    keys = _TEMPLATE_PATHS.get(kind.value) if isinstance(kind, Scalar) else None
    if keys is None:
        return []
    pod: Node | None = doc
    for key in keys:
        pod = _unaliased(path, parsed, _at(pod, [key]), image)
    sites = []
    for list_key in _CONTAINER_LISTS:
        containers = _unaliased(path, parsed, _at(pod, [list_key]), image)
        for item in containers.children if isinstance(containers, Collection) else []:
            value = _scalar(path, _at(_unaliased(path, parsed, item, image), ["image"]), "image")
            if value is not None and Reference.parse(value.value).name == image:
                _one_line(path, value, "the image")
                ref = Reference.parse(value.value)
                sites.append(Site(path, value.line, "container", ref, value.value, value))
    return sites


def _unaliased(path: str, parsed: Parsed, node: Node | None, image: str) -> Node | None:
    """`node`, unless it is an alias: one that names the image is refused (editing the
    anchor would change its other uses too), any other holds nothing to pin."""
    if not isinstance(node, Alias):
        return node
    if _names(parsed, node, image):
        raise ManifestRefused(
            path,
            node.line,
            f"names the image through the alias *{node.name} (or aliases more than "
            f"{MAX_ALIAS_NODES} nodes): cannot pin it",
        )
    return None


def _kustomize(path: str, doc: Collection, image: str) -> list[Site]:
    entries = _at(doc, ["images"])
    sites = []
    for entry in entries.children if isinstance(entries, Collection) else []:
        name = _at(entry, ["newName"]) or _at(entry, ["name"])
        if not isinstance(name, Scalar) or name.value != image:
            continue
        tag = _scalar(path, _at(entry, ["newTag"]), "newTag")
        digest = _scalar(path, _at(entry, ["digest"]), "digest")
        if tag is None and digest is None:
            continue  # renames only: the resources' own tags and digests stay
        ref = Reference(image, tag.value if tag else None, digest.value if digest else None)
        assert isinstance(entry, Collection)  # `name` was found in it
        sites.append(Site(path, name.line, "kustomize", ref, str(ref), entry))
    return sites


def _helm(path: str, doc: Collection, query: Query) -> list[Site]:
    fields = [_scalar(path, _at(doc, key.split(".")), key) for key in query.helm_keys]
    if len(fields) == 1:
        whole = fields[0]
        if whole is None or Reference.parse(whole.value).name != query.image:
            return []
        ref = Reference.parse(whole.value)
        return [Site(path, whole.line, "helm", ref, whole.value, whole)]
    repository, tag, digest = fields
    if repository is None or repository.value != query.image:
        return []
    ref = Reference(
        query.image,
        tag.value if tag and tag.value else None,
        digest.value if digest and digest.value else None,
    )
    return [Site(path, repository.line, "helm", ref, str(ref), doc)]


def pinned(site: Site, digest: str) -> bool:
    return site.ref.digest == digest


def pin_edits(parsed: Parsed, site: Site, query: Query, digest: str) -> list[Splice]:
    """The splices that pin `site` to `query.image@digest`, quoting kept."""
    if not is_digest(digest):
        raise ValueError("a sha256 digest")  # the verb passes registry-checked digests only
    if isinstance(site.node, Scalar):  # a container's image, or Helm's one key
        return [_replace(site.path, site.node, f"{query.image}@{digest}")]
    if site.kind == "kustomize":
        return _kustomize_edit(site, site.node, digest)
    return _helm_edit(parsed, site, site.node, query, digest)


def _quoted(node: Scalar, value: str) -> str:
    """`value` written as `node` is: plain, 'single' or "double" quoted."""
    return f"{node.style}{value}{node.style}" if node.style in ("'", '"') else value


def _one_line(path: str, node: Scalar, what: str) -> None:
    if node.style not in (None, "'", '"'):
        raise ManifestRefused(
            path, node.line, f"{what} is a block scalar ({node.style}): write it on one line"
        )


def _replace(path: str, node: Scalar, value: str) -> Splice:
    _one_line(path, node, "the image")
    return Splice(node.start, node.end, _quoted(node, value), {node.ordinal: value})


def _kustomize_edit(site: Site, entry: Collection, digest: str) -> list[Splice]:
    found = entry.get("digest")
    if found is not None and isinstance(found[1], Scalar):
        return [_replace(site.path, found[1], digest)]
    key, value = entry.get("newTag") or (None, None)
    assert isinstance(key, Scalar) and isinstance(value, Scalar)  # a site has one of the two
    _one_line(site.path, value, "newTag")
    # `newTag: X` becomes `digest: D` (with both, kustomize renders `name:X@D`)
    return [
        Splice(
            key.start,
            value.end,
            f"digest: {_quoted(value, digest)}",
            {key.ordinal: "digest", value.ordinal: digest},
        )
    ]


def _helm_edit(
    parsed: Parsed, site: Site, doc: Collection, query: Query, digest: str
) -> list[Splice]:
    repository, tag, digest_key = (key.split(".") for key in query.helm_keys)
    node = _at(doc, digest_key)
    if isinstance(node, Scalar):
        return [_replace(site.path, node, digest)]
    # No digest key yet: add it under its parent, on a line after the tag's (else the
    # repository's), indented as that key is.
    after_path = tag if isinstance(_at(doc, tag), Scalar) else repository
    parent = _at(doc, digest_key[:-1])
    if (
        node is not None
        or digest_key[:-1] != after_path[:-1]
        or not isinstance(parent, Collection)
        or parent.flow
    ):
        raise ManifestRefused(
            site.path,
            site.line,
            f"has no {query.helm_keys[2]} value to set, and it cannot be added next to "
            f"{'.'.join(after_path)}: add it (empty) by hand",
        )
    key, after = parent.get(after_path[-1]) or (None, None)
    assert isinstance(key, Scalar) and isinstance(after, Scalar)  # found above
    _one_line(site.path, after, ".".join(after_path))
    text = parsed.text
    end = text.find("\n", after.end)
    end = len(text) if end < 0 else end - (text[end - 1] == "\r")
    line = f"{parsed.line_ending}{' ' * key.column}{digest_key[-1]}: {digest}"
    return [Splice(end, end, line, after=after.event, inserted=(digest_key[-1], digest))]
