"""The names a benchmark release uses: flavor, platform sets, tag tokens, commit SHAs.

Shared by the seeding, the peers' commands and the workloads, so that all of them name the
same tags.
"""

from __future__ import annotations

import hashlib

FLAVOR = "workers"
TWO = ("linux/amd64", "linux/arm64")
FOUR = ("linux/amd64", "linux/arm64", "linux/arm/v7", "linux/ppc64le")


def token(platform: str) -> str:
    """The tag token of os/arch[/variant], as the project and the CI name it (`armv7`)."""
    return "".join(platform.split("/")[1:])


def sha_for(label: str) -> str:
    return hashlib.sha1(label.encode()).hexdigest()
