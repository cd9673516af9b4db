"""`pin`: point every reference to a flavor's image in deployment manifests at one release.

The digest comes from the registry, never from the user's word: `--version V` is the index
`N-F` holds, `--digest D` must be a live release of the flavor (the rule of `releases.py`,
which `status` and `promote` read), and `--force` pins a yanked or unreleased one, named in
the report. With neither (`--check` only), the release `latest-F` holds.

Order: every file is read, parsed and its references found before the first request, so a
broken manifest costs no request; then the registry (a tag list, one HEAD of the version
tag); then every edit is made and verified in memory, and only when all files edit cleanly
is any written (`pin_tree`). A second run finds every reference pinned and writes nothing.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from release_pipeline.errors import ManifestRefused, NotFound, ReleaseError, shown
from release_pipeline.registry.client import RegistryClient
from release_pipeline.rules import kustomize, pins
from release_pipeline.rules.pins import Query, Site
from release_pipeline.rules.releases import Releases
from release_pipeline.rules.specs import PinSpec, flavor_name
from release_pipeline.rules.versions import Version
from release_pipeline.rules.yaml_spans import splice
from release_pipeline.verbs.holdings import find_version, read_releases
from release_pipeline.verbs.pin_plan import ManifestFile, Plan
from release_pipeline.verbs.pin_plan import plan as make_plan
from release_pipeline.verbs.pin_tree import ManifestTree
from release_pipeline.verbs.report import PinReport, PinSite

DIFF_LINE_CHARS = 400
NO_ENTRY = "(no images: entry)"  # the `old` of an entry pin adds
TRIAL_DIGEST = "sha256:" + "0" * 64  # edits tried before promote writes: any digest does
_Edits = tuple[list[PinSite], list[PinSite], list[PinSite], dict[str, str]]


@dataclass(frozen=True)
class Release:
    """The release to pin, as the registry holds it."""

    digest: str
    version: Version | None
    forced: str | None  # why --force was needed, when it was
    releases: Releases


async def pin(
    spec: PinSpec,
    client: RegistryClient,
    tree: ManifestTree,
    *,
    dry_run: bool = False,
    check: bool = False,
    force: bool = False,
) -> PinReport:
    """Pin, or (check) report every reference of the flavor not pinned to the release."""
    plan = make_plan(await tree.files(), spec)
    release = await resolve(spec, client, force=force)
    known = frozenset({release.digest})
    ours = await _our_digests(client, spec, release.releases, plan.sites, known)
    _check_entries(plan, spec, ours)

    report = PinReport(
        image=str(spec.image),
        flavor=spec.flavor,
        version=None if release.version is None else str(release.version),
        digest=release.digest,
        pinned=f"{spec.image}@{release.digest}",
        forced=release.forced,
        dry_run=dry_run,
        check=check,
        unseen=[shown(u, 200) for u in plan.unseen],
    )
    changes, unchanged, skipped, edited = _edits(plan, spec, ours, release.digest)
    diff = _diff(plan.files, edited) if dry_run else ""
    if not (dry_run or check):
        await tree.write_all({p: t.encode() for p, t in edited.items()})
    written = [] if dry_run or check else sorted(edited)
    return report.model_copy(
        update={
            "changes": changes,
            "unchanged": unchanged,
            "skipped": skipped,
            "written": written,
            "diff": diff,
        }
    )


async def resolve(spec: PinSpec, client: RegistryClient, *, force: bool) -> Release:
    """The digest to pin and the version it is, checked against the rule."""
    repo, scheme = spec.image.repository, spec.scheme
    listed = await client.list_tags(repo)
    releases = await read_releases(client, repo, scheme, listed, about=_about(spec))
    if spec.version is not None:
        tag = scheme.version_tags(spec.version)[0]
        if spec.version not in releases.ledger.versions:
            raise NotFound(f"{spec.image} has no release {spec.version} of {_flavor(spec)}")
        digest = releases.digests.get(spec.version) or await client.head_manifest(repo, tag)
        if digest is None:
            raise NotFound(f"{spec.image}:{tag} is listed but gone")
        releases = releases.with_digests({spec.version: digest})
        version: Version | None = spec.version
    else:
        digest = spec.digest or await client.head_manifest(repo, scheme.latest)
        if digest is None:
            raise NotFound(f"{spec.image} has no {scheme.latest} tag: name --version")
        releases, version = await find_version(client, repo, releases, digest)
    forced = _why_forced(spec, releases, version, digest)
    if forced is not None and not force:
        raise ReleaseError(f"refusing to pin: {forced} (--force pins it anyway)")
    return Release(digest, version, forced, releases)


def _about(spec: PinSpec) -> list[Version]:
    return [] if spec.version is None else [spec.version]


def _why_forced(
    spec: PinSpec, releases: Releases, version: Version | None, digest: str
) -> str | None:
    if version is None:
        return f"{digest} is no release of {_flavor(spec)} in {spec.image}"
    if releases.yanked(version):
        by = releases.yanked_by(version)
        how = "" if by == version else f" (as {by}, which holds the same index)"
        return f"{version} is yanked{how}"
    if not version.stable:
        return f"{version} is a prerelease"
    return None


async def check_first(spec: PinSpec, client: RegistryClient, plan: Plan) -> None:
    """What `pin` would refuse once the flavors are known, for `promote --pin` to check
    before its first write: the `images:` entries against what their kustomizations build,
    and every edit, tried with a stand-in digest. Reads the registry only when a reference
    is a digest alone (its flavor is a lookup)."""
    ours: frozenset[str] = frozenset()
    if _digests_alone(plan.sites):
        repo = spec.image.repository
        releases = await read_releases(client, repo, spec.scheme, await client.list_tags(repo))
        ours = await _our_digests(client, spec, releases, plan.sites, frozenset())
    _check_entries(plan, spec, ours)
    _edits(plan, spec, ours, TRIAL_DIGEST)  # every file edits cleanly, or refused now


async def _our_digests(
    client: RegistryClient,
    spec: PinSpec,
    releases: Releases,
    sites: list[Site],
    known: frozenset[str],
) -> frozenset[str]:
    """The pinned digests in the manifests that are this flavor's releases (a digest with
    no tag has no other mark of its flavor): one HEAD per version tried, newest first."""
    ours = set(known)
    for digest in sorted(_digests_alone(sites) - ours):
        releases, version = await find_version(client, spec.image.repository, releases, digest)
        if version is not None:
            ours.add(digest)
    return frozenset(ours)


def _digests_alone(sites: list[Site]) -> set[str]:
    return {s.ref.digest for s in sites if s.ref.digest and not s.ref.tag}


def _edits(plan: Plan, spec: PinSpec, ours: frozenset[str], digest: str) -> _Edits:
    """Each reference pin changes, leaves as pinned, or skips (another flavor), and each
    edited file's new text, verified (`splice`): written only once every file edits.
    Refused when no reference is the flavor's."""
    image = str(spec.image)
    query = Query(image, spec.helm_keys)
    pinned = f"{image}@{digest}"
    changes, unchanged, skipped, edited = [], [], [], {}
    for file in plan.files:
        splices = []
        for site in plan.editable(file):
            if not pins.owner(site.ref, spec.flavor, ours):
                skipped.append(_site(site, site.shown_as))
            elif pins.pinned(site, digest):
                unchanged.append(_site(site, site.shown_as))
            else:
                changes.append(_site(site, pinned))
                splices += pins.pin_edits(file.parsed, site, query, digest)
        if plan.add and file.path == plan.through:
            added, line = kustomize.add_entry(file.path, file.parsed, image, digest)
            splices.append(added)
            changes.append(
                PinSite(path=file.path, line=line, kind="kustomize", old=NO_ENTRY, new=pinned)
            )
        if splices:
            edited[file.path] = splice(file.path, file.text, splices)
    if not (changes or unchanged):
        raise ManifestRefused(
            ".",
            0,
            f"names {spec.image} as {_flavor(spec)} nowhere (left alone: "
            f"{len(skipped)} reference(s) of other flavors; --flavor chooses)",
        )
    return changes, unchanged, skipped, edited


def _check_entries(plan: Plan, spec: PinSpec, ours: frozenset[str] = frozenset()) -> None:
    """Every `images:` entry pin edits, or adds, against the containers its kustomization
    builds: one of another flavor would be rewritten with it (`kustomize.clash`)."""
    entries = [
        (s.ref, (s.path, s.line))
        for f in plan.files
        for s in plan.editable(f)
        if s.kind == "kustomize"
    ]
    remedy = kustomize.REMOVE_ENTRY
    if plan.add and plan.through is not None:
        # the entry pin adds names a release of the flavor: its floating tag says which
        added = pins.Reference(str(spec.image), spec.scheme.latest, None)
        entries.append((added, (plan.through, 0)))
        remedy = "pin without --kustomization rewrites the resources instead"
    for ref, at in entries:
        built = plan.builds.get(at[0], kustomize.Build(frozenset(), ()))
        kustomize.clash(ref, at, plan.sites, built.files, spec.flavor, ours, remedy)


def _flavor(spec: PinSpec) -> str:
    return flavor_name(spec.flavor)


def _site(site: Site, new: str) -> PinSite:
    return PinSite(path=site.path, line=site.line, kind=site.kind, old=site.shown_as, new=new)


def _diff(files: list[ManifestFile], edited: dict[str, str]) -> str:
    """The unified diff of the edits, each line as `shown` lets outside text be printed."""
    out: list[str] = []
    for file in files:
        if file.path not in edited:
            continue
        lines = difflib.unified_diff(
            file.text.splitlines(),
            edited[file.path].splitlines(),
            f"a/{file.path}",
            f"b/{file.path}",
            lineterm="",
        )
        out += [shown(line, DIFF_LINE_CHARS) for line in lines]
    return "\n".join(out)
