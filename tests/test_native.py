"""Native or emulated: which platforms an engine would run under QEMU, and --require-native's
refusal naming the platform and the runner's arch."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from release_pipeline.errors import InvalidInput
from release_pipeline.rules.inputs import parse_platform
from release_pipeline.rules.native import emulated, emulation_note, refuse_emulated

AMD, ARM = parse_platform("linux/amd64"), parse_platform("linux/arm64")
PLATFORMS = ["linux/amd64", "linux/arm64", "linux/arm64/v8", "linux/arm/v7", "linux/riscv64"]


def test_the_default_release_on_an_amd64_machine_emulates_arm64():
    assert emulated([AMD, ARM], AMD) == [ARM]
    assert emulation_note([ARM], AMD) == (
        "emulated under QEMU on this linux/amd64 engine (slow; not the real CPU): linux/arm64"
    )
    assert emulated([AMD, ARM], ARM) == [AMD]


def test_arm64_and_arm64_v8_are_one_machine():
    assert emulated([parse_platform("linux/arm64/v8")], ARM) == []


def test_require_native_on_a_wrong_runner_names_the_platform_and_the_runner_arch():
    with pytest.raises(InvalidInput) as err:
        refuse_emulated([ARM], AMD)
    assert err.value.field == "require_native"
    assert "linux/arm64 would be emulated" in str(err.value)
    assert "the runner's arch is amd64" in str(err.value)
    refuse_emulated([AMD], AMD)  # the right runner: no error


@given(st.lists(st.sampled_from(PLATFORMS), unique=True), st.sampled_from(PLATFORMS))
def test_a_platform_is_native_exactly_when_it_is_the_engine_s_own(names, engine_name):
    platforms, engine = [parse_platform(n) for n in names], parse_platform(engine_name)
    out = emulated(platforms, engine)
    assert out == [p for p in platforms if p in out]  # order kept, nothing added
    for p in platforms:
        same = {str(p), engine_name} <= {"linux/arm64", "linux/arm64/v8"} or p == engine
        assert (p in out) is not same
    if out:
        with pytest.raises(InvalidInput, match=str(out[0])):
            refuse_emulated(platforms, engine)
    else:
        refuse_emulated(platforms, engine)
