"""``veille digest``: one day's stories per initiative, as text, Markdown, HTML, JSON or Atom."""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from sqlalchemy.orm import Session

from scheduler.cli import EXIT_BAD_CONFIG, ConfigOption, _fail, _load, _open_database, app
from scheduler.digest_model import DailyDigest, build_daily_digest
from scheduler.digest_render import (
    render_atom,
    render_html,
    render_json,
    render_markdown,
    render_text,
)
from storage.database import make_session_factory

ATOM_DAYS = 7


class DigestFormat(StrEnum):
    TEXT = "text"
    MD = "md"
    HTML = "html"
    JSON = "json"
    ATOM = "atom"


RENDERERS = {
    DigestFormat.TEXT: render_text,
    DigestFormat.MD: render_markdown,
    DigestFormat.HTML: render_html,
    DigestFormat.JSON: render_json,
}


def _labels(taxonomy_path: Path | None) -> dict[str, str]:
    from pipelines.taxonomy import load_taxonomy  # imports Scrapy: only when asked

    taxonomy = load_taxonomy(taxonomy_path)
    return {initiative.id: initiative.label for initiative in taxonomy.initiatives}


def render_digest(
    session: Session, day: date, timezone: str, export_format: DigestFormat,
    labels: dict[str, str], feed_url: str,
) -> str:  # fmt: skip
    """The digest of ``day`` (for Atom: of the week ending on ``day``) in ``export_format``."""
    if export_format is DigestFormat.ATOM:
        days = [day - timedelta(days=back) for back in range(ATOM_DAYS)]
        pages = [
            (d, render_html(build_daily_digest(session, d, timezone, labels=labels))) for d in days
        ]
        return render_atom(pages, feed_url).decode("utf-8")
    digest: DailyDigest = build_daily_digest(session, day, timezone, labels=labels)
    return RENDERERS[export_format](digest)


@app.command()
def digest(
    config_path: ConfigOption = None,
    day: Annotated[
        str | None, typer.Option("--date", help="The day, YYYY-MM-DD (default: today).")
    ] = None,
    export_format: Annotated[
        DigestFormat, typer.Option("--format", "-f", help="text, md, html, json or atom.")
    ] = DigestFormat.TEXT,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
) -> None:
    """One day's news per initiative: stories, sites, seed status, new facts, sources."""
    config = _load(config_path)
    timezone = config.digest.timezone
    try:
        chosen = date.fromisoformat(day) if day else datetime.now(ZoneInfo(timezone)).date()
    except ValueError:
        _fail(f"veille: --date: not a date: {day!r} (use YYYY-MM-DD)")
        raise typer.Exit(EXIT_BAD_CONFIG) from None
    labels = _labels(config.tagging.taxonomy)
    engine = _open_database(config.database.url)
    with make_session_factory(engine)() as session:
        content = render_digest(
            session, chosen, timezone, export_format, labels, config.digest.feed_url
        )
    engine.dispose()
    if output is None:
        sys.stdout.write(content)
    else:
        output.write_text(content, encoding="utf-8")
