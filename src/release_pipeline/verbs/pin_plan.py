"""What `pin` will edit, decided from the manifests alone, before any registry request.

Every file is decoded, parsed and searched for the image (`read_manifests`), and every
kustomization's build is followed (`rules.kustomize`). `plan` then refuses what cannot be
pinned (the image named nowhere, a `--kustomization` that builds none of it), so a broken
manifest costs no request and `promote --pin` stops before its first write. `pin`,
`promote --pin` and `status --manifests` all read the files through here.
"""

from __future__ import annotations

from dataclasses import dataclass

from release_pipeline.errors import ManifestRefused, shown
from release_pipeline.rules import kustomize, pins
from release_pipeline.rules.kustomize import Build
from release_pipeline.rules.pins import KUSTOMIZATIONS, Query, Site
from release_pipeline.rules.specs import PinSpec
from release_pipeline.rules.yaml_spans import Collection, Parsed, Scalar, parse


@dataclass(frozen=True)
class ManifestFile:
    path: str
    text: str
    parsed: Parsed
    sites: list[Site]


@dataclass(frozen=True)
class Plan:
    """The files, what each kustomization builds, and (`--kustomization`) the one whose
    `images:` entry is the only thing pin edits; `add` when that entry must be added."""

    files: list[ManifestFile]
    builds: dict[str, Build]
    through: str | None = None
    add: bool = False

    @property
    def unseen(self) -> tuple[str, ...]:
        """What the kustomization pinned through builds that pin could not read."""
        built = self.builds.get(self.through) if self.through is not None else None
        return built.unseen if built is not None else ()

    @property
    def sites(self) -> list[Site]:
        return [s for f in self.files for s in f.sites]

    def editable(self, file: ManifestFile) -> list[Site]:
        """The references of `file` pin may edit: all of them, or only the entries of the
        kustomization it pins through (the resources stay as they are)."""
        if self.through is None:
            return file.sites
        return [s for s in file.sites if file.path == self.through and s.kind == "kustomize"]


def read_manifests(raw: dict[str, bytes], query: Query) -> list[ManifestFile]:
    """Decode, parse and find the references of every file; a Helm template (`{{`) is
    never parsed, and refused when it names the image itself (pin its values file)."""
    files = []
    for path, data in sorted(raw.items()):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise ManifestRefused(path, line, "is not UTF-8 text") from None
        if pins.is_template(text):
            if query.image in text:
                line = text.count("\n", 0, text.index(query.image)) + 1
                raise ManifestRefused(
                    path,
                    line,
                    "is a Helm template ({{ }}) naming the image: templates are never "
                    "edited; name the values keys with --helm-keys",
                )
            continue
        parsed = parse(path, text)
        files.append(ManifestFile(path, text, parsed, pins.find_sites(path, parsed, query)))
    return files


def plan(raw: dict[str, bytes], spec: PinSpec) -> Plan:
    """The files and what pin may edit in them; refuses, naming the file, what it cannot.
    Through a kustomization that builds bases pin cannot read, only when allowed: the entry
    would set every flavor of the image there, and none of them can be checked."""
    query, through = Query(str(spec.image), spec.helm_keys), spec.kustomization
    files = read_manifests(raw, query)
    documents, builds = kustomizations(files)
    if through is None:
        if not any(f.sites for f in files):
            raise ManifestRefused(".", 0, f"names {query.image} nowhere{_hint(builds)}")
        return Plan(files, builds)
    target, built = locate(through, files, builds)
    entries, used = set_by(target, built, files)
    if not (entries or used or built.unseen):
        raise ManifestRefused(
            target, 0, f"builds nothing that names {query.image}, and reads no base pin cannot see"
        )
    if built.unseen and not spec.allow_unread_bases:
        raise ManifestRefused(
            target,
            0,
            f"builds {shown(built.unseen[0], 120)}, which pin cannot read (remote, or "
            f"outside the manifests directory): the images: entry would set every "
            f"container named {query.image} there, of any flavor, unchecked. Give "
            "--manifests a directory that holds it too, or --allow-unread-bases to pin anyway",
        )
    if not entries:
        _no_renaming_entry(target, documents.get(target), query.image)
    return Plan(files, builds, target, add=not entries)


def kustomizations(
    files: list[ManifestFile],
) -> tuple[dict[str, Collection], dict[str, Build]]:
    """Every kustomization of the tree (its document), and what each builds."""
    paths = [f.path for f in files]
    documents = {
        f.path: doc
        for f in files
        if f.path.rpartition("/")[2] in KUSTOMIZATIONS
        for doc in f.parsed.documents[:1]
        if isinstance(doc, Collection) and doc.mapping
    }
    return documents, {path: kustomize.build(path, documents, paths) for path in documents}


def locate(through: str, files: list[ManifestFile], builds: dict[str, Build]) -> tuple[str, Build]:
    """The kustomization `--kustomization` names, and what it builds."""
    target = kustomize.kustomization_at(through, [f.path for f in files])
    if target is None:
        raise ManifestRefused(shown(through, 200), 0, "holds no kustomization (--kustomization)")
    return target, builds.get(target, Build(frozenset({target}), ()))


def set_by(target: str, built: Build, files: list[ManifestFile]) -> tuple[list[Site], list[Site]]:
    """The kustomization's `images:` entries for the image, and the containers naming it in
    what it builds: when it has entries, they set the image of every one of those."""
    entries = [s for f in files if f.path == target for s in f.sites if s.kind == "kustomize"]
    used = [s for f in files if f.path in built.files for s in f.sites if s.kind == "container"]
    return entries, used


def _hint(builds: dict[str, Build]) -> str:
    """Where the image may be: a base some kustomization builds that pin cannot read."""
    for path, built in sorted(builds.items()):
        if built.unseen:
            where = path.rpartition("/")[0] or "."
            return (
                f" (containers, kustomize images:, Helm keys); {path} builds "
                f"{shown(built.unseen[0], 120)}, which pin cannot read: "
                f"--kustomization {shown(where, 120)} pins through its images: entry "
                "(give --manifests the directory holding that base too, or add "
                "--allow-unread-bases)"
            )
    return " (containers, kustomize images:, Helm keys)"


def _no_renaming_entry(path: str, doc: Collection | None, image: str) -> None:
    """An entry for the image that only renames it would sit beside the one pin adds, and
    kustomize would apply one of the two: refused, to be completed by hand."""
    found = doc.get("images") if doc is not None else None
    items = found[1] if found else None
    for item in items.children if isinstance(items, Collection) else []:
        name = item.get("name") if isinstance(item, Collection) and item.mapping else None
        if name is not None and isinstance(name[1], Scalar) and name[1].value == image:
            raise ManifestRefused(
                path,
                name[1].line,
                f"has an images: entry for {image} that pin does not edit (a rename, or "
                "no newTag or digest): give it the digest by hand, or remove it",
            )
