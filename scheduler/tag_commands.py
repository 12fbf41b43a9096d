"""``veille tag`` and ``veille retag``: tag one document with evidence, re-tag stored articles.

The pipelines are imported inside the commands: they import Scrapy, and ``veille serve``,
which loads this module with the rest of the CLI, must never load Scrapy or Twisted.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from scheduler.cli import (
    EXIT_BAD_CONFIG,
    ConfigOption,
    _fail,
    _load,
    _open_database,
    _since_option,
    app,
    console,
    errors,
)
from storage.database import make_session_factory
from storage.models import Article
from storage.repository import iter_articles, replace_tags
from storage.urls import UnusableUrl, canonicalize_url, is_http_url

if TYPE_CHECKING:
    from pipelines.tagging import Tag
    from pipelines.taxonomy import Taxonomy

TaxonomyOption = Annotated[
    Path | None,
    typer.Option(
        "--taxonomy", help="Taxonomy file (default: tagging.taxonomy, else the one shipped)."
    ),
]
TITLE_MAX_CHARS = 200


def _taxonomy(path: Path | None) -> Taxonomy:
    from pipelines.taxonomy import TaxonomyError, load_taxonomy

    try:
        return load_taxonomy(path)
    except TaxonomyError as error:
        _fail(f"veille: {error}")
        raise typer.Exit(EXIT_BAD_CONFIG) from None


def read_document(path: Path) -> tuple[str | None, str]:
    """Title and text of a local file: HTML is extracted; in plain text, a short first line
    followed by more text is the title."""
    from pipelines.extraction import extract

    if path.suffix.lower() in (".html", ".htm"):
        extracted = extract(path.read_bytes(), path.resolve().as_uri())
        if extracted is None:
            raise ValueError(f"{path}: no article text found in this page")
        return extracted.title, extracted.text
    content = path.read_text(encoding="utf-8-sig").strip()
    first, _, rest = content.partition("\n")
    if rest.strip() and len(first.strip()) <= TITLE_MAX_CHARS:
        return first.strip(), rest.strip()
    return None, content


def _stored_article(session: Session, url: str) -> Article | None:
    try:
        canonical = canonicalize_url(url)
    except UnusableUrl:
        return None
    return session.scalars(
        select(Article).where(or_(Article.canonical_url == canonical, Article.url == url))
    ).first()


def _print_tags(tags: list[Tag], *, explained: bool) -> None:
    from pipelines.tagging import explain

    table = Table(title="Initiatives")
    for column in ("initiative", "score", "relevant", "first evidence"):
        table.add_column(column)
    for tag in tags:
        first = next((e for e in tag.evidence if e.weight > 0), None)
        table.add_row(
            tag.initiative,
            f"{tag.score:.2f}",
            "yes" if tag.relevant else "no",
            f"{first.phrase!r} ({first.zone})" if first else "",
        )
    console.print(table if tags else "No initiative found.")
    if explained and tags:
        console.print(explain(tags), markup=False, highlight=False)


@app.command()
def tag(
    document: Annotated[
        str, typer.Argument(help="A file (.html, .txt, .md) or a stored article's URL.")
    ],
    config_path: ConfigOption = None,
    explain_tags: Annotated[
        bool, typer.Option("--explain", help="Show every piece of evidence and its weight.")
    ] = False,
    taxonomy_path: TaxonomyOption = None,
) -> None:
    """Tag one document with the initiatives it is about, with the evidence."""
    from pipelines.tagging import tag_article

    config = _load(config_path)
    taxonomy = _taxonomy(taxonomy_path or config.tagging.taxonomy)
    path = Path(document)
    if path.is_file():
        try:
            title, text = read_document(path)
        except (ValueError, UnicodeDecodeError) as error:
            _fail(f"veille: {error}")
            raise typer.Exit(1) from None
    elif is_http_url(document):
        engine = _open_database(config.database.url)
        with make_session_factory(engine)() as session:
            article = _stored_article(session, document)
            if article is None:
                _fail(f"veille: no stored article at {document}")
                raise typer.Exit(1)
            title = article.title
            text = article.text or (article.original.text if article.original else "") or ""
        engine.dispose()
    else:
        _fail(f"veille: {document} is neither a file nor an http(s) URL")
        raise typer.Exit(EXIT_BAD_CONFIG)
    _print_tags(tag_article(title, text, taxonomy), explained=explain_tags)


@app.command()
def retag(
    config_path: ConfigOption = None,
    since: Annotated[
        str | None, typer.Option(help="Only articles stored since this date (YYYY-MM-DD).")
    ] = None,
    taxonomy_path: TaxonomyOption = None,
) -> None:
    """Re-tag stored articles, after the taxonomy changed."""
    from pipelines.tagging import tag_article, tag_records

    config = _load(config_path)
    taxonomy = _taxonomy(taxonomy_path or config.tagging.taxonomy)
    since_time = _since_option(since)
    engine = _open_database(config.database.url)
    sessions = make_session_factory(engine)
    seen = changed = relevant = 0
    with sessions() as reader:
        for article in iter_articles(reader, since=since_time):
            text = article.text or (article.original.text if article.original else None)
            if text is None:
                continue
            records = tag_records(tag_article(article.title, text, taxonomy))
            now_relevant = any(record.relevant for record in records)
            with sessions.begin() as writer:
                replace_tags(writer, article.id, records)
            seen += 1
            relevant += now_relevant
            changed += article.relevant != now_relevant
    engine.dispose()
    errors.print(
        f"{seen} article(s) re-tagged: {relevant} relevant, {changed} changed relevance",
        style="dim",
    )
