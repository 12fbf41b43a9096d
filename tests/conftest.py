"""Shared fixtures: databases (SQLite and PostgreSQL), the shared corpora, the fixture news site."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from storage.database import make_session_factory, open_database

REPO_ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ADMIN_URL = os.environ.get(
    "VEILLE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("VEILLE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

from tests.discovery_site import discovery_site  # noqa: E402,F401  (fixture)
from tests.fixture_site import news_site  # noqa: E402,F401  (fixture)


def run_python(script: str, timeout: float = 120) -> str:
    """What ``script`` prints, run by a fresh interpreter in the repository (a test that is
    about what a new process imports or leaves behind); fails the test if the script fails."""
    finished = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert finished.returncode == 0, finished.stderr
    return finished.stdout


def shared_dir() -> Path | None:
    """``../shared`` next to the repository (or $VEILLE_SHARED_DIR), if present."""
    candidate = Path(os.environ.get("VEILLE_SHARED_DIR") or REPO_ROOT.parent / "shared")
    return candidate if (candidate / "corpora").is_dir() else None


@pytest.fixture(scope="session")
def corpora() -> Path:
    found = shared_dir()
    if found is None:
        pytest.skip("../shared/corpora is not present")
    return found / "corpora"


def _postgres_available() -> str | None:
    """None if the server answers, else why not."""
    try:
        engine = create_engine(POSTGRES_ADMIN_URL)
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
    except Exception as error:  # any failure to connect means: no server here
        return f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {error}"
    return None


@pytest.fixture(scope="session")
def postgres_server() -> str:
    problem = _postgres_available()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"{problem} (CI must test PostgreSQL)")
        pytest.skip(problem)
    return POSTGRES_ADMIN_URL


def _create_postgres_database(admin_url: str) -> tuple[str, str]:
    name = f"veille_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    return name, url


def _drop_postgres_database(admin_url: str, name: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped after the test."""
    name, url = _create_postgres_database(postgres_server)
    yield url
    _drop_postgres_database(postgres_server, name)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis server; tests that need it are skipped where none answers, except under
    CI (``CI`` set), where they fail."""
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except RedisError as error:
        problem = f"Redis not reachable at {REDIS_URL}: {error}"
        if os.environ.get("CI"):
            pytest.fail(f"{problem} (CI must test Redis)")
        pytest.skip(problem)
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url, socket_connect_timeout=2)
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client: Redis) -> Iterator[str]:
    """A Redis key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"veille-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    keys = list(redis_client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections (through the kernel's backlog) and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'veille.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_database(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``live`` tests reach the real internet: they run only when asked, with ``-m live``."""
    if "live" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="needs the internet: run with -m live")
    for item in items:
        if "live" in item.keywords:
            item.add_marker(skip)
