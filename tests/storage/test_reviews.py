"""Review decisions on SQLite and PostgreSQL: the log, the folded reviews, the feedback.

The fixture day is tagged by the real tagger with the shipped taxonomy, so the feedback
quotes the terms it really matched.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from pipelines.tagging import tag_article, tag_records
from pipelines.taxonomy import Taxonomy, load_taxonomy
from storage.models import Article, ReviewAction, ReviewDecision, Story
from storage.records import (
    ArticleRecord,
    CopyCheck,
    CopyKind,
    Extracted,
    FetchedPage,
    PublishedFrom,
)
from storage.repository import store_article, upsert_source
from storage.reviews import (
    MissedStory,
    SourceFeedback,
    TermCount,
    UnknownStory,
    record_decision,
    story_reviews,
    tagging_feedback,
)
from storage.urls import canonicalize_url

DECIDED = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
WAICO_TEXT = (
    "Shanghai, 20 November. The World AI Cooperation Organization held its first council "
    "meeting on Thursday and approved a budget for capacity-building programmes."
)
SOURCES = {"wire": "Wire Agency", "mirror": "Mirror News", "sportsdaily": "Sports Daily"}
# key: source, URL, title, text, the key of the article it copies
ARTICLES = {
    "waico": ("wire", "https://wire.example/waico-council.html",
              "WAICO council approves first budget", WAICO_TEXT, None),
    "waico-copy": ("mirror", "https://mirror.example/2026/waico-council",
                   "WAICO council approves first budget", WAICO_TEXT, "waico"),
    "derby": ("sportsdaily", "https://sportsdaily.example/derby.html",
              "Shanghai derby ends in a draw",
              "The match in Shanghai ended 1-1. Fans compared the league's new AI referee "
              "system with the World AI Cooperation Organization, jokingly.", None),
    "cup": ("sportsdaily", "https://sportsdaily.example/cup.html",
            "Cup final: robot cameras on the touchline",
            "Organisers of the cup final in Shanghai said the robot cameras were a gift from "
            "the WAICO pavilion, and fans loved them.\nThe home side won 2-0.", None),
    "forum": ("wire", "https://wire.example/geneva-forum.html",
              "Geneva forum adopts an action plan",
              "Diplomats met in Geneva on Friday and adopted an action plan on capacity "
              "building for developing countries.", None),
    "budget": ("wire", "https://wire.example/ai-budget.html", "Parliament debates AI budget",
               "Members of parliament debated the national budget for artificial intelligence "
               "research on Tuesday.", None),
}  # fmt: skip


@cache
def taxonomy() -> Taxonomy:
    return load_taxonomy()


def article_record(key: str, fetched: datetime, copy_of: int | None = None) -> ArticleRecord:
    source, url, title, text, _original = ARTICLES[key]
    page = FetchedPage(
        url=url, final_url=url, source_id=source, body=b"<html></html>",
        content_type="text/html", encoding="utf-8", fetched_at=fetched,
    )  # fmt: skip
    return ArticleRecord(
        page=page,
        extracted=Extracted(text=text, title=title, language="en"),
        canonical_url=canonicalize_url(url),
        published=fetched - timedelta(hours=1),
        published_from=PublishedFrom.PAGE,
        tags=tag_records(tag_article(title, text, taxonomy())),
        copy_check=CopyCheck(
            fingerprint=url, signature=None, copy_of=copy_of,
            kind=CopyKind.NEAR if copy_of else None, similarity=0.9 if copy_of else None,
        ),
    )  # fmt: skip


def store_fixture_day(sessions: sessionmaker[Session], fetched: datetime) -> dict[str, int]:
    """Stores the fixture articles; returns each article's story id by key."""
    with sessions.begin() as session:
        for source_id, name in SOURCES.items():
            upsert_source(session, source_id=source_id, name=name, language="en")
    article_ids: dict[str, int] = {}
    with sessions.begin() as session:
        for offset, (key, (*_rest, original)) in enumerate(ARTICLES.items()):
            record = article_record(
                key, fetched + timedelta(minutes=offset), article_ids.get(original or "")
            )
            stored = store_article(session, record)
            assert stored is not None
            article_ids[key] = stored
    with sessions() as session:
        return {
            key: session.get(Article, article_id).story_id  # type: ignore[misc,union-attr]
            for key, article_id in article_ids.items()
        }


def decide(
    sessions: sessionmaker[Session], story_id: int, action: str, initiative: str | None = None,
    *, minutes: int = 0, note: str | None = None, reviewer: str = "alice",
) -> None:  # fmt: skip
    with sessions.begin() as session:
        record_decision(
            session, story_id, action, reviewer=reviewer, initiative=initiative, note=note,
            at=DECIDED + timedelta(minutes=minutes),
        )  # fmt: skip


def decision_count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(ReviewDecision)) or 0


def test_the_fixture_is_tagged_as_the_feedback_tests_assume(
    sessions: sessionmaker[Session],
) -> None:
    stories = store_fixture_day(sessions, DECIDED - timedelta(hours=3))
    assert stories["waico"] == stories["waico-copy"]
    assert len(set(stories.values())) == 5
    with sessions() as session:
        tags = {
            article.canonical_url: {(t.initiative, t.relevant) for t in article.tags}
            for article in session.scalars(select(Article))
        }
    by_key = {key: tags[canonicalize_url(ARTICLES[key][1])] for key in ARTICLES}
    assert by_key["derby"] == by_key["cup"] == by_key["waico"] == {("waico", True)}
    assert by_key["forum"] == {("gaigap", False)}  # a keyword without its context: score 0
    assert by_key["budget"] == set()


def test_the_latest_decision_per_aspect_wins_and_undoes_the_earlier(
    sessions: sessionmaker[Session],
) -> None:
    stories = store_fixture_day(sessions, DECIDED - timedelta(hours=3))
    derby = stories["derby"]
    decide(sessions, derby, "irrelevant", minutes=1, note="football, not WAICO")
    decide(sessions, derby, "untag", "waico", minutes=2)
    decide(sessions, derby, "tag", "gaigi", minutes=3, reviewer="bob")
    with sessions() as session:
        review = story_reviews(session, [derby, stories["waico"]])
    assert set(review) == {derby}  # nobody reviewed the WAICO story
    assert review[derby].relevant is False
    assert review[derby].tags_added == ("gaigi",)
    assert review[derby].tags_removed == ("waico",)
    assert (review[derby].reviewer, review[derby].reviewed_at) == (
        "bob",
        DECIDED + timedelta(minutes=3),
    )
    assert review[derby].note == "football, not WAICO"
    assert review[derby].corrected_tags(["waico", "dsr"]) == ("dsr", "gaigi")

    decide(sessions, derby, "relevant", minutes=4, reviewer="carol")  # undoes "irrelevant"
    decide(sessions, derby, ReviewAction.TAG, "waico", minutes=5)  # undoes "untag waico"
    with sessions() as session:
        undone = story_reviews(session, [derby])[derby]
    assert undone.relevant is True
    assert undone.tags_added == ("gaigi", "waico") and undone.tags_removed == ()
    assert undone.note is None  # the note went with the decision it explained
    assert undone.decisions == 5
    assert decision_count(sessions) == 5  # the log keeps every decision


def test_decisions_on_unknown_stories_or_ill_formed_ones_store_nothing(
    sessions: sessionmaker[Session],
) -> None:
    stories = store_fixture_day(sessions, DECIDED)
    with pytest.raises(UnknownStory, match="no story 999"):
        decide(sessions, 999, "irrelevant")
    with pytest.raises(ValueError, match="an initiative goes with tag and untag only"):
        decide(sessions, stories["derby"], "tag")
    with pytest.raises(ValueError, match="an initiative goes with tag and untag only"):
        decide(sessions, stories["derby"], "irrelevant", "waico")
    with pytest.raises(ValueError, match="'maybe' is not a valid ReviewAction"):
        decide(sessions, stories["derby"], "maybe")
    with pytest.raises(ValueError, match="reviewer"):
        decide(sessions, stories["derby"], "relevant", reviewer="  ")
    assert decision_count(sessions) == 0


def test_a_decision_follows_its_article_when_its_story_is_merged_away(
    sessions: sessionmaker[Session],
) -> None:
    stories = store_fixture_day(sessions, DECIDED)
    canonical = "https://wire.example/derby-report.html"
    early = article_record("derby", DECIDED)
    early = replace(
        early,
        page=replace(early.page, url="https://aggregator.example/derby", source_id="mirror",
                     final_url="https://aggregator.example/derby"),
        canonical_url=canonicalize_url("https://aggregator.example/derby"),
        extracted=replace(early.extracted, declared_canonical_url=canonical),
    )  # fmt: skip
    with sessions.begin() as session:
        early_id = store_article(session, early)
        old_story = session.get(Article, early_id).story_id  # type: ignore[union-attr]
    assert old_story not in stories.values()
    decide(sessions, old_story, "irrelevant", note="football")
    report = article_record("derby", DECIDED + timedelta(hours=1))
    report = replace(
        report,
        page=replace(report.page, url=canonical, final_url=canonical, source_id="wire"),
        canonical_url=canonicalize_url(canonical),
    )
    with sessions.begin() as session:
        report_id = store_article(session, report)  # takes the early page into its story
    with sessions() as session:
        new_story = session.get(Article, report_id).story_id  # type: ignore[union-attr]
        assert session.get(Story, old_story) is None
        assert session.get(Article, early_id).story_id == new_story  # type: ignore[union-attr]
        reviews = story_reviews(session, [new_story, old_story])  # type: ignore[list-item]
        decision = session.scalars(select(ReviewDecision)).one()
    assert set(reviews) == {new_story}
    assert reviews[new_story].relevant is False  # type: ignore[index]
    assert decision.story_id is None and decision.article_id == early_id


def test_reviews_of_many_stories_take_a_few_queries(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        upsert_source(session, source_id="wire", name="Wire", language="en")
        for number in range(1100):
            story = Story(first_seen=DECIDED, last_seen=DECIDED, languages=["en"])
            session.add(story)
            session.flush()
            url = f"https://wire.example/{number}.html"
            article = Article(
                source_id="wire", url=url, canonical_url=url, final_url=url, title=str(number),
                published=DECIDED, published_from="page", fetched_at=DECIDED, story_id=story.id,
            )  # fmt: skip
            session.add(article)
            session.flush()
            story.representative_id = article.id
        story_ids = list(session.scalars(select(Story.id).order_by(Story.id)))
    for story_id in story_ids[::100]:
        decide(sessions, story_id, "irrelevant")
    with sessions() as session:
        statements: list[str] = []
        bind = session.get_bind()

        def listener(*args: object) -> None:
            statements.append(str(args[2]))

        event.listen(bind, "before_cursor_execute", listener)
        try:
            reviews = story_reviews(session, story_ids)
        finally:
            event.remove(bind, "before_cursor_execute", listener)
    assert set(reviews) == set(story_ids[::100])
    assert all(review.relevant is False for review in reviews.values())
    assert len(statements) == 3  # 1,100 stories, 500 per query


def test_feedback_names_the_terms_and_sources_of_rejected_tags_and_the_missed_tags(
    sessions: sessionmaker[Session],
) -> None:
    stories = store_fixture_day(sessions, DECIDED - timedelta(hours=3))
    decide(sessions, stories["waico"], "relevant")  # the tagger was right: no feedback
    decide(sessions, stories["derby"], "untag", "waico", minutes=1, note="football")
    decide(sessions, stories["cup"], "irrelevant", minutes=2)
    decide(sessions, stories["forum"], "tag", "gaigap", minutes=3)
    decide(sessions, stories["budget"], "relevant", minutes=4)
    decide(sessions, stories["waico"], "untag", "waico", minutes=5)  # a slip of the hand...
    decide(sessions, stories["waico"], "tag", "waico", minutes=6)  # ...undone

    with sessions() as session:
        feedback = tagging_feedback(session)
    assert (feedback.stories, feedback.marked_relevant, feedback.marked_irrelevant) == (5, 2, 1)
    waico, gaigap = feedback.initiatives
    assert (waico.initiative, waico.removed, waico.irrelevant) == ("waico", 1, 1)
    assert waico.terms == (
        TermCount("WAICO", "name", 1),
        TermCount("World Artificial Intelligence Cooperation Organization", "name", 1),
    )
    assert waico.sources == (("sportsdaily", 2),)
    assert waico.missed == ()
    assert (gaigap.initiative, gaigap.removed, gaigap.irrelevant) == ("gaigap", 0, 0)
    assert gaigap.missed == (
        MissedStory(stories["forum"], "Geneva forum adopts an action plan", 0.0),
    )
    assert feedback.relevant_untagged == (
        MissedStory(stories["budget"], "Parliament debates AI budget", None),
    )
    assert feedback.sources == (
        SourceFeedback("sportsdaily", reviewed=2, irrelevant=1, removed=1),
        SourceFeedback("wire", reviewed=3, irrelevant=0, removed=0),
        SourceFeedback("mirror", reviewed=1, irrelevant=0, removed=0),
    )

    with sessions() as session:
        recent = tagging_feedback(session, since=DECIDED + timedelta(minutes=2))
    assert recent.stories == 4  # the derby's untag is older
    assert [(i.initiative, i.removed, i.irrelevant) for i in recent.initiatives] == [
        ("waico", 0, 1),
        ("gaigap", 0, 0),
    ]
