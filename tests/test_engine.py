"""engine.py's decisions on the engine's answers, offline.

No engine runs here. `StandInContainer` answers the few Container calls `smoke_test` makes the
way the engine does (an exit code for codes `ReturnType.ANY` accepts, the SDK's own
`ExecError` for the others), and `StandInService` refuses an endpoint until started, as the
engine does for a tunnel to the host. The exceptions are the SDK's real types. The query test
runs the SDK's real lazy Container and stubs only the engine's answer to each query.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dagger
import pytest
from dagger import dag
from dagger.client._core import Context
from support.dagger_errors import exec_error, query_error

from release_pipeline.dagger.engine import ERROR_TAIL, SMOKE_RUN_ENV, destination, smoke_test
from release_pipeline.rules.inputs import parse_platform
from release_pipeline.verbs.flow import PlatformFailed

ARM = parse_platform("linux/arm64")
SMOKE = ["node", "./scripts/smoke-test-workers.js"]


@dataclass
class StandInContainer:
    code: int = 0
    stderr_text: str = ""
    build_error: dagger.QueryError | None = None  # what forcing the build raises
    exec_raises: dagger.QueryError | None = None  # what running the smoke command raises
    ran: list[list[str]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    async def sync(self) -> StandInContainer:
        if self.build_error:
            raise self.build_error
        return self

    def with_env_variable(self, name: str, value: str) -> StandInContainer:
        self.env[name] = value
        return self

    def with_exec(self, args: list[str], *, expect: dagger.ReturnType) -> StandInContainer:
        assert expect is dagger.ReturnType.ANY
        self.ran.append(args)
        return self

    async def exit_code(self) -> int:
        if self.exec_raises:
            raise self.exec_raises
        return self.code

    async def stderr(self) -> str:
        return self.stderr_text

    async def stdout(self) -> str:
        return "smoke ok\n"


async def failure(container: StandInContainer) -> PlatformFailed:
    with pytest.raises(PlatformFailed) as err:
        await smoke_test(container, SMOKE, ARM)  # type: ignore[arg-type]
    return err.value


async def test_a_passing_smoke_test_returns_its_stdout():
    container = StandInContainer()
    assert await smoke_test(container, SMOKE, ARM) == "smoke ok\n"  # type: ignore[arg-type]
    assert container.ran == [SMOKE]


async def test_a_smoke_command_killed_by_a_signal_is_a_smoke_failure_with_its_stderr():
    stderr = "x" * ERROR_TAIL + "FATAL ERROR: JavaScript heap out of memory"
    err = await failure(StandInContainer(exec_raises=exec_error(SMOKE, 137, stderr)))
    assert err.stage == "smoke test" and err.platform == ARM
    assert "exited 137 (killed by signal 9)" in str(err)
    assert str(err).endswith("heap out of memory") and stderr not in str(err)


async def test_a_non_zero_exit_is_a_smoke_failure_with_its_stderr():
    err = await failure(StandInContainer(code=1, stderr_text="Cannot find module 'next/headers'"))
    assert err.stage == "smoke test"
    assert "`node ./scripts/smoke-test-workers.js` exited 1:\nCannot find module" in str(err)


async def test_a_failing_dockerfile_step_is_a_build_failure_with_its_stderr():
    step = ["/bin/sh", "-c", "npm ci"]
    err = await failure(StandInContainer(build_error=exec_error(step, 1, "npm ERR! code E404")))
    assert err.stage == "build"
    assert "`/bin/sh -c npm ci` exited 1:\nnpm ERR! code E404" in str(err)


async def test_other_engine_errors_keep_their_message_and_stage():
    err = await failure(StandInContainer(build_error=query_error("failed to resolve source")))
    assert err.stage == "build" and "failed to resolve source" in str(err)
    err = await failure(StandInContainer(exec_raises=query_error("exec format error")))
    assert err.stage == "smoke test" and "exec format error" in str(err)


@dataclass
class StandInService:
    started: bool = False

    async def start(self) -> StandInService:
        self.started = True
        return self

    async def endpoint(self, *, port: int) -> str:
        if not self.started:
            raise query_error("service not running")
        return f"svc-0a1b2c.dagger.local:{port}"


async def test_a_service_from_a_caller_is_started_before_its_endpoint_is_read():
    service = StandInService()
    dest = await destination("localhost:5000/app", "", None, service)  # type: ignore[arg-type]
    assert service.started and dest.dial == "svc-0a1b2c.dagger.local:5000"
    # The engine keeps the image's name (and plain HTTP, for localhost) and redirects the dial.
    assert dest.route.host == "localhost:5000" and not dest.route.secure


async def test_a_service_for_an_https_registry_is_dialled_on_the_port_the_engine_uses():
    service = StandInService()
    dest = await destination("registry.internal/app", "", None, service)  # type: ignore[arg-type]
    assert dest.route.origin == "https://registry.internal"
    assert dest.dial == "svc-0a1b2c.dagger.local:443"


def sent_chain(ctx: Context) -> list[tuple[str, dict[str, object]]]:
    """The fields, with their arguments, of the query the SDK builds from a lazy object."""
    return [(f.name, dict(f.args)) for f in ctx.selections]


async def test_two_smoke_tests_of_one_image_and_command_send_different_queries(monkeypatch):
    """The engine caches `withExec` by its definition; a query identical to last run's would
    be answered from the cache. Each run's query carries its own nonce, so it runs again."""
    sent: list[list[tuple[str, dict[str, object]]]] = []

    async def engine_answer(self: Context, return_type: object = None) -> object:
        chain = sent_chain(self)
        sent.append(chain)
        return {"sync": "ContainerID:built", "exitCode": 0, "stdout": "ok\n"}[chain[-1][0]]

    monkeypatch.setattr(Context, "execute", engine_answer)
    image = dag.container(platform=dagger.Platform("linux/arm64")).from_("node:22-slim")
    for _ in range(2):
        assert await smoke_test(image, SMOKE, ARM) == "ok\n"
    runs = [chain for chain in sent if chain[-1][0] == "exitCode"]
    assert len(runs) == 2 and runs[0] != runs[1]
    nonces = []
    for chain in runs:
        *_, (env, env_args), (exec_, exec_args), _ = chain
        assert (env, env_args["name"]) == ("withEnvVariable", SMOKE_RUN_ENV)
        assert (exec_, exec_args["args"]) == ("withExec", SMOKE)
        nonces.append(env_args["value"])
    assert nonces[0] != nonces[1] and all(len(str(n)) == 32 for n in nonces)
    # Everything else the two queries ask for is the same: same image, same command.
    assert runs[0][:-3] == runs[1][:-3]
