"""The ``veille`` command line (typer + rich).

Every command takes ``--config F`` after its name; without it, ``$VEILLE_CONFIG``,
then ``./veille.toml``, then built-in defaults are used.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated

import platformdirs
import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from crawler.config import Config, ConfigError, load_config, parse_duration, resolve_config_path
from crawler.distributed.frontier import redis_problem
from scheduler.demo import DEMO_PORT, demo_config_text, serve_demo_site
from scheduler.export import ExportFormat, write_export
from scheduler.launch import CrawlOutcome, launch_crawl
from storage.database import (
    UnsupportedDatabase,
    current_revision,
    head_revision,
    make_session_factory,
    open_database,
)
from storage.models import Article, CrawlRun
from storage.repository import iter_articles

app = typer.Typer(
    name="veille",
    help="Veille: follow a subject across the world's press.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)
app.add_typer(db_app, name="db")

console = Console()
errors = Console(stderr=True)

EXIT_BAD_CONFIG = 2

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Configuration file (default: $VEILLE_CONFIG, ./veille.toml)."
    ),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Do not echo the crawl's log.")]


def _setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=errors, show_path=False, show_time=False)],
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _load_file(config_path: Path | None) -> Config:
    """The configuration, which must come from a file (the crawl processes read it again)."""
    config = _load(config_path)
    if config.path is None:
        _fail(
            "veille: no configuration file: pass --config F, set VEILLE_CONFIG, "
            "or create ./veille.toml (see examples/veille.toml)"
        )
        raise typer.Exit(EXIT_BAD_CONFIG)
    return config


def _fail(message: str) -> None:
    errors.print(message, style="red", markup=False, highlight=False, soft_wrap=True)


def _load(config_path: Path | None) -> Config:
    try:
        return load_config(resolve_config_path(config_path))
    except ConfigError as error:
        _fail(f"veille: {error}")
        raise typer.Exit(EXIT_BAD_CONFIG) from None


@contextmanager
def _database_errors(url: str) -> Iterator[None]:
    """A database that cannot be reached or opened is a clear message and exit status 1."""
    try:
        yield
    except (OperationalError, ArgumentError, NoSuchModuleError, UnsupportedDatabase) as error:
        safe_url = make_url(url).render_as_string(hide_password=True)
        reason = str(getattr(error, "orig", None) or error).splitlines()[0]
        _fail(f"veille: cannot use the database {safe_url}: {reason}")
        raise typer.Exit(1) from None


def _open_database(url: str) -> Engine:
    """The database, migrated; exit status 1 with a clear message if it cannot be used."""
    with _database_errors(url):
        return open_database(url)


def _since_option(text: str | None) -> datetime | None:
    """The ``--since`` option as a UTC time; exit status 2 if it is not a date."""
    if not text:
        return None
    try:
        return _parse_since(text)
    except ValueError as error:
        _fail(f"veille: --since: {error}")
        raise typer.Exit(EXIT_BAD_CONFIG) from None


def _echo_child(line: str) -> None:
    errors.print(line, markup=False, highlight=False, style="dim", soft_wrap=True)


@app.command()
def crawl(
    config_path: ConfigOption = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", "-s", help="Only this source (repeatable).")
    ] = None,
    timeout: Annotated[
        str | None, typer.Option(help="Hard time limit, e.g. '20m' (default: crawl.timeout).")
    ] = None,
    quiet: QuietOption = False,
    distributed: Annotated[
        bool,
        typer.Option(
            "--distributed", help="Enqueue the sources' polls for `veille worker`s, fetch nothing."
        ),
    ] = False,
) -> None:
    """Run one crawl of the configured sources now, in a child process."""
    _setup_logging()
    config = _load_file(config_path)
    try:
        sources = config.select_sources(source)
        limit = parse_duration(timeout) if timeout else None
    except (ConfigError, ValueError) as error:
        _fail(f"veille: {error}")
        raise typer.Exit(EXIT_BAD_CONFIG) from None
    if not sources:
        _fail("veille: no enabled source in the configuration")
        raise typer.Exit(EXIT_BAD_CONFIG)
    if distributed:
        _check_distributed(config)
    with _database_errors(config.database.url):
        outcome = launch_crawl(
            config,
            [s.id for s in sources],
            timeout=limit,
            echo=None if quiet else _echo_child,
            enqueue=distributed,
        )
    if distributed:
        _print_enqueued(outcome)
    else:
        _print_run(outcome)
    raise typer.Exit(outcome.exit_code if outcome.run.status != "timed_out" else 1)


def _check_distributed(config: Config) -> None:
    """Distributed mode needs Redis and a shared database: exit 2 (1 if Redis is down)."""
    problem = config.distributed_problem()
    if problem:
        _fail(f"veille: {problem}")
        raise typer.Exit(EXIT_BAD_CONFIG)
    assert config.distributed.redis_url is not None
    problem = redis_problem(config.distributed.redis_url)
    if problem:
        _fail(f"veille: {problem}")
        raise typer.Exit(1)


def _print_enqueued(outcome: CrawlOutcome) -> None:
    run: CrawlRun = outcome.run
    stats = run.stats or {}
    style = "green" if outcome.succeeded else "red"
    console.print(
        f"[{style}]Crawl run {run.id} {run.status}[/{style}]: "
        f"{stats.get('veille/frontier/enqueued', 0)} request(s) enqueued for the workers "
        f"({stats.get('veille/feeds/requested', 0)} polls, "
        f"{stats.get('veille/articles/rechecked', 0)} re-checks, "
        f"{stats.get('veille/feeds/not_due', 0)} not due).",
        highlight=False,
    )
    if run.status == "failed" and run.error:
        errors.print("Last lines of the crawl's log:", style="red")
        errors.print(run.error, markup=False, highlight=False)


@app.command()
def worker(
    config_path: ConfigOption = None,
    until_idle: Annotated[
        bool,
        typer.Option(
            "--until-idle",
            help="Exit once the frontier is empty and no worker has anything in flight.",
        ),
    ] = False,
) -> None:
    """Run a crawl worker: take requests from the shared Redis frontier until stopped."""
    config = _load_file(config_path)
    _check_distributed(config)
    _open_database(config.database.url).dispose()  # reachable, and its schema up to date
    command = [
        sys.executable, "-m", "crawler", "--worker",
        "--config", str(Path(config.path or "").resolve()),
    ]  # fmt: skip
    if until_idle:
        command.append("--until-idle")
    # The worker is the crawl process itself: SIGTERM and Ctrl-C reach Scrapy, which
    # finishes what is in flight; nothing is left to a parent that could die first.
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, command)


def _print_run(outcome: CrawlOutcome) -> None:
    run: CrawlRun = outcome.run
    duration = run.duration_seconds or 0.0
    style = "green" if outcome.succeeded else "red"
    console.print(
        f"[{style}]Crawl run {run.id} {run.status}[/{style}] in {duration:.1f}s "
        f"(exit status {outcome.exit_code}).",
        highlight=False,
    )
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_column(style="dim")
    failures = run.failures or {}

    def reasons(prefix: str) -> str:
        found = {k.removeprefix(prefix): v for k, v in failures.items() if k.startswith(prefix)}
        return ", ".join(f"{name} {count}" for name, count in sorted(found.items()))

    stats = run.stats or {}
    unchanged = stats.get("veille/feeds/unchanged", 0) + stats.get("veille/feeds/not_modified", 0)
    table.add_row("feeds polled", str(run.feeds_polled), "feeds, sitemaps and pages")
    table.add_row("unchanged", str(unchanged), "not parsed again: a 304, or the same body")
    table.add_row("feeds failed", str(run.feeds_failed), reasons("feeds/failed/"))
    table.add_row("entries seen", str(run.entries_seen), "")
    table.add_row("links refused", "", reasons("entries/refused/"))
    table.add_row("articles new", str(run.articles_new), "")
    table.add_row("already known", str(run.articles_known), "")
    table.add_row("articles failed", str(run.articles_failed), reasons("articles/failed/"))
    console.print(table)
    if run.status == "failed" and run.error:
        errors.print("Last lines of the crawl's log:", style="red")
        errors.print(run.error, markup=False, highlight=False)


@app.command()
def demo(
    config_path: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="Use this file's database (and User-Agent) for the demo."
        ),
    ] = None,
    port: Annotated[int, typer.Option(help="Port of the demo site on 127.0.0.1.")] = DEMO_PORT,
    database: Annotated[
        str | None, typer.Option(help="Database URL (default: demo.db in the data directory).")
    ] = None,
    serve: Annotated[
        bool, typer.Option("--serve", help="Only serve the demo site, until Ctrl-C.")
    ] = False,
    quiet: QuietOption = False,
) -> None:
    """Serve the bundled demo news site on 127.0.0.1 and crawl it, offline."""
    _setup_logging()
    with ExitStack() as stack:
        try:
            site = stack.enter_context(serve_demo_site(port))
        except OSError as error:
            _fail(f"veille: cannot serve the demo site on port {port}: {error}")
            raise typer.Exit(1) from None
        if serve:
            console.print(f"Demo site at {site.base_url}/ — feed: {site.base_url}/feeds/world.xml")
            console.print("Crawl it with: veille crawl --config examples/demo.toml (Ctrl-C stops)")
            with suppress(KeyboardInterrupt):
                threading.Event().wait()
            return
        settings = _load(config_path) if config_path else None
        database_url = database or (settings.database.url if settings else _default_demo_database())
        user_agent = settings.crawl.user_agent if settings else None
        directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="veille-demo-"))
        path = Path(directory) / "demo.toml"
        path.write_text(demo_config_text(site.base_url, database_url, user_agent), encoding="utf-8")
        config = _load(path)
        console.print(f"Crawling the demo site at {site.base_url}/ into {database_url}")
        with _database_errors(database_url):
            outcome = launch_crawl(config, trigger="demo", echo=None if quiet else _echo_child)
    _print_run(outcome)
    _print_articles(database_url)
    console.print(
        "Run [bold]veille demo[/bold] again: nothing is fetched twice. "
        f"Export with: veille export --database {database_url}",
        highlight=False,
    )
    raise typer.Exit(outcome.exit_code)


def _default_demo_database() -> str:
    return f"sqlite:///{platformdirs.user_data_path('veille') / 'demo.db'}"


def _print_articles(database_url: str, limit: int = 12) -> None:
    engine = open_database(database_url)
    with make_session_factory(engine)() as session:
        articles: list[Article] = list(iter_articles(session))
    engine.dispose()
    stories = len({article.story_id for article in articles if article.story_id})
    table = Table(title=f"{len(articles)} articles stored, in {stories} stories (newest first)")
    for column in ("published", "lang", "title", "initiatives", "story"):
        table.add_column(column)
    for article in sorted(articles, key=lambda a: a.published, reverse=True)[:limit]:
        title = article.title or "(no title)"
        initiatives = ", ".join(tag.initiative for tag in article.tags if tag.relevant)
        story = str(article.story_id or "")
        if article.duplicate_of:
            story += f" (copy of {article.duplicate_of})"
        table.add_row(
            article.published.strftime("%Y-%m-%d"),
            article.language or "?",
            title if len(title) <= 50 else title[:49] + "…",
            initiatives or "-",
            story,
        )
    console.print(table)


@app.command()
def export(
    config_path: ConfigOption = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only articles stored since this date (YYYY-MM-DD or ISO time, UTC)."),
    ] = None,
    export_format: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="jsonl or csv.")
    ] = ExportFormat.JSONL,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", "-s", help="Only this source (repeatable).")
    ] = None,
    database: Annotated[
        str | None, typer.Option(help="Database URL (overrides the configuration).")
    ] = None,
    include_irrelevant: Annotated[
        bool,
        typer.Option(
            "--include-irrelevant", help="Also the articles of stories people marked irrelevant."
        ),
    ] = False,
) -> None:
    """Write stored articles as JSON Lines or CSV."""
    config = _load(config_path)
    since_time = _since_option(since)
    database_url = database or config.database.url
    engine = _open_database(database_url)
    with make_session_factory(engine)() as session:
        articles = iter_articles(session, since=since_time, source_ids=source or None)
        if output is None:
            count = write_export(
                articles, sys.stdout, export_format, include_irrelevant=include_irrelevant
            )
        else:
            with output.open("w", encoding="utf-8", newline="") as handle:
                count = write_export(
                    articles, handle, export_format, include_irrelevant=include_irrelevant
                )
    engine.dispose()
    errors.print(f"{count} article(s) exported", style="dim")


def _parse_since(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a date: {text!r} (use YYYY-MM-DD)") from None
    if isinstance(parsed, datetime) and len(text) > 10:
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.combine(date.fromisoformat(text[:10]), time(), tzinfo=UTC)


@db_app.command("upgrade")
def db_upgrade(config_path: ConfigOption = None) -> None:
    """Create or upgrade the database schema (also done automatically on first use)."""
    config = _load(config_path)
    engine = _open_database(config.database.url)
    console.print(f"{engine.url.render_as_string()} is at revision {current_revision(engine)}")
    engine.dispose()


@db_app.command("current")
def db_current(config_path: ConfigOption = None) -> None:
    """Show the database's schema revision, without changing anything."""
    config = _load(config_path)
    with _database_errors(config.database.url):
        engine = open_database(config.database.url, upgrade=False)
        current, head = current_revision(engine), head_revision(engine)
    state = "up to date" if current == head else f"behind (newest is {head})"
    console.print(f"{engine.url.render_as_string()}: revision {current or 'none'}, {state}")
    engine.dispose()


# Commands defined in their own modules register themselves on ``app``.
from scheduler import (  # noqa: E402, F401
    digest_commands,
    review_commands,
    seed_commands,
    service_cli,
    source_commands,
    tag_commands,
)

if __name__ == "__main__":
    # Run as ``python -m scheduler.cli``, this module is ``__main__``; the commands registered
    # from other modules are on the ``app`` of ``scheduler.cli``.
    from scheduler.cli import app as registered_app

    registered_app()
