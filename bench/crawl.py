"""Crawl speed: ``veille crawl`` of a local news web, beside trafilatura alone and its CLI.

Usage: ``python bench/crawl.py [--articles N] [--skip-postgres] [--skip-cli] [--keep]
[--postgres URL]``

1. Builds a local news web (:mod:`local_web`) of ``--articles`` real pages (1,000) from
   ``../shared/corpora``, over eight hosts 127.0.0.2-9, each with robots.txt, an RSS feed and a
   news sitemap, served from memory by threads of this process; and a ``veille.toml`` with one
   source per host (download delay 50 ms, autothrottle off, two requests at a time per host).
2. Measures, one after the other, on the same pages:

   - the reference: ``trafilatura.extract`` over the pages held in memory, in this process,
     with the options of ``pipelines/extraction.py`` (no comments, metadata, the same date
     search);
   - ``veille crawl --config F`` (the real command, in a subprocess) into a new SQLite file,
     then into a new database on the ``--postgres`` server (created and dropped here);
   - the ``trafilatura`` command line over the article URLs (``trafilatura -i urls.txt -o DIR
     --no-comments --with-metadata``), with its own downloads, and a configuration file with
     the same pause per host and User-Agent as Veille's, its SSRF protection off (it refuses
     loopback addresses otherwise) and the extensive date search off, as in Veille.

   For each: pages per second over the wall-clock time of the whole command and the speed-ups
   against the reference and the CLI; CPU seconds (``getrusage`` of the children, or the sum
   over the processes sampled in ``/proc`` where that is more) and the
   cores they kept busy on average (CPU s / seconds); the peak memory of the process tree
   (the sum of its processes' proportional set sizes: pages they share count once) and the
   most processes in it (``/proc`` sampled every 50 ms); and "others", the cores
   the rest of the machine kept busy meanwhile (``/proc/stat``, steal time included). The
   machine is shared: when others is high, the wall-clock figures say more about the other
   users than about the crawl. For each crawl, also what it stored (from the database), how
   long Scrapy's engine ran, and the CPU time of each process of its tree by role (the
   ``veille`` launcher, the crawl process, the CPU pool's workers): where the time goes.
3. Runs ``veille crawl`` again over the unchanged web, for each database, and checks on the
   servers' request counts that no article page was requested; prints its time as a
   percentage of the first crawl's, and how long Scrapy's engine ran in it (the rest is
   starting and ending the processes).

The servers count every request: the first crawl must request each article exactly once, with
the configured User-Agent. A failed check prints why and makes the exit status 1. Without
``../shared/corpora`` the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import configparser
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import trafilatura

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPORA = REPO_ROOT.parent / "shared" / "corpora"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

# Run as `python bench/crawl.py`, the script's own folder is on sys.path, not the repo.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402

from bench.local_web import CorpusPage, LocalWeb, RequestCounts, load_corpus_pages  # noqa: E402
from bench.scratch_postgres import scratch_postgres  # noqa: E402
from pipelines.extraction import EARLIEST_PLAUSIBLE_DATE, FUTURE_TOLERANCE  # noqa: E402
from storage.database import create_database_engine, make_session_factory  # noqa: E402
from storage.models import Article, CrawlRun, Story  # noqa: E402

USER_AGENT = "VeilleBench/1.0 (+https://pypi.org/project/veille/; local benchmark)"
DOWNLOAD_DELAY = 0.05
"""Seconds between two requests to one host, for Veille and for the trafilatura CLI."""
SAMPLE_SECONDS = 0.05
REFERENCE_TARGET = 1.5
CLI_TARGET = 2.0
RECRAWL_TARGET = 0.05
# Variables that would point `veille crawl` at another configuration or database.
_VEILLE_ENVIRONMENT = ("VEILLE_CONFIG", "VEILLE_DATABASE_URL")


@dataclass(frozen=True, slots=True)
class Measure:
    name: str
    pages: int
    seconds: float
    cpu_seconds: float
    peak_rss: int | None
    """Bytes; None when not measured (the reference runs in this process)."""
    processes: int = 1
    """The most processes the command ran at once (a crawl's launcher, crawl and pool)."""
    others: float | None = None
    """CPUs kept busy on average by the rest of the machine meanwhile."""
    cpu_by_role: dict[str, tuple[int, float]] = field(default_factory=dict)
    """Role of a process in the command's tree to (processes, CPU seconds)."""

    def describe_cpu(self) -> str:
        """``veille 2.9 s, crawl process 40.1 s, 2 pool workers 70.3 s``."""
        return ", ".join(
            f"{f'{count} ' if count > 1 else ''}{role}{'s' if count > 1 else ''} {seconds:.1f} s"
            for role, (count, seconds) in self.cpu_by_role.items()
        )

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds if self.seconds else float("inf")

    @property
    def cores(self) -> float:
        """CPUs kept busy on average: below the core count, it waited (or others ran)."""
        return self.cpu_seconds / self.seconds if self.seconds else 0.0


@dataclass(frozen=True, slots=True)
class CrawlFacts:
    """What the database says after a crawl: what a user would look at."""

    articles: int
    stories: int
    copies: int
    run_seconds: float
    stats: dict[str, float]
    """The crawl run's numeric stats: Veille's counters and Scrapy's."""

    @property
    def engine_seconds(self) -> float | None:
        """How long Scrapy's engine ran: the crawl without the processes' start and end."""
        return self.stats.get("elapsed_time_seconds")


class ProcessTree:
    """A process and its descendants, sampled from ``/proc`` in a thread while it runs: the
    peak of their summed resident memory, the most processes at once, and the CPU time of each
    process by role (a crawl's launcher, crawl process, pool workers).

    A process that lives less than a sample is missed, and the last sample's CPU time of each
    process is what counts (up to one interval short).
    """

    def __init__(self, pid: int, name: str, interval: float = SAMPLE_SECONDS) -> None:
        self.pid = pid
        self.name = name
        self.interval = interval
        self.peak_rss = 0
        self.processes = 0
        self._cpu_ticks: dict[int, int] = {}
        self._roles: dict[int, str] = {}
        self._page_size = os.sysconf("SC_PAGE_SIZE")
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="tree-sampler", daemon=True)

    def __enter__(self) -> ProcessTree:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join()

    def cpu_by_role(self) -> dict[str, tuple[int, float]]:
        """Role to (number of processes, CPU seconds), busiest first."""
        ticks_per_second = os.sysconf("SC_CLK_TCK")
        roles: dict[str, tuple[int, float]] = {}
        for pid, ticks in self._cpu_ticks.items():
            role = self._roles.get(pid, "other")
            count, seconds = roles.get(role, (0, 0.0))
            roles[role] = (count + 1, seconds + ticks / ticks_per_second)
        return dict(sorted(roles.items(), key=lambda item: -item[1][1]))

    def _sample(self) -> None:
        while not self._done.is_set():
            self._sample_once()
            self._done.wait(self.interval)

    def _sample_once(self) -> None:
        children: dict[int, list[int]] = {}
        cpu: dict[int, int] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit() and (stat := _read_stat(entry.path)) is not None:
                children.setdefault(stat[0], []).append(int(entry.name))
                cpu[int(entry.name)] = stat[1]
        rss, count, stack = 0, 0, [(self.pid, 0, "")]
        while stack:
            pid, depth, parent_role = stack.pop()
            rss += _resident_bytes(pid, self._page_size)
            count += 1
            if pid in cpu:
                self._cpu_ticks[pid] = max(self._cpu_ticks.get(pid, 0), cpu[pid])
                # Read again each time: a child seen between fork and exec has its parent's
                # command line. A process that is ending has none left: keep its last role.
                role = self.name if depth == 0 else _role(pid, parent_role)
                if role is not None:
                    self._roles[pid] = role
            role = self._roles.get(pid, "")
            stack.extend((child, depth + 1, role) for child in children.get(pid, ()))
        self.peak_rss = max(self.peak_rss, rss)
        self.processes = max(self.processes, count)


def _read_stat(proc_path: str) -> tuple[int, int] | None:
    """A process's parent pid and CPU time (user + system, in clock ticks)."""
    try:
        with open(f"{proc_path}/stat", "rb") as handle:  # noqa: PTH123 (thousands per second)
            # The command name, in parentheses, may contain spaces: fields follow the last ')'.
            fields = handle.read().rsplit(b")", 1)[1].split()
        return int(fields[1]), int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None  # the process ended meanwhile


def _role(pid: int, parent_role: str) -> str | None:
    """What the process is, from its command line (and its parent's role: the pool's workers
    have their fork server's command line); None when it has none (it is ending)."""
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return None
    if not arguments[0]:
        return None
    command = " ".join(arguments)
    if "-m crawler" in command:
        return "crawl process"
    if "resource_tracker" in command:
        return "multiprocessing resource tracker"
    if "multiprocessing.forkserver" in command:
        return "pool worker" if parent_role == "pool fork server" else "pool fork server"
    if "multiprocessing" in command:
        return "pool worker"
    return Path(arguments[0]).name or "other"


def _resident_bytes(pid: int, page_size: int) -> int:
    """The process's share of memory: its proportional set size (a page shared by n processes,
    as the pool's forked workers share their fork server's, counts 1/n in each), else its
    resident set."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:  # noqa: PTH123
            for line in handle:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:  # noqa: PTH123
            return int(handle.read().split()[1]) * page_size
    except (OSError, IndexError, ValueError):
        return 0


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _machine_busy_seconds() -> float | None:
    """CPU time the whole machine has spent busy (``/proc/stat``), steal time included."""
    try:
        fields = [
            int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        ]
    except (OSError, ValueError):
        return None
    idle, iowait = fields[3], fields[4]
    # guest and guest_nice (fields 9 and 10) are already counted in user and nice.
    return (sum(fields[:8]) - idle - iowait) / os.sysconf("SC_CLK_TCK")


@dataclass
class Timing:
    seconds: float = 0.0
    self_cpu: float = 0.0
    """CPU time of this process: the reference, or the web's server threads."""
    children_cpu: float = 0.0
    """CPU time of the finished child processes and their waited-for descendants."""
    others: float | None = None
    """CPUs kept busy on average by other processes meanwhile (other users of the machine)."""
    machine_busy: float | None = None
    """CPU seconds the whole machine spent meanwhile."""

    def others_besides(self, cpu_seconds: float) -> float | None:
        """:attr:`others`, with ``cpu_seconds`` as what the measured command used."""
        if self.machine_busy is None or self.seconds <= 0:
            return None
        return max(0.0, self.machine_busy - self.self_cpu - cpu_seconds) / self.seconds


@contextmanager
def timed() -> Iterator[Timing]:
    """Wall-clock time, CPU time here and in children, and what the rest of the machine used."""
    timing = Timing()
    busy, self_cpu, children_cpu = (
        _machine_busy_seconds(),
        time.process_time(),
        _children_cpu_seconds(),
    )
    started = time.perf_counter()
    yield timing
    timing.seconds = time.perf_counter() - started
    timing.self_cpu = time.process_time() - self_cpu
    timing.children_cpu = _children_cpu_seconds() - children_cpu
    busy_after = _machine_busy_seconds()
    if busy is not None and busy_after is not None:
        timing.machine_busy = busy_after - busy
        timing.others = timing.others_besides(timing.children_cpu)


def run_command(name: str, command: list[str], *, pages: int, cwd: Path, log: Path) -> Measure:
    """Run ``command`` to its end, its output in ``log``; exit if it fails."""
    environment = {k: v for k, v in os.environ.items() if k not in _VEILLE_ENVIRONMENT}
    with log.open("wb") as output, timed() as timing:
        child = subprocess.Popen(
            command, cwd=cwd, env=environment, stdout=output, stderr=subprocess.STDOUT
        )
        with ProcessTree(child.pid, Path(command[0]).name) as tree:
            exit_code = child.wait()
    if exit_code != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-30:]
        sys.exit(f"{name}: exit status {exit_code}; last lines of {log}:\n" + "\n".join(tail))
    # getrusage counts the descendants that their parents waited for: not the CPU pool's
    # workers, forked by a fork server that ends after the crawl process. The samples of
    # /proc count every process of the tree but its last 50 ms: the larger is the nearer.
    by_role = tree.cpu_by_role()
    cpu = max(timing.children_cpu, sum(seconds for _, seconds in by_role.values()))
    return Measure(
        name,
        pages,
        timing.seconds,
        cpu,
        tree.peak_rss,
        tree.processes,
        timing.others_besides(cpu),
        by_role,
    )


def reference_options(now: datetime) -> dict[str, object]:
    """``trafilatura.extract`` keywords for what ``pipelines/extraction.py`` asks of it."""
    return {
        "include_comments": False,
        "with_metadata": True,
        "date_extraction_params": {
            "original_date": True,
            "extensive_search": False,
            "min_date": EARLIEST_PLAUSIBLE_DATE.date().isoformat(),
            "max_date": (now + FUTURE_TOLERANCE).date().isoformat(),
        },
    }


def run_reference(pages: list[CorpusPage], urls: list[str]) -> tuple[Measure, int]:
    """trafilatura alone over the pages in memory; and how many pages gave no text."""
    options = reference_options(datetime.now(UTC))
    trafilatura.extract(pages[0].body, url=urls[0], **options)  # lazy imports and caches
    empty = 0
    with timed() as timing:
        for page, url in zip(pages, urls, strict=True):
            if not trafilatura.extract(page.body, url=url, **options):
                empty += 1
    name = "trafilatura.extract, in memory"
    measure = Measure(name, len(pages), timing.seconds, timing.self_cpu, None, others=timing.others)
    return measure, empty


def veille_command() -> list[str]:
    executable = Path(sys.executable).with_name("veille")
    if executable.exists():
        return [str(executable)]
    return [sys.executable, "-c", "from scheduler.cli import app; app()"]


def run_veille(
    name: str, config: Path, web: LocalWeb, workdir: Path
) -> tuple[Measure, RequestCounts]:
    web.log.take()  # count this crawl's requests only
    log = workdir / f"{config.stem}-{int(time.time() * 1000)}.log"
    command = [*veille_command(), "crawl", "--config", str(config), "--quiet"]
    measure = run_command(name, command, pages=len(web.article_urls), cwd=workdir, log=log)
    return measure, web.log.take()


def crawl_facts(database_url: str) -> CrawlFacts:
    engine = create_database_engine(database_url)
    with make_session_factory(engine)() as session:
        run = session.scalars(select(CrawlRun).order_by(CrawlRun.id.desc())).first()
        assert run is not None, "the crawl recorded no run"
        facts = CrawlFacts(
            articles=session.scalar(select(func.count()).select_from(Article)) or 0,
            stories=session.scalar(select(func.count()).select_from(Story)) or 0,
            copies=session.scalar(
                select(func.count()).select_from(Article).where(Article.duplicate_of.is_not(None))
            )
            or 0,
            run_seconds=run.duration_seconds or 0.0,
            stats={
                key: value
                for key, value in (run.stats or {}).items()
                if isinstance(value, int | float) and not isinstance(value, bool)
            },
        )
    engine.dispose()
    return facts


def write_trafilatura_config(path: Path) -> None:
    """trafilatura's own settings, with Veille's pause per host and User-Agent."""
    config = configparser.ConfigParser()
    config.read(Path(trafilatura.__file__).with_name("settings.cfg"), encoding="utf-8")
    defaults = config["DEFAULT"]
    defaults["SLEEP_TIME"] = str(DOWNLOAD_DELAY)
    defaults["USER_AGENTS"] = USER_AGENT
    defaults["SSRF_PROTECTION"] = "off"
    defaults["EXTENSIVE_DATE_SEARCH"] = "off"
    with path.open("w", encoding="utf-8") as handle:
        config.write(handle)


def run_trafilatura_cli(web: LocalWeb, workdir: Path) -> tuple[Measure, RequestCounts, int]:
    """The CLI over the article URLs; with the requests it made and the texts it wrote."""
    urls = workdir / "urls.txt"
    urls.write_text("\n".join(web.article_urls) + "\n", encoding="utf-8")
    settings = workdir / "trafilatura.cfg"
    write_trafilatura_config(settings)
    output = workdir / "trafilatura-out"
    shutil.rmtree(output, ignore_errors=True)
    executable = Path(sys.executable).with_name("trafilatura")
    command = [
        str(executable) if executable.exists() else "trafilatura",
        "-i", urls.name, "-o", output.name, "--config-file", settings.name,
        "--no-comments", "--with-metadata",
    ]  # fmt: skip
    web.log.take()
    measure = run_command(
        "trafilatura CLI, -i urls.txt",
        command,
        pages=len(web.article_urls),
        cwd=workdir,
        log=workdir / "trafilatura-cli.log",
    )
    written = sum(1 for file in output.rglob("*") if file.is_file()) if output.exists() else 0
    return measure, web.log.take(), written


@dataclass
class Checks:
    """Behaviour the figures rely on; any failure makes the exit status 1."""

    failed: list[str]

    def expect(self, ok: bool, what: str) -> bool:
        if not ok:
            self.failed.append(what)
        return ok


def check_first_crawl(name: str, counts: RequestCounts, web: LocalWeb, checks: Checks) -> str:
    """One line on what the servers saw; every article must have been requested once."""
    requested = counts.count("article")
    distinct = len(counts.article_paths)
    once = distinct == len(web.article_urls) and set(counts.article_paths.values()) == {1}
    checks.expect(once, f"{name}: {requested} article requests for {distinct} distinct pages")
    agents = set(counts.user_agents)
    checks.expect(agents == {USER_AGENT}, f"{name}: User-Agents {sorted(agents)}")
    return (
        f"{requested} article requests ({'each article once' if once else 'NOT each once'}), "
        f"robots.txt {counts.count('robots')}, feeds {counts.count('feed')}, "
        f"sitemaps {counts.count('sitemap')}, other {counts.count('other')}"
    )


def describe_crawl(name: str, facts: CrawlFacts, pages: int, checks: Checks) -> str:
    """One line on what the crawl stored; every page must be stored or accounted for."""
    stats = facts.stats
    empty = stats.get("veille/articles/failed/empty_extraction", 0)
    failed = sum(v for k, v in stats.items() if k.startswith("veille/articles/failed/")) - empty
    duplicates = stats.get("veille/articles/duplicate", 0)
    accounted = facts.articles + empty + duplicates
    checks.expect(
        accounted == pages and failed == 0,
        f"{name}: {facts.articles} stored + {empty} empty + {duplicates} duplicate URLs "
        f"of {pages} pages, {failed} failures",
    )
    line = (
        f"{facts.articles:.0f} articles stored in {facts.stories} stories ({facts.copies} filed "
        f"as copies), {empty:.0f} pages without article text, {duplicates:.0f} duplicate URLs, "
        f"{failed:.0f} failures; the crawl child ran {facts.run_seconds:.1f} s"
    )
    if facts.engine_seconds is not None:
        line += f", Scrapy's engine {facts.engine_seconds:.1f} s of it"
    workers = stats.get("veille/cpu_pool/workers")
    if workers is not None:
        waiting = stats.get("veille/cpu_pool/peak_waiting", 0)
        line += f"; CPU pool: {workers:.0f} workers, at most {waiting:.0f} pages waiting for it"
    return line


def print_table(measures: list[Measure], reference: Measure, cli: Measure | None) -> None:
    header = (
        f"{'run':<32} {'pages':>5} {'seconds':>7} {'CPU s':>6} {'cores':>5} {'pages/s':>7} "
        f"{'× ref':>5} {'× CLI':>5} {'peak RSS':>8} {'procs':>5} {'others':>6}"
    )
    print(header)
    print("-" * len(header))
    for measure in measures:
        versus_cli = f"{measure.pages_per_second / cli.pages_per_second:.2f}" if cli else "-"
        print(
            f"{measure.name:<32} {measure.pages:>5} {measure.seconds:>7.1f} "
            f"{measure.cpu_seconds:>6.1f} {measure.cores:>5.2f} {measure.pages_per_second:>7.2f} "
            f"{measure.pages_per_second / reference.pages_per_second:>5.2f} {versus_cli:>5} "
            f"{_megabytes(measure.peak_rss):>8} {measure.processes:>5} {_cores(measure.others):>6}"
        )


def print_targets(crawls: list[Measure], reference: Measure, cli: Measure | None) -> None:
    for crawl in crawls:
        speedup = crawl.pages_per_second / reference.pages_per_second
        verdict = "met" if speedup >= REFERENCE_TARGET else "NOT met"
        line = f"{crawl.name}: {speedup:.2f}× the reference (target ≥ {REFERENCE_TARGET}×: "
        line += f"{verdict})"
        if cli is not None:
            versus = crawl.pages_per_second / cli.pages_per_second
            line += f", {versus:.2f}× the CLI (target ≥ {CLI_TARGET}×: "
            line += f"{'met' if versus >= CLI_TARGET else 'NOT met'})"
        print(line)


@dataclass(frozen=True, slots=True)
class Recrawl:
    first: Measure
    again: Measure
    article_requests: int
    not_modified: int
    """Feeds and sitemaps answered 304."""
    polled: int
    """Feeds and sitemaps requested."""
    engine_seconds: float | None
    """Scrapy's engine time in the re-crawl: the rest is starting and ending processes."""

    @property
    def share(self) -> float:
        return self.again.seconds / self.first.seconds


def crawl_database(
    label: str, database_url: str, web: LocalWeb, workdir: Path, checks: Checks
) -> Recrawl:
    """First crawl and re-crawl of the web into one database; prints what the first did."""
    config = workdir / f"veille-{label.lower()}.toml"
    config.write_text(
        web.veille_config(database_url, user_agent=USER_AGENT, download_delay=DOWNLOAD_DELAY),
        encoding="utf-8",
    )
    first, counts = run_veille(f"veille crawl → {label}", config, web, workdir)
    requests = check_first_crawl(first.name, counts, web, checks)
    print(f"{first.name}: {first.seconds:.1f} s; {requests}")
    facts = crawl_facts(database_url)
    print(f"  {describe_crawl(first.name, facts, len(web.article_urls), checks)}")
    print(f"  CPU by process: {first.describe_cpu()}")
    again, counts = run_veille(f"veille re-crawl → {label}", config, web, workdir)
    print(f"{again.name}: {again.seconds:.1f} s; CPU by process: {again.describe_cpu()}")
    articles = counts.count("article")
    checks.expect(articles == 0, f"{again.name}: {articles} article pages requested")
    return Recrawl(
        first,
        again,
        article_requests=articles,
        not_modified=counts.count("feed", 304) + counts.count("sitemap", 304),
        polled=counts.count("feed") + counts.count("sitemap"),
        engine_seconds=crawl_facts(database_url).engine_seconds,
    )


def print_recrawls(recrawls: list[Recrawl]) -> None:
    header = (
        f"{'re-crawl of the unchanged web':<32} {'seconds':>7} {'CPU s':>6} {'engine':>6} "
        f"{'of first':>8} {'articles':>8} {'304s':>5} {'peak RSS':>8} {'procs':>5} {'others':>6}"
    )
    print(header)
    print("-" * len(header))
    for recrawl in recrawls:
        again = recrawl.again
        engine = f"{recrawl.engine_seconds:.1f}" if recrawl.engine_seconds is not None else "-"
        print(
            f"{again.name:<32} {again.seconds:>7.1f} {again.cpu_seconds:>6.1f} {engine:>6} "
            f"{recrawl.share:>8.1%} {recrawl.article_requests:>8} "
            f"{f'{recrawl.not_modified}/{recrawl.polled}':>5} {_megabytes(again.peak_rss):>8} "
            f"{again.processes:>5} {_cores(again.others):>6}"
        )
    for recrawl in recrawls:
        verdict = "met" if recrawl.share <= RECRAWL_TARGET else "NOT met"
        print(
            f"{recrawl.again.name}: {recrawl.share:.1%} of the first crawl's time "
            f"(target ≤ {RECRAWL_TARGET:.0%}: {verdict}), "
            f"{recrawl.article_requests} article pages requested (must be 0)"
        )


def _megabytes(size: int | None) -> str:
    return f"{size / 1e6:.0f} MB" if size else "-"


def _cores(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--articles", type=int, default=1000, help="article pages (1000)")
    parser.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA)
    parser.add_argument(
        "--postgres", metavar="URL", default=DEFAULT_POSTGRES,
        help=f"server for a scratch database, created and dropped (default {DEFAULT_POSTGRES})",
    )  # fmt: skip
    parser.add_argument("--skip-postgres", action="store_true", help="no PostgreSQL crawl")
    parser.add_argument("--skip-cli", action="store_true", help="no trafilatura CLI run")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    args = parser.parse_args()
    if not args.corpora.is_dir():
        print(f"{args.corpora} not found: nothing to serve, benchmark skipped")
        return 0
    if args.articles < 1:
        parser.error("--articles must be at least 1")

    pages, skipped = load_corpus_pages(args.corpora, args.articles)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"Machine: {os.cpu_count()} cores, load average {load} at start (a shared machine: "
          "wall-clock times include waiting for a CPU; CPU s does not)")  # fmt: skip
    by_corpus = ", ".join(f"{name} {n}" for name, n in Counter(p.corpus for p in pages).items())
    html_mb = sum(len(page.body) for page in pages) / 1e6
    gzip_mb = sum(len(page.compressed) for page in pages) / 1e6
    left_out = ", ".join(f"{n} {why}" for why, n in skipped.items()) or "none"
    print(f"Local web: {len(pages)} article pages ({by_corpus}; left out: {left_out}), "
          f"{html_mb:.0f} MB of HTML, {gzip_mb:.0f} MB gzipped")  # fmt: skip
    if len(pages) < args.articles:
        print(f"  (the corpora hold only {len(pages)} usable article pages)")

    checks = Checks([])
    workdir = Path(tempfile.mkdtemp(prefix="veille-bench-crawl-"))
    try:
        with LocalWeb(pages) as web:
            hosts = web.hosts
            sizes = sorted({len(host.articles) for host in hosts})
            print(f"Hosts: {len(hosts)} ({hosts[0].address} to {hosts[-1].address}), "
                  f"{' or '.join(map(str, sizes))} articles each; Veille: download_delay "
                  f"{DOWNLOAD_DELAY * 1000:g} ms, 2 requests at a time per host, autothrottle "
                  "off\n")  # fmt: skip
            reference, empty = run_reference(
                [page for host in hosts for _, page in host.articles], web.article_urls
            )
            print(f"{reference.name}: {reference.seconds:.1f} s; pages without text: {empty}")
            recrawls = [
                crawl_database("SQLite", f"sqlite:///{workdir / 'veille.db'}", web, workdir, checks)
            ]
            if not args.skip_postgres:
                try:
                    with scratch_postgres(args.postgres) as url:
                        recrawls.append(crawl_database("PostgreSQL", url, web, workdir, checks))
                except OperationalError as error:
                    reason = str(error.orig or error).splitlines()[0]
                    print(f"PostgreSQL at {args.postgres}: {reason}; skipped")
            cli = None
            if not args.skip_cli:
                cli, counts, written = run_trafilatura_cli(web, workdir)
                requested = len(counts.article_paths)
                checks.expect(
                    requested == len(pages), f"{cli.name}: {requested} articles requested"
                )
                print(f"{cli.name}: {cli.seconds:.1f} s; {counts.count('article')} article "
                      f"requests for {requested} pages, {written} texts written")  # fmt: skip
        print()
        crawls = [recrawl.first for recrawl in recrawls]
        print_table([reference, *crawls, *([cli] if cli else [])], reference, cli)
        print_targets(crawls, reference, cli)
        print()
        print_recrawls(recrawls)
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
        print(f"Load average at the end: {load}")
    finally:
        if args.keep:
            print(f"Working directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    for failure in checks.failed:
        print(f"CHECK FAILED: {failure}")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
