"""Launch one crawl as a child process (``python -m crawler``) with a hard timeout.

The one-off ``veille crawl`` and, later, the scheduled job call the same
:func:`launch_crawl`. The crawl-run row is created here before the child starts, so
that a crawl that crashes or hangs is still recorded, with its exit status and the
tail of its log.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from crawler.config import Config
from storage.database import make_session_factory, open_database
from storage.models import CrawlRun, RunStatus
from storage.repository import (
    finish_crawl_run,
    get_crawl_run,
    record_crawl_counts,
    start_crawl_run,
)

logger = logging.getLogger(__name__)

LOG_TAIL_LINES = 40
KILL_GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class CrawlOutcome:
    run: CrawlRun
    exit_code: int
    log_tail: list[str]

    @property
    def succeeded(self) -> bool:
        return self.run.status == RunStatus.FINISHED.value and self.exit_code == 0


def launch_crawl(
    config: Config,
    source_ids: list[str] | None = None,
    *,
    trigger: str = "cli",
    timeout: timedelta | None = None,
    echo: Callable[[str], None] | None = None,
    kill_grace: float = KILL_GRACE_SECONDS,
    stop: threading.Event | None = None,
    due_only: bool = False,
    enqueue: bool = False,
) -> CrawlOutcome:
    """Run one crawl of ``source_ids`` (default: all enabled sources) and wait for it.

    ``config`` must have been loaded from a file (``config.path``): the child reads the
    same file. Each line the child logs is passed to ``echo``. Setting ``stop`` (the service is
    shutting down) stops the child: SIGTERM, then SIGKILL after ``kill_grace`` seconds.
    With ``due_only``, only the feeds, sitemaps and pages whose next poll is due are polled.
    With ``enqueue`` (distributed mode), the child pushes the polls to the shared Redis
    frontier for ``veille worker`` processes, and fetches nothing itself.
    """
    if config.path is None:
        raise ValueError("launch_crawl needs a configuration loaded from a file")
    sources = config.select_sources(source_ids)
    engine = open_database(config.database.url)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        run_id = start_crawl_run(
            session, trigger=trigger, source_ids=[source.id for source in sources]
        ).id

    command = [
        sys.executable, "-m", "crawler",
        "--config", str(Path(config.path).resolve()),
        "--run-id", str(run_id),
        "--trigger", trigger,
    ]  # fmt: skip
    for source in sources:
        command += ["--source", source.id]
    if due_only:
        command.append("--due-only")
    if enqueue:
        command.append("--enqueue")
    environment = {**os.environ, "VEILLE_DATABASE_URL": config.database.url}
    limit = (timeout or config.crawl.timeout).total_seconds()

    logger.info("Starting crawl run %d of %d source(s)", run_id, len(sources))
    child = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=environment,
        start_new_session=True,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    with sessions.begin() as session:
        record_crawl_counts(session, run_id, pid=child.pid)
    tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
    reader = threading.Thread(target=_pump, args=(child, tail, echo), daemon=True)
    reader.start()
    ending = _wait(child, limit, stop)
    if ending is RunStatus.TIMED_OUT:
        logger.warning("Crawl run %d exceeded %.0fs: stopping it", run_id, limit)
    elif ending is RunStatus.CANCELLED:
        logger.warning("Crawl run %d: stopping it, as asked", run_id)
    exit_code = child.returncode if ending is None else _stop(child, kill_grace)
    reader.join(timeout=5)

    with sessions.begin() as session:
        run = get_crawl_run(session, run_id)
        assert run is not None
        if ending is not None:
            finish_crawl_run(
                session, run_id, status=ending, exit_code=exit_code, error="\n".join(tail)
            )
        elif run.status == RunStatus.RUNNING.value:
            finish_crawl_run(
                session, run_id, status=RunStatus.FAILED, exit_code=exit_code,
                error="\n".join(tail),
            )  # fmt: skip
        session.flush()
        session.refresh(run)
    engine.dispose()
    return CrawlOutcome(run=run, exit_code=exit_code, log_tail=list(tail))


def _wait(
    child: subprocess.Popen[str], limit: float, stop: threading.Event | None
) -> RunStatus | None:
    """Wait for the child; None when it exited by itself, else why it must be stopped."""
    deadline = time.monotonic() + limit
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return RunStatus.TIMED_OUT
            try:
                child.wait(timeout=min(remaining, 0.5 if stop is not None else remaining))
                return None
            except subprocess.TimeoutExpired:
                if stop is not None and stop.is_set():
                    return RunStatus.CANCELLED
    except KeyboardInterrupt:
        return RunStatus.CANCELLED


def _pump(
    child: subprocess.Popen[str], tail: deque[str], echo: Callable[[str], None] | None
) -> None:
    assert child.stdout is not None
    for line in child.stdout:
        line = line.rstrip("\n")
        tail.append(line)
        if echo is not None:
            echo(line)


def _stop(child: subprocess.Popen[str], grace: float) -> int:
    """SIGTERM the child's process group, then SIGKILL after a grace period."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            break
        try:
            return child.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    return child.wait()
