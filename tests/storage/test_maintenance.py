"""The maintenance job's VACUUM / ANALYZE next to writers."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from storage.database import open_database
from storage.service_repository import vacuum_database


def test_sqlite_statistics_wait_for_a_writer_rather_than_fail(tmp_path: Path) -> None:
    # PRAGMA optimize writes its statistics: begun as a read while a crawl wrote, it failed at
    # once with "database is locked". It takes the write lock first, waiting for the writer.
    url = f"sqlite:///{tmp_path / 'veille.db'}"
    maintenance, crawl = open_database(url), open_database(url)
    outcome: list[object] = []

    def maintain() -> None:
        started = time.monotonic()
        try:
            outcome.append(vacuum_database(maintenance, full=False))
        except Exception as error:  # the outcome is what the test checks
            outcome.append(error)
        outcome.append(time.monotonic() - started)

    with crawl.connect() as writer:
        writer.exec_driver_sql("BEGIN IMMEDIATE")
        writer.exec_driver_sql("DELETE FROM known_urls")
        thread = threading.Thread(target=maintain)
        thread.start()
        time.sleep(0.5)
        writer.exec_driver_sql("COMMIT")
    thread.join(timeout=30)
    maintenance.dispose()
    crawl.dispose()
    done, waited = outcome
    assert done == ["PRAGMA optimize"]
    assert isinstance(waited, float) and waited >= 0.4
