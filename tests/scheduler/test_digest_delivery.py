"""Delivering the digest through apprise: a real SMTP server and a webhook on 127.0.0.1.

The digest is stored before any delivery; each target's outcome, tries and last error are
recorded with the URL's secrets masked; failed tries are retried with exponential backoff.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crawler.config import ConfigError, load_config
from scheduler.digest_delivery import (
    STORED_FORMATS,
    StoredDigest,
    deliver_digest,
    masked_url,
    store_digest,
)
from scheduler.digest_model import build_daily_digest
from storage.models import Digest, DigestDelivery
from storage.records import TagRecord
from storage.repository import store_article
from tests.storage.test_repository import add_source, make_record

DAY = date(2026, 11, 21)
TIMEZONE = "Europe/Paris"
TITLE = "WAICO council approves its first budget"
SUBJECT = "Veille daily digest for 2026-11-21"
TINY = timedelta(milliseconds=20)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Received:
    recipients: list[str]
    message: EmailMessage


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    received: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(Received(list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@dataclass
class MailServer:
    port: int
    inbox: Inbox
    controller: Controller
    running: bool = True

    def stop(self) -> None:
        self.controller.stop()
        self.running = False

    def url(self, *recipients: str) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=veille@example.org&to={','.join(recipients)}"


@contextmanager
def running_mail_server() -> Iterator[MailServer]:
    """A real SMTP server on 127.0.0.1 (aiosmtpd), stopped at the end if still running."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    server = MailServer(port, inbox, controller)
    try:
        yield server
    finally:
        if server.running:
            server.stop()


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    with running_mail_server() as server:
        yield server


class CountingStop(threading.Event):
    """A stop event that remembers each wait asked of it (and really waits)."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(round(timeout or 0, 3))
        return super().wait(timeout)


class StopDuringWait(threading.Event):
    """A stop requested while the delivery waits to try again."""

    def wait(self, timeout: float | None = None) -> bool:
        self.set()
        return super().wait(timeout)


def stored_digest(sessions: sessionmaker[Session]) -> StoredDigest:
    """A day with one relevant story, built and stored in every format (committed)."""
    add_source(sessions)
    record = replace(
        make_record("https://wire.example/waico-budget.html"),
        tags=(TagRecord("waico", 2.0, True, ()),),
    )
    record = replace(record, extracted=replace(record.extracted, title=TITLE))
    with sessions.begin() as session:
        store_article(session, record)
    with sessions.begin() as session:
        digest = build_daily_digest(session, DAY, TIMEZONE, labels={"waico": "WAICO"})
        return store_digest(session, digest, trigger="cli")


def deliveries(sessions: sessionmaker[Session]) -> list[tuple[DigestDelivery, Digest]]:
    with sessions() as session:
        rows = session.execute(
            select(DigestDelivery, Digest)
            .join(Digest, Digest.id == DigestDelivery.digest_id)
            .order_by(DigestDelivery.id)
        )
        return [(delivery, digest) for delivery, digest in rows]


def test_the_digest_arrives_by_mail_as_html_with_a_plain_text_alternative(
    sessions: sessionmaker[Session], mail_server: MailServer
) -> None:
    stored = stored_digest(sessions)
    url = mail_server.url("analyst@example.org", "lead@example.org")

    [outcome] = deliver_digest(sessions, stored, [url], attempts=3, backoff=TINY)

    assert (outcome.delivered, outcome.attempts, outcome.format) == (True, 1, "html")
    received = mail_server.inbox.received
    assert sorted(r for mail in received for r in mail.recipients) == [
        "analyst@example.org",
        "lead@example.org",
    ]
    for mail in received:
        message = mail.message
        assert message["Subject"] == SUBJECT
        assert message["From"].addresses[0].addr_spec == "veille@example.org"
        assert message.get_content_type() == "multipart/alternative"
        parts = {part.get_content_type(): part for part in message.iter_parts()}
        assert set(parts) == {"text/plain", "text/html"}
        html = parts["text/html"].get_content()
        text = parts["text/plain"].get_content()
        assert f"<h1>{SUBJECT}</h1>" in html and TITLE in html
        assert TITLE in text and SUBJECT in text
        assert "<h1>" not in text and "<style" not in text
    [(delivery, digest)] = deliveries(sessions)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("delivered", 1, None)
    assert delivery.finished_at is not None and delivery.finished_at >= delivery.started_at
    assert (
        delivery.target
        == f"mailto://127.0.0.1:{mail_server.port}/analyst@example.org/lead@example.org"
    )
    assert (digest.id, digest.format) == (stored.ids["html"], "html")


def test_with_the_mail_server_stopped_the_digest_stays_and_the_failure_is_recorded(
    sessions: sessionmaker[Session], mail_server: MailServer, caplog: pytest.LogCaptureFixture
) -> None:
    stored = stored_digest(sessions)
    mail_server.stop()
    url = (
        f"mailto://veille:s3cret-passw0rd@127.0.0.1:{mail_server.port}"
        "?from=veille@example.org&to=analyst@example.org"
    )
    stop = CountingStop()

    with caplog.at_level(logging.WARNING, logger="scheduler.digest_delivery"):
        [outcome] = deliver_digest(sessions, stored, [url], attempts=3, backoff=TINY, stop=stop)

    assert (outcome.delivered, outcome.attempts) == (False, 3)
    assert stop.waits == [0.02, 0.04]  # 20 ms, then twice as long: exponential backoff
    assert mail_server.inbox.received == []
    with sessions() as session:  # the digest was stored before, and stays
        kept = {row.format: row.content for row in session.scalars(select(Digest))}
    assert set(kept) == set(STORED_FORMATS) and TITLE in kept["html"]
    [(delivery, _digest)] = deliveries(sessions)
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert delivery.last_error is not None and "127.0.0.1" in delivery.last_error
    assert delivery.finished_at is not None
    for shown in (delivery.target, delivery.last_error, outcome.target, caplog.text):
        assert "s3cret-passw0rd" not in shown
    assert delivery.target.startswith("mailto://veille:****@127.0.0.1:")
    assert caplog.text.count("next try in") == 2
    assert "failed after 3 tries" in caplog.text


def test_a_webhook_gets_the_markdown_digest_and_a_server_error_is_retried(
    sessions: sessionmaker[Session], httpserver: HTTPServer
) -> None:
    stored = stored_digest(sessions)
    for _ in range(2):
        httpserver.expect_ordered_request("/hook", method="POST").respond_with_data(
            "busy", status=503
        )
    httpserver.expect_ordered_request("/hook", method="POST").respond_with_data("ok")
    url = f"json://127.0.0.1:{httpserver.port}/hook?+X-Api-Key=header-secret-value"

    [outcome] = deliver_digest(sessions, stored, [url], attempts=4, backoff=TINY)

    assert (outcome.delivered, outcome.attempts, outcome.format) == (True, 3, "md")
    requests = [request for request, _response in httpserver.log]
    assert len(requests) == 3
    assert requests[-1].headers["X-Api-Key"] == "header-secret-value"
    payload = json.loads(requests[-1].get_data())
    assert payload["title"] == SUBJECT
    assert payload["message"] == stored.contents["md"].strip()
    assert f"# {SUBJECT}" in payload["message"] and TITLE in payload["message"]
    [(delivery, digest)] = deliveries(sessions)
    assert (delivery.status, delivery.attempts, digest.format) == ("delivered", 3, "md")
    assert delivery.last_error is not None and "503" in delivery.last_error  # the last failure
    assert delivery.target == f"json://127.0.0.1:{httpserver.port}/hook"  # no header value


def test_each_target_is_tried_and_recorded_apart(
    sessions: sessionmaker[Session], mail_server: MailServer, httpserver: HTTPServer
) -> None:
    stored = stored_digest(sessions)
    httpserver.expect_request("/hook").respond_with_data("ok")
    dead = f"json://127.0.0.1:{free_port()}/dead"
    urls = [
        dead,
        mail_server.url("analyst@example.org"),
        f"json://127.0.0.1:{httpserver.port}/hook",
    ]

    outcomes = deliver_digest(sessions, stored, urls, attempts=2, backoff=TINY)

    assert [(o.delivered, o.attempts) for o in outcomes] == [(False, 2), (True, 1), (True, 1)]
    assert len(mail_server.inbox.received) == 1 and len(httpserver.log) == 1
    recorded = [(d.status, d.attempts, row.format) for d, row in deliveries(sessions)]
    assert recorded == [("failed", 2, "md"), ("delivered", 1, "html"), ("delivered", 1, "md")]


def test_a_stop_request_ends_the_retries_and_records_the_failure(
    sessions: sessionmaker[Session],
) -> None:
    stored = stored_digest(sessions)
    stop = threading.Event()
    stop.set()  # e.g. SIGTERM before the delivery starts
    dead = f"json://127.0.0.1:{free_port()}/hook"

    outcomes = deliver_digest(sessions, stored, [dead, dead], attempts=5, backoff=TINY, stop=stop)

    assert outcomes == []  # asked to stop before the first target: nothing tried
    outcomes = deliver_digest(
        sessions,
        stored,
        [dead, dead],
        attempts=5,
        backoff=timedelta(hours=1),
        stop=StopDuringWait(),
    )
    assert [(o.delivered, o.attempts) for o in outcomes] == [(False, 1)]
    [(delivery, _digest)] = deliveries(sessions)
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert delivery.last_error is not None and "stopped before try 2 of 5" in delivery.last_error


def test_masked_urls_keep_the_host_and_drop_passwords_tokens_and_query() -> None:
    from apprise import Apprise

    def masked(url: str) -> str:
        service = Apprise.instantiate(url)
        assert service is not None
        return masked_url(service)

    assert masked("mailtos://user:hunter22@smtp.example.org?to=a@example.org") == (
        "mailtos://user:****@smtp.example.org/a@example.org"
    )
    assert masked("json://127.0.0.1:8080/hook?+Authorization=Bearer-abcdef") == (
        "json://127.0.0.1:8080/hook"
    )
    slack = masked("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ")
    assert "TIiajkdnlazkcOXrIdevi7FQ" not in slack and slack.startswith("slack://")


def test_deliver_to_urls_are_checked_when_the_configuration_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "veille.toml"
    path.write_text(
        '[digest]\ndeliver_to = ["json://127.0.0.1:9/hook", "slack://secret-token-here"]\n'
        'delivery_attempts = 2\ndelivery_backoff = "10ms"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as problem:
        load_config(path, environ={})
    message = str(problem.value)
    assert "[digest]: deliver_to: entry 2 is not a URL apprise can send to (slack://" in message
    assert "secret-token-here" not in message

    path.write_text(
        '[digest]\ndeliver_to = [" json://127.0.0.1:9/hook "]\ndelivery_backoff = "10ms"\n',
        encoding="utf-8",
    )
    digest = load_config(path, environ={}).digest
    assert digest.deliver_to == ["json://127.0.0.1:9/hook"]
    assert (digest.delivery_attempts, digest.delivery_backoff) == (4, TINY / 2)
