"""Fixtures for the serving tests: engines, live servers on 127.0.0.1, an HTTP client."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from ponder.serve import Engine, create_app, serve_in_thread
from tests.serve.fakes import FakeReasoner


@pytest.fixture
def make_engine() -> Iterator:
    engines: list[Engine] = []

    def make(lm: FakeReasoner | None = None, **kw) -> Engine:
        engine = Engine(lm or FakeReasoner(), **kw)
        engines.append(engine)
        return engine

    yield make
    for e in engines:
        e.close()


@pytest.fixture
def live(make_engine) -> Iterator:
    """``live(engine=None, progress_s=0.05)`` -> base URL of a server on 127.0.0.1."""
    with ExitStack() as stack:

        def start(engine: Engine | None = None, progress_s: float = 0.05) -> str:
            app = create_app(engine or make_engine(), progress_s=progress_s)
            return stack.enter_context(serve_in_thread(app))

        yield start


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    """One client for all tests (creating one per request costs ~0.1 s of TLS setup)."""
    with httpx.Client(timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """A server with a default engine, shared by the tests of a module that leave no
    state behind (live() starts one of a test's own)."""
    engine = Engine(FakeReasoner())
    with serve_in_thread(create_app(engine, progress_s=0.05)) as url:
        yield url
    engine.close()
