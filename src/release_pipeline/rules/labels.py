"""The OCI labels a release puts on each image: a function of the release's inputs only.

The creation time comes from the commit (SOURCE_DATE_EPOCH, `git log -1 --format=%ct`), never
from the clock, so rebuilding the same commit labels the image identically and a cached
build cannot carry a stale wall-clock time. Without it the image gets no `created` label.
"""

from __future__ import annotations

from datetime import UTC, datetime

from release_pipeline.errors import InvalidInput
from release_pipeline.rules.inputs import parse_source_url
from release_pipeline.rules.manifests import CREATED, REVISION, SOURCE, VERSION
from release_pipeline.rules.versions import Version

# The last second of year 9999: what an RFC 3339 timestamp can hold.
MAX_EPOCH = 253402300799


def image_labels(
    version: Version, sha: str, source_url: str, source_date_epoch: int | None
) -> dict[str, str]:
    labels = {VERSION: str(version), REVISION: sha}
    if source_date_epoch is not None:
        labels[CREATED] = created(source_date_epoch)
    if source_url:
        labels[SOURCE] = parse_source_url(source_url)  # the index copies it: same rule
    return labels


def created(source_date_epoch: int) -> str:
    """RFC 3339 UTC time of the commit, as the OCI `created` annotation wants it."""
    if not 0 <= source_date_epoch <= MAX_EPOCH:
        raise InvalidInput(
            "source_date_epoch",
            f"must be the commit time in whole seconds since 1970-01-01 UTC, 0 to {MAX_EPOCH} "
            "(git log -1 --format=%ct)",
        )
    return datetime.fromtimestamp(source_date_epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
