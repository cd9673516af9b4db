"""What of a repository reaches the engine as the build context (`--source`).

The Dagger CLI syncs a Directory argument with `host.directory(path, exclude=<the argument's
Ignore patterns>)` before the function runs (cmd/dagger/flags.go); the engine applies the
same patterns again to a Directory passed by another module (core/modfunc.go,
`applyIgnoreOnDir`). `.dockerignore` is read only later, inside `dockerBuild`
(core/schema/directory.go), so without an Ignore everything under `--source` is walked,
hashed and stored in the engine's cache. Both filters are moby/patternmatcher's, which
`rules.dockerignore` mirrors: these patterns are read with it.

Each default is something a Dockerfile never builds from: the build installs its packages,
builds its outputs and is told its commit itself. tests/test_source_ignore.py holds the list
to TestPlanIt's shape: whatever it leaves out of that tree, the repository's `.dockerignore`
leaves out of the build too, so the build sees the very same context.
"""

from __future__ import annotations

from release_pipeline.errors import InvalidInput
from release_pipeline.rules.dockerignore import IgnoreRules, parse_ignore_file

# pattern -> why leaving it out of the upload cannot change the build
SOURCE_IGNORE: dict[str, str] = {
    ".git": "history: the commit reaches the build as GIT_COMMIT and the revision label",
    "**/.git": "nested repositories and submodule checkouts, for the same reason",
    "**/node_modules": "installed packages: the Dockerfile installs its own from the lockfile",
    "**/.next": "Next.js build output and cache: the build stage writes its own",
    "**/.env*": "local environment files, where developers keep secrets",
    "**/.DS_Store": "macOS folder metadata",
}
IGNORE_SOURCE = "the --source ignore list"
# An extra pattern is a path pattern, not a program: bounded like one line of an ignore file.
MAX_PATTERN = 256
MAX_PATTERNS = 64


def source_rules(
    patterns: list[str] | tuple[str, ...], field: str = "source_ignore"
) -> IgnoreRules:
    """The patterns as the engine's filter reads them; InvalidInput naming `field` for one it
    would refuse (patternmatcher's syntax) or one that is not a plain path pattern."""
    if len(patterns) > MAX_PATTERNS:
        raise InvalidInput(field, f"takes at most {MAX_PATTERNS} patterns")
    for pattern in patterns:
        if not pattern.strip() or len(pattern) > MAX_PATTERN or not pattern.isprintable():
            raise InvalidInput(
                field, f"each pattern must be 1-{MAX_PATTERN} printable characters, not blank"
            )
        if pattern.lstrip().startswith("#"):
            raise InvalidInput(field, "a pattern must not start with '#' (a comment line)")
    return parse_ignore_file("\n".join(patterns), field)


DEFAULT_RULES = source_rules(tuple(SOURCE_IGNORE), IGNORE_SOURCE)


def is_sent(rules: IgnoreRules, path: str) -> bool:
    """Whether the slash-separated `path` (relative to --source) reaches the engine."""
    return rules.excluded_by(path) is None


def descend(rules: IgnoreRules, directory: str) -> bool:
    """Whether the walk enters `directory`: fsutil skips an excluded directory whole unless an
    exception pattern could re-include something below it."""
    return is_sent(rules, directory) or rules.may_reinclude_below(directory)
