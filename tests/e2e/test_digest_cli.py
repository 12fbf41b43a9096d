"""``veille digest`` through the CLI on a crawled fixture site; ``--send`` to a real SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
from sqlalchemy import select, update

from storage.database import make_session_factory, open_database
from storage.models import Article, Digest, DigestDelivery
from tests.e2e.test_crawl_cli import veille
from tests.fixture_site import NewsSite
from tests.scheduler.test_digest_delivery import running_mail_server

PARIS = ZoneInfo("Europe/Paris")


def test_digest_of_the_day_in_every_format(
    news_site: NewsSite, sqlite_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "veille.toml"
    config.write_text(news_site.config_text(sqlite_url), encoding="utf-8")
    assert veille("crawl", "--config", str(config), "--quiet").returncode == 0
    today = datetime.now(UTC).astimezone(ZoneInfo("Europe/Paris")).date().isoformat()

    markdown = veille("digest", "--config", str(config), "--date", today, "--format", "md")
    assert markdown.returncode == 0, markdown.stderr
    assert f"# Veille daily digest for {today}" in markdown.stdout
    assert "## World AI Cooperation Organization" in markdown.stdout
    assert "Founding members sign charter" in markdown.stdout
    assert "A page that fails once" not in markdown.stdout  # about no initiative: hidden

    page = tmp_path / "digest.html"
    html = veille("digest", "--config", str(config), "--date", today, "--format", "html",
                  "--output", str(page))  # fmt: skip
    assert html.returncode == 0, html.stderr
    content = page.read_text(encoding="utf-8")
    assert "<svg" in content and "<script" not in content

    atom = veille("digest", "--config", str(config), "--date", today, "--format", "atom")
    feed = feedparser.parse(atom.stdout.encode())
    assert not feed.bozo and len(feed.entries) == 7

    bad = veille("digest", "--config", str(config), "--date", "yesterday")
    assert bad.returncode == 2 and "not a date" in bad.stderr


def test_by_default_yesterday_and_today_and_send_delivers_it_by_mail(
    news_site: NewsSite, sqlite_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "veille.toml"
    settings = news_site.config_text(sqlite_url)
    config.write_text(settings, encoding="utf-8")
    assert veille("crawl", "--config", str(config), "--quiet").returncode == 0
    today = datetime.now(UTC).astimezone(PARIS).date()
    yesterday = today - timedelta(days=1)
    # One story was stored yesterday at noon, Paris time.
    noon = datetime.combine(yesterday, time(12), tzinfo=PARIS)
    engine = open_database(sqlite_url)
    with make_session_factory(engine).begin() as session:
        session.execute(
            update(Article)
            .where(Article.title.like("%Founding members sign charter%"))
            .values(fetched_at=noon)
        )
    engine.dispose()

    only_today = veille("digest", "--config", str(config), "--date", today.isoformat(), "-f", "md")
    assert only_today.returncode == 0, only_today.stderr
    assert "Founding members sign charter" not in only_today.stdout
    both = veille("digest", "--config", str(config), "-f", "md")
    assert both.returncode == 0, both.stderr
    heading = both.stdout.splitlines()[0]
    assert yesterday.isoformat() in heading and today.isoformat() in heading
    assert "Founding members sign charter" in both.stdout

    no_target = veille("digest", "--config", str(config), "--send")
    assert no_target.returncode == 2 and "deliver_to" in no_target.stderr

    with running_mail_server() as mail_server:
        url = mail_server.url("analyst@example.org")
        digest_settings = f'[digest]\ndeliver_to = ["{url}"]\ndelivery_attempts = 2\n'
        config.write_text(settings + digest_settings + 'delivery_backoff = "10ms"\n', "utf-8")
        sent = veille("digest", "--config", str(config), "--send")
        assert sent.returncode == 0, sent.stderr
        assert "Founding members sign charter" in sent.stdout  # the text digest, as without --send
        target = f"mailto://127.0.0.1:{mail_server.port}/analyst@example.org"
        assert f"Sent to {target} (html, 1 try)" in sent.stderr
        [mail] = mail_server.inbox.received
        assert mail.recipients == ["analyst@example.org"]
        message: EmailMessage = mail.message
        assert message["Subject"] == heading.removeprefix("# ")
        parts = {part.get_content_type(): part.get_content() for part in message.iter_parts()}
        assert set(parts) == {"text/plain", "text/html"}
        assert "Founding members sign charter" in parts["text/html"]
        assert "Founding members sign charter" in parts["text/plain"]

        mail_server.stop()
        failed = veille("digest", "--config", str(config), "--send")
        assert failed.returncode == 3
        assert f"Not sent to {target} after 2 tries" in failed.stderr
        assert f"the digest is stored, but 1 of 1 deliveries failed: {target}" in failed.stderr
    engine = open_database(sqlite_url)
    with make_session_factory(engine)() as session:
        digests = session.scalars(select(Digest).order_by(Digest.id)).all()
        outcomes = [(d.status, d.attempts) for d in session.scalars(select(DigestDelivery))]
    engine.dispose()
    assert [(d.format, d.day, d.days, d.trigger) for d in digests] == 2 * [
        (name, today, 2, "cli") for name in ("text", "md", "html", "json")
    ]
    assert outcomes == [("delivered", 1), ("failed", 2)]

    atom = veille("digest", "--config", str(config), "--send", "--format", "atom")
    assert atom.returncode == 2 and "Atom" in atom.stderr
