"""``veille digest``: the news per initiative as text, Markdown, HTML, JSON or Atom; ``--send``.

Without ``--date`` the digest covers yesterday and today, so that a morning run still shows
last evening's news. ``--send`` stores the digest in every format, then delivers it to the
``[digest] deliver_to`` targets, exactly as the service's daily job does.
"""

from __future__ import annotations

import logging
import sys
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from sqlalchemy.orm import Session, sessionmaker

from crawler.config import Config
from scheduler.cli import (
    EXIT_BAD_CONFIG,
    ConfigOption,
    _fail,
    _load,
    _open_database,
    _setup_logging,
    app,
    errors,
)
from scheduler.digest_delivery import (
    STORED_FORMATS,
    DeliveryOutcome,
    StoredDigest,
    deliver_digest,
    initiative_labels,
    store_digest,
)
from scheduler.digest_model import build_daily_digest
from scheduler.digest_render import render_atom, render_html
from scheduler.digest_sources import SourceWatch
from storage.database import make_session_factory

ATOM_DAYS = 7
DEFAULT_DAYS = 2
"""Without ``--date``: yesterday and today."""
CLI_TRIGGER = "cli"
EXIT_DELIVERY_FAILED = 3


class DigestFormat(StrEnum):
    TEXT = "text"
    MD = "md"
    HTML = "html"
    JSON = "json"
    ATOM = "atom"


def render_atom_feed(
    session: Session, day: date, timezone: str, labels: dict[str, str], feed_url: str
) -> str:
    """The Atom feed of the daily digests of the week ending on ``day``."""
    days = [day - timedelta(days=back) for back in range(ATOM_DAYS)]
    pages = [
        (d, render_html(build_daily_digest(session, d, timezone, labels=labels))) for d in days
    ]
    return render_atom(pages, feed_url).decode("utf-8")


@app.command()
def digest(
    config_path: ConfigOption = None,
    day: Annotated[
        str | None,
        typer.Option("--date", help="One day, YYYY-MM-DD (default: yesterday and today)."),
    ] = None,
    export_format: Annotated[
        DigestFormat, typer.Option("--format", "-f", help="text, md, html, json or atom.")
    ] = DigestFormat.TEXT,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    send: Annotated[
        bool, typer.Option("--send", help="Store it, then deliver it to [digest] deliver_to.")
    ] = False,
) -> None:
    """The news per initiative: stories, sites, seed status, new facts, sources."""
    config = _load(config_path)
    settings = config.digest
    if send and not settings.deliver_to:
        _fail("veille: --send: no [digest] deliver_to in the configuration: nowhere to send to")
        raise typer.Exit(EXIT_BAD_CONFIG)
    if send and export_format is DigestFormat.ATOM:
        _fail("veille: --send delivers a digest, not the Atom feed of digests: drop --format atom")
        raise typer.Exit(EXIT_BAD_CONFIG)
    try:
        chosen = (
            date.fromisoformat(day) if day else datetime.now(ZoneInfo(settings.timezone)).date()
        )
    except ValueError:
        _fail(f"veille: --date: not a date: {day!r} (use YYYY-MM-DD)")
        raise typer.Exit(EXIT_BAD_CONFIG) from None
    days = 1 if day else DEFAULT_DAYS
    if send:
        _setup_logging()  # retries are logged as they happen
        logging.getLogger("apprise").setLevel(logging.ERROR)  # its warnings are in ours
    labels = initiative_labels(config.tagging.taxonomy)
    engine = _open_database(config.database.url)
    sessions = make_session_factory(engine)
    stored: StoredDigest | None = None
    try:
        # Committed before any delivery: a failed delivery never loses the digest.
        with sessions.begin() as session:
            if export_format is DigestFormat.ATOM:
                content = render_atom_feed(
                    session, chosen, settings.timezone, labels, settings.feed_url
                )
            else:
                built = build_daily_digest(
                    session, chosen, settings.timezone, labels=labels, days=days,
                    watch=SourceWatch.from_config(config),
                )  # fmt: skip
                content = STORED_FORMATS[export_format.value](built)
                if send:
                    stored = store_digest(session, built, trigger=CLI_TRIGGER)
        if output is None:
            sys.stdout.write(content)
            sys.stdout.flush()
        else:
            output.write_text(content, encoding="utf-8")
        if stored is not None:
            _send(sessions, stored, config)
    finally:
        engine.dispose()


def _send(sessions: sessionmaker[Session], stored: StoredDigest, config: Config) -> None:
    """Deliver, say how each target went; exit status 3 if one finally failed."""
    settings = config.digest
    outcomes = deliver_digest(
        sessions,
        stored,
        settings.deliver_to,
        attempts=settings.delivery_attempts,
        backoff=settings.delivery_backoff,
    )
    for outcome in outcomes:
        _report(outcome)
    failed = [outcome.target for outcome in outcomes if not outcome.delivered]
    if failed:
        _fail(
            f"veille: the digest is stored, but {len(failed)} of {len(outcomes)} "
            f"deliveries failed: {', '.join(failed)}"
        )
        raise typer.Exit(EXIT_DELIVERY_FAILED)


def _report(outcome: DeliveryOutcome) -> None:
    tries = f"{outcome.attempts} {'try' if outcome.attempts == 1 else 'tries'}"
    if outcome.delivered:
        message = f"Sent to {outcome.target} ({outcome.format}, {tries})"
        errors.print(message, markup=False, highlight=False, soft_wrap=True)
    else:
        _fail(f"Not sent to {outcome.target} after {tries}: {outcome.error}")
