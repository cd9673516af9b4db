"""dagger's decorators, typed for `mypy --strict`.

mypy ignores `dataclass_transform` on dagger's bound-method decorators, so object types
built in our own code would have no typed `__init__`, and `function(cache=...)` matches no
overload. These thin wrappers change nothing at run time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, dataclass_transform

import dagger

_T = TypeVar("_T", bound=type)
_P = ParamSpec("_P")
_R = TypeVar("_R")
_function: Any = dagger.function


@dataclass_transform(kw_only_default=True, field_specifiers=(dagger.field, dataclasses.field))
def object_type(cls: _T) -> _T:
    return dagger.object_type(cls)


def function(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """A Dagger function whose results the engine may cache (pure builds, no side effects)."""
    wrapped: Callable[_P, _R] = _function(fn)
    return wrapped


def uncached_function(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """A Dagger function that reads or writes a registry: never served from the cache,
    which would otherwise skip a publish for 7 days."""
    wrapped: Callable[_P, _R] = _function(cache="never")(fn)
    return wrapped
