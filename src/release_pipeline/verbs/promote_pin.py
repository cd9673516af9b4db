"""`promote --pin DIR`: a rollback that also moves the deployment manifests' pin.

Order, so a failure leaves nothing half done that a re-run cannot finish:
1. the manifests are read and parsed, and the image found there, before any registry
   write: a manifest `pin` would refuse stops the rollback with nothing written anywhere;
2. `promote` (the floating tag, yank and restore events), checked and converged as ever;
3. `pin` of the ref `promote` reports. If this step fails, the registry side is already
   complete and correct; `PinAfterPromote` says so and gives the `pin` command that
   finishes the job (docs/deploy.md). Nothing is undone: un-promoting would put the bad
   release back under the floating tag.
The digest is the one `promote` itself checked and moved to, so `pin` takes it with
`force`: in a dry run a yanked version is not restored yet, and the rule already said yes.
"""

from __future__ import annotations

from dataclasses import replace

from release_pipeline.errors import ReleaseError
from release_pipeline.registry.client import RegistryClient
from release_pipeline.rules.specs import PinSpec, PromoteSpec, flavor_hint
from release_pipeline.verbs.pin import check_first, pin
from release_pipeline.verbs.pin_plan import plan
from release_pipeline.verbs.pin_tree import ManifestTree
from release_pipeline.verbs.promote import promote
from release_pipeline.verbs.report import PromoteReport


class PinAfterPromote(ReleaseError):
    """The registry side of a rollback succeeded; pinning the manifests then failed."""

    def __init__(self, report: PromoteReport, cause: ReleaseError, hint: str) -> None:
        self.report = report
        super().__init__(
            f"the registry side is done ({report.tag} -> {report.pinned}), but the manifests "
            f"were not pinned: {cause}. Re-run to finish: {hint}"
        )


async def promote_and_pin(
    spec: PromoteSpec,
    pinning: PinSpec,
    client: RegistryClient,
    tree: ManifestTree,
    *,
    dry_run: bool = False,
    manifests_path: str = "DIR",
) -> PromoteReport:
    await check_first(pinning, client, plan(await tree.files(), pinning))
    report = await promote(spec, client, dry_run=dry_run)
    pinned = replace(pinning, digest=report.digest, version=None)
    try:
        done = await pin(pinned, client, tree, dry_run=dry_run, force=True)
    except ReleaseError as exc:
        keys = f" --helm-keys {','.join(pinning.helm_keys)}" if pinning.helm_keys else ""
        if pinning.kustomization:
            keys += f" --kustomization {pinning.kustomization}"
        if pinning.allow_unread_bases:
            keys += " --allow-unread-bases"
        hint = (
            f"release-pipeline pin --image {spec.image} {flavor_hint(spec.flavor)} "
            f"--digest {report.digest} --manifests {manifests_path}{keys}"
        )
        raise PinAfterPromote(report, exc, hint) from exc
    return report.model_copy(update={"pin": done})
