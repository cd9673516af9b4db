"""The tag scheme: names, the collision rules, and reading a tag list back."""

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from release_pipeline.errors import InvalidInput
from release_pipeline.rules.inputs import parse_platform
from release_pipeline.rules.releases import Ledger, Releases
from release_pipeline.rules.specs import release_spec
from release_pipeline.rules.tags import TagScheme
from release_pipeline.rules.versions import Version

SHA = "C804CACE" + "0" * 32
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def test_workers_tags_match_the_workflow_they_replace():
    spec = release_spec("ghcr.io/testplanit/testplanit", "v0.22.8", SHA)
    tags = spec.tags
    assert sorted(tags.all()) == sorted(
        [
            "0.22.8-workers-amd64",
            "v0.22.8-workers-amd64",
            "workers-sha-c804cace-amd64",
            "0.22.8-workers-arm64",
            "v0.22.8-workers-arm64",
            "workers-sha-c804cace-arm64",
            "workers-sha-c804cace",
            "0.22.8-workers",
            "v0.22.8-workers",
            "latest-workers",
        ]
    )


def test_production_flavor_drops_the_flavor_parts():
    spec = release_spec("ghcr.io/t/t", "0.22.8", SHA, flavor="", platforms=["linux/arm/v7"])
    assert sorted(spec.tags.all()) == sorted(
        [
            "0.22.8-armv7",
            "v0.22.8-armv7",
            "sha-c804cace-armv7",
            "sha-c804cace",
            "0.22.8",
            "v0.22.8",
            "latest",
        ]
    )


@pytest.mark.parametrize(
    "version", ["1.0.0-amd64", "1.0.0-rc-arm64", "1.0.0-workers", "1.0.0-beta", "1.0.0-yanked"]
)
def test_a_production_prerelease_that_reads_as_another_tag_is_refused(version):
    with pytest.raises(InvalidInput) as err:
        release_spec("ghcr.io/t/t", version, SHA, flavor="")
    assert err.value.field == "version"


def test_the_same_prerelease_is_fine_for_a_flavored_image():
    assert release_spec("ghcr.io/t/t", "1.0.0-beta", SHA).tags.index[1] == "1.0.0-beta-workers"


def test_an_overlong_prerelease_that_would_overflow_a_tag_is_refused():
    with pytest.raises(InvalidInput, match="128"):
        release_spec("ghcr.io/t/t", "1.0.0-" + "a" * 130, SHA)


flavors = st.one_of(st.just(""), st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True))
pre = st.lists(
    st.one_of(
        st.from_regex(r"[a-z][a-z0-9-]{0,5}", fullmatch=True),
        st.sampled_from(["amd64", "arm64", "workers", "yanked", "rc"]),
    ),
    max_size=3,
).map(".".join)
versions = st.tuples(
    st.integers(0, 3), st.integers(0, 3), st.integers(0, 3), pre, st.sampled_from(["", "-"])
).map(
    lambda t: (
        f"{t[0]}.{t[1]}.{t[2]}"
        + (f"-{t[3]}" if t[3] else "")
        + (f"{t[4]}amd64" if t[4] and t[3] else "")
    )
)
platforms = st.lists(
    st.sampled_from(["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/s390x", "linux/ppc64le"]),
    min_size=1,
    max_size=3,
    unique=True,
)


def _release(flavor, version, sha, plats):
    try:
        return release_spec("ghcr.io/t/t", version, sha, flavor=flavor, platforms=plats)
    except InvalidInput:
        return None


@given(flavors, versions, platforms, flavors, versions, platforms)
def test_no_two_releases_write_the_same_immutable_tag(f1, v1, p1, f2, v2, p2):
    a, b = _release(f1, v1, "a" * 40, p1), _release(f2, v2, "b" * 40, p2)
    assume(a is not None and b is not None)
    assume((a.flavor, a.version) != (b.flavor, b.version))
    immutable_a = set(a.tags.all()) - {a.tags.latest}
    immutable_b = set(b.tags.all()) - {b.tags.latest}
    assert not immutable_a & immutable_b
    assert all(TAG.fullmatch(t) for t in a.tags.all())


@given(flavors, versions, platforms, flavors)
def test_a_tag_list_reads_back_exactly_the_versions_released(f1, v1, p1, f2):
    spec = _release(f1, v1, "a" * 40, p1)
    assume(spec is not None)
    scheme = spec.scheme
    marker = scheme.yank_marker(spec.version)
    ledger = Ledger.read(TagScheme(f2), [*spec.tags.all(), marker])
    if f2 == spec.flavor:
        assert ledger.versions == {spec.version}
        assert ledger.marked_versions() == [spec.version]
    else:  # another flavor never sees this release as one of its versions
        assert spec.version not in ledger.versions
        assert not ledger.yanks


def test_newest_live_skips_prereleases_yanked_versions_and_other_images():
    scheme = TagScheme("workers")
    ledger = Ledger.read(
        scheme,
        [
            "1.0.0-workers",
            "1.1.0-workers",
            "1.2.0-rc.1-workers",
            "1.1.0-workers-yanked",
            "2.0.0",
            "1.0.0-workers-amd64",
            "docs",
            "docs-arm64",
            "v0.12.1-docs",
        ],
    )
    assert Releases(ledger).newest_live() == Version.parse("1.0.0")


def test_platform_tokens_and_normalisation():
    assert parse_platform("linux/arm/v7").token == "armv7"
    assert parse_platform("linux/arm64/v8") == parse_platform("linux/arm64")


@pytest.mark.parametrize(
    "tag,immutable",
    [
        ("1.2.3-workers", True),
        ("v1.2.3-workers", True),
        ("workers-sha-0123abcd", True),
        ("workers-sha-0123abcd-amd64", True),
        ("1.2.3-workers-arm64", True),
        ("1.2.3-workers-yanked", True),
        ("latest-workers", False),
        ("stable-workers", False),
        ("canary", False),
    ],
)
def test_which_tags_promote_may_move(tag, immutable):
    assert TagScheme("workers").is_immutable(tag) is immutable
