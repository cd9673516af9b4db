"""release-pipeline: release multi-arch container images safely.

The package is in layers (docs/README.md#where-the-code-is): `rules` (pure decisions),
`registry` (distribution-spec I/O), `verbs` (plan/merge, promote, status, preflight), and two
faces, `cli` and `dagger`. Nothing below the faces needs Dagger.
"""
