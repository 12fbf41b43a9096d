"""The daily digest leaves out articles about none of the followed initiatives."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from sqlalchemy.orm import Session, sessionmaker

from scheduler.digest import produce_digest
from storage.records import TagRecord
from storage.repository import store_article
from tests.storage.test_repository import add_source, make_record


def test_irrelevant_articles_are_stored_but_not_in_the_digest(
    sessions: sessionmaker[Session],
) -> None:
    add_source(sessions)
    relevant = replace(
        make_record("https://wire.example/waico.html"),
        tags=(TagRecord("waico", 2.0, True, ()),),
    )
    relevant = replace(relevant, extracted=replace(relevant.extracted, title="WAICO news"))
    irrelevant = replace(make_record("https://wire.example/football.html"), tags=())
    irrelevant = replace(irrelevant, extracted=replace(irrelevant.extracted, title="Football"))
    with sessions.begin() as session:
        store_article(session, relevant)
        store_article(session, irrelevant)
    with sessions.begin() as session:
        digest = produce_digest(session, date(2026, 11, 21), "UTC")
    assert "WAICO news" in digest.content
    assert "Football" not in digest.content
