"""``veille sources``: the sources with their health; ``veille sources check ID``: a dry run."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from scheduler.cli import (
    EXIT_BAD_CONFIG,
    ConfigOption,
    _fail,
    _load,
    _open_database,
    app,
    console,
)
from scheduler.service import format_duration
from scheduler.source_report import SourceReport, source_reports
from storage.database import make_session_factory

sources_app = typer.Typer(
    help="The configured sources and their health; 'check ID' polls one without storing."
)
app.add_typer(sources_app, name="sources")

_STATE_STYLE = {"ok": "green", "failing": "red", "silent": "yellow", "disabled": "dim"}


@sources_app.callback(invoke_without_command=True)
def sources(
    ctx: typer.Context,
    config_path: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the health as JSON.")] = False,
) -> None:
    """List the configured sources with their health (and check the configuration)."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = config_path
        return
    config = _load(config_path)
    engine = _open_database(config.database.url)
    with make_session_factory(engine)() as session:
        reports = source_reports(session, config, datetime.now(UTC))
    engine.dispose()
    if as_json:
        rows = [_json_row(report) for report in reports]
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
        return
    table = Table(title=f"Sources in {config.path or 'the default configuration'}")
    for column in ("id", "polls", "pace", "state", "last run"):
        table.add_column(column, overflow="fold")
    now = datetime.now(UTC)
    for report in reports:
        table.add_row(*_row(report, now))
    console.print(table)


def _row(report: SourceReport, now: datetime) -> list[str]:
    """id, what it polls, its pace and polls, its state and why, its last run's figures."""
    source, run = report.source, report.last_run
    kinds = [
        (len(source.feeds), "feed"),
        (len(source.sitemaps), "sitemap"),
        (len(source.pages), "page"),
        (1 if source.homepage else 0, "homepage"),
        (1 if source.query else 0, f"{source.query.engine} query" if source.query else ""),
    ]
    polls = ", ".join(f"{n} {kind}{'s' if n > 1 else ''}" for n, kind in kinds if n)
    if report.failing_targets:
        polls += f" ({report.failing_targets} failing)"
    pace = []
    if report.interval is not None:
        every = format_duration(_round(report.interval))
        pace.append(f"adaptive, now {every}" if report.adaptive else f"every {every}")
    if report.last_poll:
        pace.append(f"polled {_ago(report.last_poll, now)}")
    if report.next_poll:
        pace.append(f"next {_ago(report.next_poll, now)}")
    style = _STATE_STYLE.get(report.state, "")
    state = f"[{style}]{report.state}[/{style}]" if style else report.state
    if report.detail:
        state += f"\n{report.detail}"
    figures = ""
    if run is not None:
        figures = f"{run.items_found} found, {run.new_articles} new"
        if run.extraction_rate is not None:
            figures += f"\n{run.extraction_rate:.0%} extracted"
        if run.dated_share is not None:
            figures += f", {run.dated_share:.0%} dated"
    return [source.id, polls, "\n".join(pace), state, figures]


def _json_row(report: SourceReport) -> dict[str, Any]:
    run = report.last_run
    return {
        "id": report.source.id,
        "state": report.state,
        "detail": report.detail,
        "targets": report.targets,
        "failing_targets": report.failing_targets,
        "adaptive": report.adaptive,
        "interval_seconds": report.interval.total_seconds() if report.interval else None,
        "last_poll": report.last_poll.isoformat() if report.last_poll else None,
        "next_poll": report.next_poll.isoformat() if report.next_poll else None,
        "last_new": report.last_new.isoformat() if report.last_new else None,
        "last_run": None if run is None else {
            "items_found": run.items_found,
            "new_articles": run.new_articles,
            "extraction_rate": run.extraction_rate,
            "dated_share": run.dated_share,
        },
    }  # fmt: skip


def _round(interval: timedelta) -> timedelta:
    return timedelta(minutes=max(1, round(interval.total_seconds() / 60)))


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return ""
    delta = when - now
    words = format_duration(_round(abs(delta)))
    return f"in {words}" if delta.total_seconds() > 0 else f"{words} ago"


@sources_app.command("check")
def check(
    ctx: typer.Context,
    source_id: Annotated[str, typer.Argument(metavar="ID", help="The source to poll.")],
    config_path: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Poll one source once and show what a crawl would fetch, storing nothing."""
    config = _load(config_path or ctx.obj)
    if source_id not in {source.id for source in config.sources}:
        known = ", ".join(source.id for source in config.sources) or "none"
        _fail(f"veille: unknown source {source_id!r} (configured: {known})")
        raise typer.Exit(EXIT_BAD_CONFIG)
    with tempfile.TemporaryDirectory(prefix="veille-check-") as directory:
        report_path = Path(directory) / "report.json"
        command = [
            sys.executable,
            "-m",
            "crawler",
            "--source",
            source_id,
            "--check",
            str(report_path),
        ]
        if config.path is not None:
            command += ["--config", str(config.path)]
        completed = subprocess.run(
            command, capture_output=True, text=True, check=False,
            timeout=config.crawl.timeout.total_seconds(),
        )  # fmt: skip
        if completed.returncode != 0 or not report_path.is_file():
            sys.stderr.write(completed.stderr)
            _fail(f"veille: the check of {source_id} failed (exit {completed.returncode})")
            raise typer.Exit(1)
        report = json.loads(report_path.read_text(encoding="utf-8"))
    if as_json:
        sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=1) + "\n")
        return
    _print_check(source_id, report)


def _print_check(source_id: str, report: list[dict[str, Any]]) -> None:
    polls = [item for item in report if "poll" in item]
    table = Table(title=f"{source_id}: what was polled")
    for column in ("kind", "url", "status", "outcome", "items"):
        table.add_column(column, overflow="fold")
    for item in polls:
        table.add_row(
            item["kind"], item["poll"], str(item["status"] or ""), item["outcome"],
            str(item["entries_found"]),
        )  # fmt: skip
    console.print(table)
    entries = [entry for item in report if "entries" in item for entry in item["entries"]]
    table = Table(title=f"{source_id}: {len(entries)} items, what a crawl would do")
    for column in ("title", "url", "published", "decision"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        table.add_row(
            entry["title"] or "", entry["url"], (entry["published"] or "")[:16], entry["decision"]
        )
    console.print(table)
    new = sum(1 for entry in entries if entry["decision"].startswith("new"))
    console.print(f"{new} new article(s) would be fetched; nothing was stored.")
