"""Version parsing and ordering: what decides whether `latest` may move."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from release_pipeline.errors import InvalidInput
from release_pipeline.rules.versions import Version

numbers = st.integers(min_value=0, max_value=10**6)
identifiers = st.one_of(
    st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True),
    numbers.map(str),
)
prereleases = st.lists(identifiers, min_size=1, max_size=3).map(".".join)


@given(numbers, numbers, numbers, prereleases)
def test_a_prerelease_sorts_before_its_release(major, minor, patch, pre):
    release = Version.parse(f"{major}.{minor}.{patch}")
    candidate = Version.parse(f"{major}.{minor}.{patch}-{pre}")
    assert candidate < release
    assert not candidate.stable and release.stable


@given(numbers, numbers, numbers)
def test_the_v_prefix_names_the_same_version(major, minor, patch):
    plain = Version.parse(f"{major}.{minor}.{patch}")
    assert Version.parse(f"v{major}.{minor}.{patch}") == plain
    assert str(plain) == f"{major}.{minor}.{patch}"


@given(st.lists(st.tuples(numbers, numbers, numbers), min_size=2, max_size=8, unique=True))
def test_ordering_is_numeric_not_lexical(triples):
    versions = [Version.parse(".".join(map(str, t))) for t in triples]
    assert [v.parsed.to_tuple()[:3] for v in sorted(versions)] == sorted(triples)


def test_numeric_prerelease_identifiers_compare_as_numbers():
    # sort -V in the old workflow put 1.0.0-beta.1 after 1.0.0; precedence must not.
    assert Version.parse("1.0.0-beta.2") < Version.parse("1.0.0-beta.11") < Version.parse("1.0.0")


@given(st.lists(numbers, min_size=1, max_size=6).filter(lambda parts: len(parts) != 3))
def test_two_and_four_part_versions_are_refused(parts):
    with pytest.raises(InvalidInput) as err:
        Version.parse(".".join(map(str, parts)))
    assert err.value.field == "version"


@pytest.mark.parametrize("text", ["1.2.3+build.5", "v1.2.3+sha.abc", "1.2.3-rc.1+x"])
def test_build_metadata_is_refused_because_tags_cannot_hold_plus(text):
    with pytest.raises(InvalidInput, match=r"build metadata"):
        Version.parse(text)


@pytest.mark.parametrize(
    "text", ["01.2.3", "1.2.3-", "vv1.2.3", " 1.2.3", "1.2.3\n", "\uff11.2.3", ""]
)
def test_malformed_versions_are_refused(text):
    with pytest.raises(InvalidInput):
        Version.parse(text)
