"""``veille seeds add|list|coverage`` and ``veille diff``: the seed corpus, and what is new.

The pipelines are imported inside the commands: they import Scrapy, and ``veille serve``,
which loads this module with the rest of the CLI, must never load Scrapy or Twisted.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text
from sqlalchemy import select
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
from scheduler.tag_commands import TaxonomyOption, _stored_article, _taxonomy, read_document
from storage.database import make_session_factory
from storage.models import Article, ArticleTag, SeedComparison
from storage.seeds import (
    articles_stored_since,
    list_seeds,
    save_comparison,
    story_comparison,
    upsert_seed,
)

if TYPE_CHECKING:
    from pipelines.seed_compare import SeedIndex
    from pipelines.taxonomy import Taxonomy

seeds_app = typer.Typer(
    help="The seed corpus: the documents you already know.", no_args_is_help=True
)
app.add_typer(seeds_app, name="seeds")

SEED_SUFFIXES = (".txt", ".md", ".html", ".htm")


def seed_files(paths: list[Path]) -> list[Path]:
    """The documents named, and those inside the directories named, in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in SEED_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise ValueError(f"{path}: no such file or directory")
    return [path for path in found if path.name.lower() != "readme.md"]


def build_seed_index(
    session: Session, taxonomy: Taxonomy, new_facts_limit: int | None = None
) -> SeedIndex:
    """The stored seed corpus, prepared for comparisons."""
    from pipelines.seed_compare import NEW_FACTS_LIMIT, SeedIndex, prepare_seed

    return SeedIndex(
        (
            prepare_seed(seed.id, seed.title or "", seed.text, seed.language or "", taxonomy)
            for seed in list_seeds(session)
        ),
        new_facts_limit or NEW_FACTS_LIMIT,
    )


def relevant_tags(article: Article) -> list[str]:
    return [tag.initiative for tag in article.tags if tag.relevant]


def article_text(article: Article) -> str:
    return article.text or (article.original.text if article.original else "") or ""


def compare_stored(index: SeedIndex, article: Article, seed_count: int) -> Any:
    from pipelines.seed_compare import comparison_record

    comparison = index.compare(
        article.title, article_text(article), article.language or "", relevant_tags(article)
    )
    return comparison, comparison_record(comparison, seed_count)


@seeds_app.command("add")
def seeds_add(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files or directories (default: seeds.directory of the config)."),
    ] = None,
    config_path: ConfigOption = None,
    taxonomy_path: TaxonomyOption = None,
) -> None:
    """Add documents to the seed corpus, then compare recent articles with it again."""
    from pipelines.extraction import detect_language
    from pipelines.seed_compare import prepare_seed

    config = _load(config_path)
    taxonomy = _taxonomy(taxonomy_path or config.tagging.taxonomy)
    targets = paths or ([config.seeds.directory] if config.seeds.directory else [])
    if not targets:
        _fail("veille: name seed files or directories, or set seeds.directory in the config")
        raise typer.Exit(EXIT_BAD_CONFIG)
    try:
        files = seed_files(targets)
    except ValueError as error:
        _fail(f"veille: {error}")
        raise typer.Exit(EXIT_BAD_CONFIG) from None
    engine = _open_database(config.database.url)
    sessions = make_session_factory(engine)
    added = 0
    for path in files:
        try:
            title, text = read_document(path)
        except (ValueError, UnicodeDecodeError) as error:
            errors.print(f"skipped {path}: {error}", style="yellow", markup=False)
            continue
        language = detect_language(text) or ""
        try:
            seed = prepare_seed(path.stem, title or "", text, language, taxonomy)
        except ValueError as error:
            errors.print(f"skipped {path}: {error}", style="yellow", markup=False)
            continue
        with sessions.begin() as session:
            added += upsert_seed(
                session, seed_id=seed.id, path=str(path.resolve()), title=title, text=text,
                language=language or None, tags=seed.tags, fingerprint=seed.fingerprint,
            )  # fmt: skip
    compared = reevaluate(
        sessions,
        taxonomy,
        datetime.now(UTC) - config.seeds.reevaluate,
        config.seeds.new_facts_limit,
    )
    engine.dispose()
    errors.print(
        f"{len(files)} document(s) read, {added} new or changed; "
        f"{compared} recent article(s) compared again",
        style="dim",
    )


def reevaluate(
    sessions: Any, taxonomy: Taxonomy, since: datetime, new_facts_limit: int | None = None
) -> int:
    """Compare the articles stored since ``since`` with the whole corpus again."""
    with sessions() as session:
        index = build_seed_index(session, taxonomy, new_facts_limit)
        seed_count = len(list_seeds(session))
        articles = articles_stored_since(session, since)
        results = [(a.id, compare_stored(index, a, seed_count)[1]) for a in articles]
    with sessions.begin() as session:
        for article_id, record in results:
            save_comparison(session, article_id, record)
    return len(results)


@seeds_app.command("list")
def seeds_list(config_path: ConfigOption = None) -> None:
    """List the seed corpus with the initiatives of each document."""
    config = _load(config_path)
    engine = _open_database(config.database.url)
    with make_session_factory(engine)() as session:
        seeds = list_seeds(session)
    engine.dispose()
    table = Table(title=f"{len(seeds)} seed document(s)")
    for column in ("id", "lang", "title", "initiatives"):
        table.add_column(column)
    for seed in seeds:
        title = seed.title or ""
        table.add_row(
            seed.id, seed.language or "?", title if len(title) <= 50 else title[:49] + "…",
            ", ".join(seed.tags) or "-",
        )  # fmt: skip
    console.print(table)


@seeds_app.command("coverage")
def seeds_coverage(
    config_path: ConfigOption = None,
    since: Annotated[
        str | None, typer.Option(help="Articles stored since this date (default: all).")
    ] = None,
) -> None:
    """Per initiative: the seeds that new articles covered again, and news with no seed."""
    config = _load(config_path)
    since_time = _since_option(since)
    engine = _open_database(config.database.url)
    with make_session_factory(engine)() as session:
        report = coverage(session, since_time)
    engine.dispose()
    table = Table(title="Coverage of the seed corpus")
    for column in ("initiative", "seeds", "seeds covered again", "articles", "new (no seed)"):
        table.add_column(column)
    for initiative, row in sorted(report.items()):
        table.add_row(
            initiative, str(row["seeds"]), ", ".join(sorted(row["recovered"])) or "-",
            str(row["articles"]), str(row["new"]),
        )  # fmt: skip
    console.print(table)


def coverage(session: Session, since: datetime | None) -> dict[str, dict[str, Any]]:
    """Per initiative: how many seeds have it, which seeds relevant articles matched again
    (``known`` or ``follow-up``), how many relevant articles, and how many had no seed."""
    report: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"seeds": 0, "recovered": set(), "articles": 0, "new": 0}
    )
    for seed in list_seeds(session):
        for initiative in seed.tags:
            report[initiative]["seeds"] += 1
    query = (
        select(ArticleTag.initiative, SeedComparison.status, SeedComparison.status_seed_id)
        .join(Article, Article.id == ArticleTag.article_id)
        .outerjoin(SeedComparison, SeedComparison.article_id == Article.id)
        .where(ArticleTag.relevant.is_(True))
    )
    if since is not None:
        query = query.where(Article.fetched_at >= since)
    for initiative, status, seed_id in session.execute(query):
        row = report[initiative]
        row["articles"] += 1
        if status == "new":
            row["new"] += 1
        elif status in ("known", "follow-up") and seed_id:
            row["recovered"].add(seed_id)
    return dict(report)


@app.command()
def diff(
    article: Annotated[str, typer.Argument(help="A stored article: its URL or its id.")],
    config_path: ConfigOption = None,
    taxonomy_path: TaxonomyOption = None,
) -> None:
    """Compare one stored article with the seed corpus; novel sentences are highlighted."""
    config = _load(config_path)
    taxonomy = _taxonomy(taxonomy_path or config.tagging.taxonomy)
    engine = _open_database(config.database.url)
    with make_session_factory(engine)() as session:
        stored = (
            session.get(Article, int(article)) if article.isdigit()
            else _stored_article(session, article)
        )  # fmt: skip
        if stored is None:
            _fail(f"veille: no stored article {article}")
            raise typer.Exit(1)
        index = build_seed_index(session, taxonomy, config.seeds.new_facts_limit)
        comparison, _record = compare_stored(index, stored, len(list_seeds(session)))
        text, title = article_text(stored), stored.title
        story = story_comparison(session, stored.story_id) if stored.story_id else None
    engine.dispose()
    console.print(f"[bold]{title or '(no title)'}[/bold]", highlight=False)
    console.print(
        f"status: [bold]{comparison.status or 'none (about no followed initiative)'}[/bold]"
        f" — {comparison.status_reason}",
        highlight=False,
    )
    if story is not None and story["members_compared"] > 1:
        console.print(
            f"its story (story {stored.story_id}, {story['members_compared']} articles "
            f"compared): [bold]{story['status']}[/bold]",
            highlight=False,
        )
    for match in comparison.nearest:
        console.print(f"  seed {match.seed_id}: {match.score:.2f} ({'; '.join(match.reasons)})",
                      highlight=False, markup=False)  # fmt: skip
    if comparison.new_facts:
        facts = ", ".join(f"{fact.phrase} [{fact.key}]" for fact in comparison.new_facts)
        console.print(f"new facts: {facts}", markup=False, highlight=False)
    highlighted = Text(text)
    for sentence in comparison.novel_sentences:
        highlighted.stylize("bold yellow", sentence.start, sentence.end)
    console.print()
    console.print(highlighted)
