"""Which platforms an engine builds natively, and which it would emulate.

The engine prefixes every exec for a platform its kernel cannot run with its bundled QEMU
(core/container_emulator.go) and only logs a warning when none is found: a Node build under
emulation is many times slower, and a smoke test passing under QEMU says less about the
real machine. The engine's own platform (`defaultPlatform`, the machine it runs on: a CI
runner's arch) is the one it runs natively; anything of another OS or architecture is
emulated. A variant of the same architecture (arm/v6 on arm/v7) counts as emulated too: the
engine cannot say whether the CPU runs it, so the decision errs towards saying so aloud.
"""

from __future__ import annotations

from collections.abc import Iterable

from release_pipeline.errors import InvalidInput
from release_pipeline.rules.inputs import Platform


def _normal(platform: Platform) -> Platform:
    # arm64 has one variant in practice: linux/arm64 and linux/arm64/v8 are the same machine.
    if platform.architecture == "arm64" and platform.variant == "v8":
        return Platform(platform.os, "arm64")
    return platform


def emulated(platforms: Iterable[Platform], engine: Platform) -> list[Platform]:
    """The platforms, in order, that the engine on `engine` would run under QEMU."""
    return [p for p in platforms if _normal(p) != _normal(engine)]


def refuse_emulated(platforms: Iterable[Platform], engine: Platform) -> None:
    """`--require-native`: InvalidInput naming the first emulated platform and the engine's
    (the runner's) arch, before anything is built."""
    for platform in emulated(platforms, engine):
        raise InvalidInput(
            "require_native",
            f"{platform} would be emulated: this engine runs on {engine} (the runner's arch "
            f"is {engine.token}); run {platform} on a {platform.token} runner, or drop "
            "--require-native to build it under QEMU",
        )


def emulation_note(platforms: list[Platform], engine: Platform) -> str:
    """The log line saying which platforms are emulated, or '' when all are native."""
    if not platforms:
        return ""
    names = ", ".join(str(p) for p in platforms)
    return f"emulated under QEMU on this {engine} engine (slow; not the real CPU): {names}"
