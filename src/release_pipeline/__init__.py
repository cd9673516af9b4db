"""release-pipeline: release multi-arch container images safely.

The registry phase (`release_pipeline.release`, `.promote`, `.status`) is plain async
Python with no Dagger dependency; the Dagger module lives in `release_pipeline.main`.
"""
