"""``veille review`` through the CLI: decisions, the interactive flow, exports, feedback."""

from __future__ import annotations

import csv
import getpass
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from scheduler.cli import app
from storage.models import ReviewDecision
from tests.e2e.test_crawl_cli import veille
from tests.storage.test_reviews import ARTICLES, decision_count, store_fixture_day

runner = CliRunner()


def write_config(tmp_path: Path, database_url: str) -> Path:
    config = tmp_path / "veille.toml"
    config.write_text(
        f'[database]\nurl = "{database_url}"\n\n[digest]\ntimezone = "UTC"\n', encoding="utf-8"
    )
    return config


def flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


def decisions(sessions: sessionmaker[Session]) -> list[tuple[int | None, str, str | None, str]]:
    with sessions() as session:
        rows = session.scalars(select(ReviewDecision).order_by(ReviewDecision.id))
        return [(d.story_id, d.action, d.initiative, d.reviewer) for d in rows]


def export_rows(config: Path, *extra: str) -> dict[str, dict[str, object]]:
    result = veille("export", "--config", str(config), *extra)
    assert result.returncode == 0, result.stderr
    return {row["canonical_url"]: row for row in map(json.loads, result.stdout.splitlines())}


def test_decisions_from_the_command_line_shape_exports_and_feedback(
    database_url: str, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    stories = store_fixture_day(sessions, datetime.now(UTC) - timedelta(hours=2))
    config = write_config(tmp_path, database_url)
    derby_url, cup_url = ARTICLES["derby"][1], ARTICLES["cup"][1]

    cup = veille("review", str(stories["cup"]), "--irrelevant", "--note", "robots at a match",
                 "--by", "alice", "--config", str(config))  # fmt: skip
    assert cup.returncode == 0, cup.stderr
    assert "Cup final: robot cameras on the touchline" in cup.stdout
    assert "irrelevant (last by alice," in flat(cup.stdout)
    assert '"robots at a match"' in cup.stdout
    derby = veille("review", derby_url, "--untag", "waico", "--tag", "gaigi", "--config",
                   str(config))  # fmt: skip
    assert derby.returncode == 0, derby.stderr
    assert "tagged gaigi; untagged waico" in flat(derby.stdout)
    user = getpass.getuser()
    assert decisions(sessions) == [
        (stories["cup"], "irrelevant", None, "alice"),
        (stories["derby"], "tag", "gaigi", user),
        (stories["derby"], "untag", "waico", user),
    ]

    rows = export_rows(config)
    assert cup_url not in rows  # its story was marked irrelevant
    assert len(rows) == len(ARTICLES) - 1
    derby_row = rows[derby_url]
    assert derby_row["tags"] == [
        {"initiative": "gaigi", "score": None, "relevant": True, "reviewed": True}
    ]
    assert derby_row["relevant"] is True
    assert derby_row["review"]["tags_removed"] == ["waico"]  # type: ignore[index]
    assert derby_row["review"]["by"] == user  # type: ignore[index]
    waico_row = rows[ARTICLES["waico"][1]]
    assert [t["initiative"] for t in waico_row["tags"]] == ["waico"]  # type: ignore[attr-defined]
    assert waico_row["review"] is None

    table = veille("export", "--config", str(config), "--format", "csv")
    by_url = {row["canonical_url"]: row for row in csv.DictReader(io.StringIO(table.stdout))}
    assert by_url[derby_url]["review"] == f"-waico +gaigi by {user}"
    assert by_url[derby_url]["tags"] == "gaigi:reviewed"
    assert cup_url not in by_url

    included = veille("export", "--config", str(config), "--include-irrelevant")
    assert included.returncode == 0, included.stderr
    lines = included.stdout.splitlines()
    assert len(lines) == len(ARTICLES)
    all_rows = {row["canonical_url"]: row for row in map(json.loads, lines)}
    assert all_rows[cup_url]["relevant"] is False
    assert all_rows[cup_url]["review"]["note"] == "robots at a match"

    feedback = veille("review", "--feedback", "--config", str(config))
    assert feedback.returncode == 0, feedback.stderr
    text = flat(feedback.stdout)
    assert "2 story(ies) reviewed, 0 marked relevant, 1 irrelevant" in text
    assert "waico — World AI Cooperation Organization" in text
    assert "2 rejected tag(s): 1 removed, 1 on stories marked irrelevant" in text
    assert '"WAICO" (name) ×1' in text
    assert '"World Artificial Intelligence Cooperation Organization" (name) ×1' in text
    assert "sources: sportsdaily ×2" in text
    assert (
        'missed: story {} "Shanghai derby ends in a draw" (no term found)'.format(stories["derby"])
        in text
    )


def test_mistakes_are_usage_errors_and_store_nothing(
    database_url: str, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    stories = store_fixture_day(sessions, datetime.now(UTC) - timedelta(hours=2))
    config = str(write_config(tmp_path, database_url))
    derby = str(stories["derby"])
    cases = [
        (["999", "--irrelevant"], "no story 999"),
        (["https://nowhere.example/x.html", "--irrelevant"], "no story https://nowhere"),
        ([derby, "--tag", "waico", "--tag", "nope"], "unknown initiative 'nope'"),
        ([derby, "--relevant", "--irrelevant"], "contradict"),
        ([derby, "--tag", "waico", "--untag", "waico"], "same initiative: waico"),
        ([derby], "say what to decide"),
        (["--irrelevant"], "say which STORY"),
        (["--feedback", derby], "give no STORY"),
        (["--since", "2026-11-01"], "--since goes with --feedback"),
        (["--feedback", "--since", "last week"], "not a date"),
        ([derby, "--relevant", "--by", " "], "--by: give a name"),
        (["--by", "x" * 101], "--by: give a name of at most 100 characters"),
    ]
    for arguments, message in cases:
        result = runner.invoke(app, ["review", "--config", config, *arguments])
        assert result.exit_code == 2, (arguments, result.output)
        assert message in flat(result.stderr), (arguments, result.stderr)
    assert decision_count(sessions) == 0


def test_interactive_review_of_yesterday_and_today(
    database_url: str, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    stories = store_fixture_day(sessions, datetime.now(UTC) - timedelta(hours=2))
    config = str(write_config(tmp_path, database_url))

    answers = "r\nx\nt nope\nu\ni robots at a match\nq\n"
    first = runner.invoke(app, ["review", "--config", config, "--by", "bob"], input=answers)
    assert first.exit_code == 0, first.output
    out = flat(first.stdout)
    # Most important first: the story two sites carried, then by tag score and title.
    waico, cup, derby = (out.index(ARTICLES[key][2]) for key in ("waico", "cup", "derby"))
    assert waico < cup < derby
    assert "[1/3] story" in out and "2 site(s): mirror.example, wire.example" in out
    assert 'waico 5.00 "WAICO" (title)' in out  # the tag with one line of evidence
    assert 'waico 2.00 "World AI Cooperation Organization" (lead)' in out
    assert "Geneva forum" not in out  # about no followed initiative: only with --all
    assert "Answer r, i, t ID, u ID, s or q." in flat(first.stderr)
    assert "Give a known initiative id after t" in flat(first.stderr)
    assert "Recorded: untag waico." in out
    assert "3 decision(s) recorded on 2 story(ies); 0 skipped, 1 left." in out
    assert decisions(sessions) == [
        (stories["waico"], "relevant", None, "bob"),
        (stories["cup"], "untag", "waico", "bob"),
        (stories["cup"], "irrelevant", None, "bob"),
    ]

    # Reviewed stories do not come back; --all adds those about no followed initiative.
    second = runner.invoke(
        app, ["review", "--config", config, "--by", "bob", "--all"], input="s\nt gaigap\n\n"
    )
    assert second.exit_code == 0, second.output
    out = flat(second.stdout)
    assert ARTICLES["waico"][2] not in out and ARTICLES["cup"][2] not in out
    assert "[1/3] story {}".format(stories["derby"]) in out
    assert out.index(ARTICLES["forum"][2]) < out.index(ARTICLES["budget"][2])
    assert "1 decision(s) recorded on 1 story(ies); 1 skipped, 1 left." in out  # input ended
    assert decisions(sessions)[-1] == (stories["forum"], "tag", "gaigap", "bob")
