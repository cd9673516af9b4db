"""The Dagger face: the module's functions and object types, and the engine calls they make.

The engine loads `release_pipeline.dagger.main:ReleasePipeline` (the `dagger.mod` entry point).
"""
