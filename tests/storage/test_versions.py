"""Re-checks of recent articles: which are due, unchanged texts, new versions."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from storage.models import Article, ArticleVersion
from storage.records import Extracted
from storage.repository import store_article
from storage.versions import find_recheck_due, record_recheck
from tests.storage.test_repository import FETCHED, add_source, make_record

URL = "https://wire.example/v.html"


def test_only_young_articles_not_checked_lately_are_due(sessions: sessionmaker[Session]) -> None:
    add_source(sessions)
    with sessions.begin() as session:
        article_id = store_article(session, make_record(URL))
    with sessions() as session:
        due = find_recheck_due(
            session, [URL], fetched_after=FETCHED - timedelta(days=1),
            checked_before=FETCHED + timedelta(hours=1),
        )  # fmt: skip
        assert list(due) == [URL] and due[URL].article_id == article_id
        too_old = find_recheck_due(
            session, [URL], fetched_after=FETCHED + timedelta(minutes=1),
            checked_before=FETCHED + timedelta(hours=1),
        )  # fmt: skip
        too_recent = find_recheck_due(
            session, [URL], fetched_after=FETCHED - timedelta(days=1),
            checked_before=FETCHED - timedelta(minutes=1),
        )  # fmt: skip
        assert too_old == {} and too_recent == {}


def test_the_same_text_is_no_new_version_and_a_new_text_is(
    sessions: sessionmaker[Session],
) -> None:
    add_source(sessions)
    first = make_record(URL, text="Line one.\nLine two.")
    with sessions.begin() as session:
        article_id = store_article(session, first)
    assert article_id is not None
    later = FETCHED + timedelta(hours=7)
    same = replace(first, page=replace(first.page, fetched_at=later, recheck_of=article_id))
    with sessions.begin() as session:
        assert record_recheck(session, article_id, same) is False
    changed = replace(same, extracted=Extracted(text="Line one.\nLine 2, corrected."))
    with sessions.begin() as session:
        assert record_recheck(session, article_id, changed) is True
    with sessions() as session:
        article = session.get(Article, article_id)
        assert article is not None
        assert (article.version, article.text) == (2, "Line one.\nLine 2, corrected.")
        assert article.checked_at == article.updated_at == later
        [old] = session.scalars(select(ArticleVersion)).all()
        assert old.text == "Line one.\nLine two."
        assert "-Line two.\n+Line 2, corrected." in (old.diff or "")
        assert session.scalar(select(func.count()).select_from(ArticleVersion)) == 1
