"""The command-line face: flags to specs, reports to text and JSON.

`main` is the `release-pipeline` console script.
"""

from release_pipeline.cli.app import main

__all__ = ["main"]
