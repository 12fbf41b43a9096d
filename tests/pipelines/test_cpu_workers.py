"""The CPU pool: worker processes, when it starts, back-pressure, crashes, orphans, logs."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pipelines.cpu_pool import CpuPool, WorkerCrashed, cpu_workers

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]


# Run in the workers: module-level, so that they pickle by name.


def pid_and_log(message: str) -> int:
    logger.warning("worker says %s", message)
    return os.getpid()


def slow_pid(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def burn_cpu(seconds: float) -> int:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass
    return os.getpid()


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def big_result(seconds: float) -> bytes:
    time.sleep(seconds)
    return os.urandom(4_000_000)  # larger than a pipe's buffer: the worker waits to send it


def is_running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not gone, not a zombie awaiting its parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pids: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    while (alive := {pid for pid in pids if is_running(pid)}) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def test_calls_run_in_workers_and_what_they_log_is_logged_here(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> set[int]:
        pool = CpuPool(2, start_after=0)
        try:
            await pool.wait_started()
            return set(await asyncio.gather(*(pool.run(pid_and_log, n) for n in "abcd")))
        finally:
            pool.shutdown()

    with caplog.at_level(logging.INFO):
        pids = asyncio.run(scenario())
    assert os.getpid() not in pids
    said = [r for r in caplog.records if r.getMessage().startswith("worker says")]
    assert sorted(r.getMessage() for r in said) == [f"worker says {n}" for n in "abcd"]
    assert {r.name for r in said} == {__name__}
    assert {r.process for r in said} == pids
    assert wait_gone(pids, 5) == set()


def test_without_workers_every_call_runs_in_process() -> None:
    async def scenario() -> tuple[int, bool]:
        pool = CpuPool(0, start_after=0)
        pid = await pool.run(burn_cpu, 0.05)
        await pool.wait_started()
        return pid, pool.started

    assert asyncio.run(scenario()) == (os.getpid(), False)


def test_a_pool_started_for_the_work_to_come_runs_even_the_first_call() -> None:
    # Started at once (many pages to come), the pool takes the first call too: preparing it
    # in-process would load in the crawl process what every worker loads.
    async def scenario() -> int:
        pool = CpuPool(1, start_after=60)
        try:
            pool.start("200 requests waiting")
            return await pool.run(os.getpid)
        finally:
            pool.shutdown()

    assert asyncio.run(scenario()) != os.getpid()


def test_the_pool_starts_once_in_process_work_calls_for_it() -> None:
    async def scenario() -> list[int]:
        pool = CpuPool(1, start_after=0.3)
        try:
            pids = [await pool.run(burn_cpu, 0.2)]
            assert not pool.started  # 0.2 s of work: not worth a worker yet
            pids.append(await pool.run(burn_cpu, 0.2))
            assert not pool.started
            pids.append(await pool.run(burn_cpu, 0.01))  # in-process while the pool starts
            assert pool.started
            await pool.wait_started()
            pids.append(await pool.run(burn_cpu, 0.01))
            return pids
        finally:
            pool.shutdown()

    here = os.getpid()
    first, second, meanwhile, after = asyncio.run(scenario())
    assert first == second == meanwhile == here
    assert after != here


def test_at_most_two_calls_per_worker_are_in_the_pool_the_rest_wait() -> None:
    async def scenario() -> tuple[list[int], int, int]:
        pool = CpuPool(1, start_after=0)
        try:
            await pool.wait_started()
            pids = await asyncio.gather(*(pool.run(slow_pid, 0.1) for _ in range(8)))
            return pids, pool.peak_in_flight, pool.peak_waiting
        finally:
            pool.shutdown()

    pids, peak_in_flight, peak_waiting = asyncio.run(scenario())
    assert len(set(pids)) == 1 and os.getpid() not in pids
    assert (peak_in_flight, peak_waiting) == (2, 6)


def test_a_dead_worker_costs_its_calls_then_a_new_pool_takes_over(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> tuple[set[int], set[int], list[object], CpuPool]:
        pool = CpuPool(2, start_after=0)
        try:
            await pool.wait_started()
            before = {await pool.run(slow_pid, 0.05) for _ in range(4)}
            outcomes = await asyncio.gather(
                pool.run(die), pool.run(slow_pid, 1.0), return_exceptions=True
            )
            await pool.wait_started()
            after = set(await asyncio.gather(*(pool.run(slow_pid, 0.05) for _ in range(4))))
            return before, after, outcomes, pool
        finally:
            pool.shutdown()

    with caplog.at_level(logging.ERROR):
        before, after, outcomes, pool = asyncio.run(scenario())
    # The page that killed its worker is lost, and so is the one the other worker had: a
    # broken pool fails every call it holds.
    assert all(isinstance(outcome, WorkerCrashed) for outcome in outcomes)
    assert pool.crashes == 1
    assert "A worker process of the CPU pool died" in caplog.text
    assert after and os.getpid() not in after and not after & before
    assert wait_gone(before | after, 5) == set()


def test_a_crash_while_the_other_worker_sends_a_large_result_does_not_hang(
    tmp_path: Path,
) -> None:
    # When a worker dies, the executor stops reading results and terminates the other workers;
    # one that could not be terminated would wait forever to send its result, and the crawl
    # with it. Run in a process of its own, so that a hang fails the test.
    script = tmp_path / "crash.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio
            from pipelines.cpu_pool import CpuPool
            from tests.pipelines.test_cpu_workers import big_result, die

            async def main():
                pool = CpuPool(2, start_after=0)
                await pool.wait_started()
                await asyncio.sleep(1)  # both workers up
                calls = [pool.run(big_result, 0.5) for _ in range(3)] + [pool.run(die)]
                outcomes = await asyncio.gather(*calls, return_exceptions=True)
                print(*(type(outcome).__name__ for outcome in outcomes), flush=True)
                print(len(await pool.run(big_result, 0)), flush=True)
                pool.shutdown()

            if __name__ == "__main__":
                asyncio.run(main())
            """
        )
    )
    finished = subprocess.run(
        [sys.executable, str(script)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    outcomes, after = finished.stdout.splitlines()
    assert "WorkerCrashed" in outcomes.split()
    assert after == "4000000"  # and a new pool took over


def test_workers_ignore_ctrl_c_meant_for_the_crawl() -> None:
    async def scenario() -> tuple[int, int]:
        pool = CpuPool(1, start_after=0)
        try:
            await pool.wait_started()
            pid = await pool.run(os.getpid)
            os.kill(pid, signal.SIGINT)  # as Ctrl-C in a terminal does
            await asyncio.sleep(0.3)
            return pid, await pool.run(os.getpid)
        finally:
            pool.shutdown()

    before, after = asyncio.run(scenario())
    assert before == after


def test_workers_leave_when_the_crawl_process_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "crawl.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio, os, sys, time
            from pipelines.cpu_pool import CpuPool

            def parents():
                found = {}
                for entry in os.listdir("/proc"):
                    try:
                        stat = open(f"/proc/{entry}/stat").read() if entry.isdigit() else ""
                    except OSError:
                        continue
                    if stat:
                        found[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
                return found

            async def main():
                pool = CpuPool(2, start_after=0)
                await pool.wait_started()
                await pool.run(time.sleep, 0.5)
                await pool.run(time.sleep, 0.5)
                table, below, stack = parents(), [], [os.getpid()]
                while stack:  # the workers, their fork server, the resource tracker
                    above = stack.pop()
                    children = [pid for pid, parent in table.items() if parent == above]
                    below += children
                    stack += children
                print(*below, flush=True)
                time.sleep(60)

            if __name__ == "__main__":
                asyncio.run(main())
            """
        )
    )
    crawl = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert crawl.stdout is not None
        children = {int(pid) for pid in crawl.stdout.readline().split()}
        assert len(children) >= 3  # two workers, and a fork server or resource tracker
        crawl.kill()
        crawl.wait(timeout=10)
        assert wait_gone(children, 5) == set()
    finally:
        crawl.kill()


def test_the_pool_size_comes_from_the_crawl_settings() -> None:
    from scrapy.settings import Settings

    assert cpu_workers(Settings({"VEILLE_CPU_WORKERS": 3})) == 3
    assert cpu_workers(Settings({"VEILLE_CPU_WORKERS": 0})) == 0
    assert cpu_workers(Settings({"VEILLE_CPU_WORKERS": None})) == cpu_workers(Settings()) >= 1
    with pytest.raises(ValueError, match="VEILLE_CPU_WORKERS"):
        cpu_workers(Settings({"VEILLE_CPU_WORKERS": -1}))
