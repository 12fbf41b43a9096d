"""One ``veille serve`` per database.

Two services on one database would run every crawl twice, at once. The service holds a
lock for its whole life, and the operating system or the database server lets it go when
the process ends, however it ends (no stale lock file to clean up after a crash):

- SQLite: an exclusive, non-blocking ``flock`` on ``<database file>.serve.lock``;
- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) held on a
  dedicated connection.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import socket
from contextlib import suppress
from pathlib import Path
from types import TracebackType

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from storage.database import create_database_engine

logger = logging.getLogger(__name__)

ADVISORY_LOCK_KEY = int.from_bytes(hashlib.sha256(b"veille serve").digest()[:8], signed=True)
"""The same 64-bit key for every Veille service; advisory locks are per database."""


class ServiceAlreadyRunning(Exception):
    """Another service holds the lock on this database."""


def lock_file_path(database_url: str) -> Path | None:
    """Where the SQLite lock file goes; None for PostgreSQL and in-memory databases."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    database = Path(url.database).expanduser().resolve()
    return database.with_name(database.name + ".serve.lock")


class ServiceLock:
    """Held from :meth:`acquire` to :meth:`release` (or the end of a ``with`` block)."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._is_postgresql = make_url(database_url).get_backend_name() == "postgresql"
        self._file: int | None = None
        self._engine: Engine | None = None
        self._connection: Connection | None = None

    @property
    def where(self) -> str:
        if self._is_postgresql:
            return f"PostgreSQL advisory lock {ADVISORY_LOCK_KEY}"
        return f"lock file {lock_file_path(self.database_url)}"

    def acquire(self) -> None:
        """Take the lock, or raise :class:`ServiceAlreadyRunning` at once (never waits)."""
        if self._is_postgresql:
            self._acquire_advisory_lock()
        else:
            self._acquire_file_lock()

    def _acquire_file_lock(self) -> None:
        path = lock_file_path(self.database_url)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise ServiceAlreadyRunning(f"{path} is locked by another process") from None
        # For people looking at the file; the lock itself is the flock, not the contents.
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{socket.gethostname()} {os.getpid()}\n".encode())
        self._file = descriptor

    def _acquire_advisory_lock(self) -> None:
        engine = create_database_engine(self.database_url)
        connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        taken = connection.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
        ).scalar_one()
        if not taken:
            connection.close()
            engine.dispose()
            raise ServiceAlreadyRunning(f"{self.where} is held by another session")
        self._engine, self._connection = engine, connection

    def verify(self) -> bool:
        """Whether the lock is still ours; a lost PostgreSQL connection is retried once."""
        if not self._is_postgresql or self._connection is None:
            return True
        try:
            self._connection.execute(text("SELECT 1"))
            return True
        except DBAPIError as error:
            logger.warning("Lost the service lock's database connection (%s): retaking it", error)
        self.release()
        try:
            self._acquire_advisory_lock()
        except ServiceAlreadyRunning:
            return False
        except DBAPIError as error:
            logger.error("Cannot retake the service lock: %s", error)
            return False
        return True

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            os.close(self._file)
            self._file = None
        if self._connection is not None:
            with suppress(DBAPIError):  # a lost connection has taken the lock with it
                self._connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
            self._connection.close()
            self._connection = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> ServiceLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
