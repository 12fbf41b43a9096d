"""The seed corpus in storage, and a story's comparison from its members'."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.orm import Session, sessionmaker

from storage.models import Article
from storage.records import ComparisonRecord, CopyCheck, CopyKind
from storage.repository import store_article
from storage.seeds import list_seeds, story_comparison, upsert_seed
from tests.storage.test_repository import add_source, make_record


def comparison(status: str | None, seed: str, score: float, *facts: str) -> ComparisonRecord:
    return ComparisonRecord(
        status=status,
        status_seed_id=seed,
        status_reason="test",
        nearest=({"seed_id": seed, "score": score, "reasons": ["shared facts"]},),
        new_facts=tuple({"key": key, "phrase": key, "kind": "date", "start": 0, "end": 1}
                        for key in facts),
        novel_sentences=(),
        seed_count=2,
    )  # fmt: skip


def test_seeds_are_added_once_and_replaced_when_changed(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        assert upsert_seed(session, seed_id="s1", path=None, title="T", text="one",
                           language="fr", tags=["waico"], fingerprint="f")  # fmt: skip
    with sessions.begin() as session:
        assert not upsert_seed(session, seed_id="s1", path=None, title="T", text="one",
                               language="fr", tags=["waico"], fingerprint="f")  # fmt: skip
        assert upsert_seed(session, seed_id="s1", path=None, title="T", text="two",
                           language="fr", tags=["waico"], fingerprint="g")  # fmt: skip
    with sessions() as session:
        [seed] = list_seeds(session)
        assert (seed.text, seed.tags) == ("two", ["waico"])


def test_a_story_is_a_follow_up_when_one_member_adds_facts(
    sessions: sessionmaker[Session],
) -> None:
    add_source(sessions)
    first = replace(
        make_record("https://wire.example/a.html"),
        copy_check=CopyCheck("fa", b"sa"),
        comparison=comparison("known", "s1", 0.9),
    )
    with sessions.begin() as session:
        first_id = store_article(session, first)
    second = replace(
        make_record("https://mirror.example/b.html", text="Longer."),
        copy_check=CopyCheck("fb", b"sb", copy_of=first_id, kind=CopyKind.NEAR, similarity=0.6),
        comparison=comparison("follow-up", "s2", 0.5, "2025-12-12", "CNY:2e9"),
    )
    with sessions.begin() as session:
        store_article(session, second)
    with sessions() as session:
        story_id = session.get(Article, first_id).story_id  # type: ignore[union-attr]
        result = story_comparison(session, story_id)
    assert result["status"] == "follow-up"
    assert result["nearest_seed"] == "s1"
    assert {fact["key"] for fact in result["new_facts"]} == {"2025-12-12", "CNY:2e9"}
    assert result["members_compared"] == 2
