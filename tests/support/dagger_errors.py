"""The SDK's own API errors, built the way the SDK builds them from an engine answer.

`dagger.QueryError(...)` picks its subclass from the answer's `_type` extension, exactly as
when the engine replies, so a test holds the same object a module function would catch.
"""

from __future__ import annotations

from typing import Any

import dagger
import gql
from dagger._exceptions import QueryErrorValue


def query_error(message: str, **extensions: Any) -> dagger.QueryError:
    return dagger.QueryError(
        [QueryErrorValue(message, extensions=extensions)], gql.GraphQLRequest("query { x }")
    )


def exec_error(cmd: list[str], exit_code: int, stderr: str, stdout: str = "") -> dagger.ExecError:
    """What the engine answers when an exec ends with a code its `expect` did not accept."""
    error = query_error(
        f"process {cmd!r} did not complete successfully: exit code: {exit_code}",
        _type="EXEC_ERROR",
        cmd=cmd,
        exitCode=exit_code,
        stdout=stdout,
        stderr=stderr,
    )
    assert isinstance(error, dagger.ExecError)
    return error
