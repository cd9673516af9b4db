"""What the deployment manifests pin, for `status --manifests`: which release is deployed.

The references are found as `pin` finds them (`rules.pins`, the same flavor rule); each
pinned digest is looked up among the flavor's versions as `promote --from sha256:` does
(one HEAD per version not yet read, newest first), so "deployed" and "yanked" are the
rule's answers, not a second reading of the tags. A reference of the flavor that names a
tag and no digest is reported unpinned: it deploys whatever that tag holds at pull time.
"""

from __future__ import annotations

from release_pipeline.registry.client import RegistryClient
from release_pipeline.rules import pins
from release_pipeline.rules.pins import Query
from release_pipeline.rules.releases import Releases
from release_pipeline.rules.specs import StatusSpec
from release_pipeline.verbs.holdings import find_version
from release_pipeline.verbs.pin_plan import kustomizations, locate, read_manifests, set_by
from release_pipeline.verbs.pin_tree import ManifestTree
from release_pipeline.verbs.report import DeployedRef


async def deployed(
    client: RegistryClient,
    spec: StatusSpec,
    releases: Releases,
    tree: ManifestTree,
) -> tuple[list[DeployedRef], Releases]:
    """Every reference of the flavor in the manifests, with the version each pins; with a
    kustomization, those that decide what it deploys (its entries, else the containers)."""
    image, repo, flavor = str(spec.image), spec.image.repository, spec.flavor
    files = read_manifests(await tree.files(), Query(image, spec.helm_keys))
    sites = [s for f in files for s in f.sites]
    if spec.kustomization is not None:
        target, built = locate(spec.kustomization, files, kustomizations(files)[1])
        entries, used = set_by(target, built, files)
        sites = entries or used
    refs = []
    for site in sites:
        digest = site.ref.digest
        if pins.owner(site.ref, flavor, frozenset()) is False:
            continue  # another flavor's tag (or a bare name: production's latest)
        version = None
        if digest is not None:
            releases, version = await find_version(client, repo, releases, digest)
            if version is None and not site.ref.tag:
                continue  # a digest of no release of this flavor: another flavor's image
        refs.append(
            DeployedRef(
                path=site.path,
                line=site.line,
                reference=site.shown_as,
                digest=digest,
                version=None if version is None else str(version),
                yanked=version is not None and releases.yanked(version),
            )
        )
    return refs, releases
