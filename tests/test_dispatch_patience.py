"""The dispatcher rides out a Prefect API that is briefly unavailable (flows/dispatch.py, `patiently`)."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from prefect.exceptions import PrefectHTTPStatusError

from flows.dispatch import patiently, transient_api_error

LOG = logging.getLogger("test")


def api_error(status: int) -> PrefectHTTPStatusError:
    request = httpx.Request("GET", "http://127.0.0.1:4200/api/flow_runs/x")
    return PrefectHTTPStatusError(f"{status}", request=request, response=httpx.Response(status, request=request))


def flaky(errors: list[BaseException], answer: str = "done"):  # type: ignore[no-untyped-def]
    asked = []

    async def call() -> str:
        asked.append(1)
        if errors:
            raise errors.pop(0)
        return answer
    return call, asked


def test_transient_errors_are_asked_again_until_the_answer_comes(caplog: pytest.LogCaptureFixture) -> None:
    call, asked = flaky([api_error(503), httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), api_error(502)])
    with caplog.at_level(logging.WARNING, logger="test"):
        assert asyncio.run(patiently(call, "waiting for shard 0/2", LOG, patience=5, every=0.01)) == "done"
    assert len(asked) == 5
    assert "waiting for shard 0/2: the Prefect API answered PrefectHTTPStatusError" in caplog.text


def test_a_client_error_or_a_bug_is_not_asked_again() -> None:
    for error in (api_error(404), api_error(422), ValueError("a bug")):
        call, asked = flaky([error])
        with pytest.raises(type(error)):
            asyncio.run(patiently(call, "starting", LOG, patience=5, every=0.01))
        assert len(asked) == 1 and not transient_api_error(error)


def test_patience_ends() -> None:
    call, asked = flaky([api_error(503)] * 1000)
    with pytest.raises(PrefectHTTPStatusError):
        asyncio.run(patiently(call, "settling", LOG, patience=0.2, every=0.05))
    assert 3 <= len(asked) <= 8
