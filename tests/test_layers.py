"""The package's layers import only downward (docs/README.md#where-the-code-is).

A pure rule that reached for the registry client, a verb that imported a face, or a face that
imported the other face would let two places decide one thing; this reads every module's
imports with `ast` (what Python would import, not what a grep finds in a docstring).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "release_pipeline"

# layer -> the layers of ours it may import
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "rules": {"errors", "rules"},
    "registry": {"errors", "rules", "registry"},
    "verbs": {"errors", "rules", "registry", "verbs"},
    "cli": {"errors", "rules", "registry", "verbs", "cli"},
    "dagger": {"errors", "rules", "registry", "verbs", "dagger"},
}
# what the pure layer must never touch: I/O, clocks that sleep, the engine
IMPURE = {"anyio", "httpx", "dagger", "socket", "ssl", "subprocess", "truststore", "asyncio"}


def layer_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0].removesuffix(".py")


def imports_of(path: Path) -> list[str]:
    package = ".".join(("release_pipeline", *path.relative_to(PACKAGE).parts[:-1]))
    return imports_in(path.read_text(), package)


def imports_in(text: str, package: str) -> list[str]:
    """Absolute names of every module the text imports, relative imports resolved."""
    tree = ast.parse(text)
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.append(module)
            # `from release_pipeline.verbs import flow` imports release_pipeline.verbs.flow
            names += [f"{module}.{alias.name}" for alias in node.names]
    return names


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if layer_of(p) not in {"__init__", "__main__"})


def test_every_module_sits_in_a_layer() -> None:
    loose = [p.name for p in modules() if layer_of(p) not in ALLOWED]
    assert loose == [], f"modules outside the layers: {loose}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_go_downward(path: Path) -> None:
    layer = layer_of(path)
    ours = [n.split(".")[1] for n in imports_of(path) if n.startswith("release_pipeline.")]
    upward = sorted({n for n in ours if n.removesuffix(".py") not in ALLOWED[layer]})
    assert upward == [], f"{layer} imports {upward}"


@pytest.mark.parametrize(
    "path",
    [p for p in modules() if layer_of(p) in {"errors", "rules"}],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_pure_layer_does_no_io(path: Path) -> None:
    reached = sorted({n.split(".")[0] for n in imports_of(path)} & IMPURE)
    assert reached == [], f"{path.name} imports {reached}"


def test_the_check_sees_a_violation() -> None:
    """The reader resolves every import form, so a bad import cannot hide in one."""
    text = "from ..registry import client\nfrom release_pipeline.verbs import flow\nimport anyio\n"
    found = imports_in(text, "release_pipeline.rules")
    assert {"release_pipeline.registry.client", "release_pipeline.verbs.flow", "anyio"} <= set(
        found
    )


def test_the_code_map_names_every_module() -> None:
    """docs/README.md's map is how a newcomer finds a module: each is named in its layer's row."""
    text = (PACKAGE.parents[1] / "docs" / "README.md").read_text()
    rows = {
        layer: next(
            line for line in text.splitlines() if f"`src/release_pipeline/{layer}/`" in line
        )
        for layer in ALLOWED
        if layer != "errors"
    }
    missing = [
        f"{layer_of(p)}/{p.stem}"
        for p in modules()
        if layer_of(p) in rows and p.stem != "__init__" and f"`{p.stem}`" not in rows[layer_of(p)]
    ]
    assert missing == [], f"docs/README.md#where-the-code-is does not name {missing}"
