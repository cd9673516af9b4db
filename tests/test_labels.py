"""The image labels: a function of the release's inputs, never of the clock."""

from __future__ import annotations

import pytest

from release_pipeline.errors import InvalidInput
from release_pipeline.rules.labels import MAX_EPOCH, created, image_labels
from release_pipeline.rules.versions import Version

SHA = "c804cace" + "5" * 32


@pytest.mark.parametrize(
    "epoch,text",
    [
        (0, "1970-01-01T00:00:00Z"),
        (1700000000, "2023-11-14T22:13:20Z"),
        (MAX_EPOCH, "9999-12-31T23:59:59Z"),
    ],
)
def test_created_is_the_commit_time_in_utc(epoch, text):
    assert created(epoch) == text


@pytest.mark.parametrize("epoch", [-1, MAX_EPOCH + 1, 10**20])
def test_times_outside_rfc_3339_are_refused(epoch):
    with pytest.raises(InvalidInput) as err:
        created(epoch)
    assert err.value.field == "source_date_epoch"


def test_no_commit_time_means_no_created_label():
    assert "org.opencontainers.image.created" not in image_labels(
        Version.parse("1.0.0"), SHA, "", None
    )
