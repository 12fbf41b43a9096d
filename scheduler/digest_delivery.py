"""A digest leaves Veille: stored in every format first, then sent to each apprise target.

Storing comes first and is committed on its own, so a delivery that fails never loses the
digest. Each target (an apprise URL from ``[digest] deliver_to``) is tried up to
``attempts`` times, waiting ``backoff``, then twice as long, and so on between tries. Every
try is recorded in ``digest_deliveries``: status, attempts, last error, with the target's
URL masked, since it may hold a password or a token.

What each target gets: e-mail the HTML page (apprise sends it as ``multipart/alternative``
with a ``text/plain`` part it derives from the HTML); any other service the Markdown
digest if it takes Markdown or HTML (Slack, Telegram, a JSON webhook...), the plain-text
one otherwise. A ``?format=text|markdown|html`` on the URL overrides the choice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from sqlalchemy.orm import Session, sessionmaker

from scheduler.digest_model import DailyDigest
from scheduler.digest_render import (
    digest_title,
    render_html,
    render_json,
    render_markdown,
    render_text,
)
from storage.models import DeliveryStatus
from storage.service_repository import add_digest, record_delivery_attempt, start_delivery

if TYPE_CHECKING:
    from apprise.plugins.base import NotifyBase

logger = logging.getLogger(__name__)

STORED_FORMATS: dict[str, Callable[[DailyDigest], str]] = {
    "text": render_text,
    "md": render_markdown,
    "html": render_html,
    "json": render_json,
}
"""Every stored digest is kept in each of these formats, one ``digests`` row each."""

_SENT_AS = {"html": "html", "markdown": "md", "text": "text"}
"""Apprise's body formats (``NotifyFormat`` values), and the stored digest each one gets."""
_MASK = "****"


@dataclass(frozen=True)
class StoredDigest:
    """A digest as stored: its title (the mail subject), and per format its row and text."""

    title: str
    ids: Mapping[str, int]
    contents: Mapping[str, str]


@dataclass(frozen=True)
class DeliveryOutcome:
    """How sending to one target ended."""

    target: str
    """The URL with its secrets masked."""
    format: str
    delivered: bool
    attempts: int
    error: str | None


def initiative_labels(taxonomy: Path | None) -> dict[str, str]:
    """The initiatives' display names, from the configured (or shipped) taxonomy."""
    from pipelines.taxonomy import load_taxonomy  # compiles the taxonomy: only when asked

    return {initiative.id: initiative.label for initiative in load_taxonomy(taxonomy).initiatives}


def store_digest(
    session: Session, digest: DailyDigest, *, trigger: str, job_run_id: int | None = None
) -> StoredDigest:
    """Render ``digest`` in every stored format and add one row each (flushed, not committed)."""
    contents = {name: render(digest) for name, render in STORED_FORMATS.items()}
    ids = {
        name: add_digest(
            session,
            day=digest.day,
            days=digest.days,
            timezone=digest.timezone,
            format=name,
            content=content,
            trigger=trigger,
            job_run_id=job_run_id,
        ).id
        for name, content in contents.items()
    }
    return StoredDigest(title=digest_title(digest), ids=ids, contents=contents)


def deliver_digest(
    sessions: sessionmaker[Session],
    stored: StoredDigest,
    urls: Sequence[str],
    *,
    attempts: int,
    backoff: timedelta,
    stop: threading.Event | None = None,
) -> list[DeliveryOutcome]:
    """Send ``stored`` to each URL in turn, retrying with exponential backoff; record it all.

    Each record is committed as soon as it changes, so ``veille status`` and a crash
    both see how far delivery went. Setting ``stop`` cuts the waiting short: the target
    in hand is recorded as failed and the others are not tried.
    """
    stop = stop or threading.Event()
    outcomes = []
    for url in urls:
        if stop.is_set():
            break
        outcomes.append(_deliver(sessions, stored, url, attempts, backoff, stop))
    return outcomes


def _deliver(
    sessions: sessionmaker[Session],
    stored: StoredDigest,
    url: str,
    attempts: int,
    backoff: timedelta,
    stop: threading.Event,
) -> DeliveryOutcome:
    service = _service(url)
    target = masked_url(service)
    sent_as = _SENT_AS.get(service.resolve_format(_preferred_format(service)), "text")
    with sessions.begin() as session:
        delivery_id = start_delivery(session, digest_id=stored.ids[sent_as], target=target).id
    error: str | None = None
    tries = 0
    for tries in range(1, attempts + 1):
        # A fresh service object per try: apprise's own throttle (5.5 s between two
        # mails from one object) would otherwise stretch short backoffs.
        error = _send(_service(url), stored.title, stored.contents[sent_as], sent_as, url)
        if error is None:
            _record(sessions, delivery_id, tries, DeliveryStatus.DELIVERED)
            logger.info("Digest %r sent to %s (%s)", stored.title, target, sent_as)
            return DeliveryOutcome(
                target=target, format=sent_as, delivered=True, attempts=tries, error=None
            )
        if tries == attempts:
            _record(sessions, delivery_id, tries, DeliveryStatus.FAILED, error)
            break
        _record(sessions, delivery_id, tries, DeliveryStatus.SENDING, error)
        delay = (backoff * 2 ** (tries - 1)).total_seconds()
        logger.warning(
            "Digest delivery to %s failed (try %d of %d): %s; next try in %.3gs",
            target, tries, attempts, error, delay,
        )  # fmt: skip
        if stop.wait(delay):
            error = f"{error} (stopped before try {tries + 1} of {attempts})"
            _record(sessions, delivery_id, tries, DeliveryStatus.FAILED, error)
            break
    logger.error("Digest delivery to %s failed after %d tries: %s", target, tries, error)
    return DeliveryOutcome(
        target=target, format=sent_as, delivered=False, attempts=tries, error=error
    )


def _record(
    sessions: sessionmaker[Session],
    delivery_id: int,
    tries: int,
    status: DeliveryStatus,
    error: str | None = None,
) -> None:
    with sessions.begin() as session:
        record_delivery_attempt(session, delivery_id, attempts=tries, status=status, error=error)


def _service(url: str) -> NotifyBase:
    # Apprise loads ~180 plugins: imported when a digest is sent, not by every command.
    from apprise import Apprise

    service = Apprise.instantiate(url)
    if service is None:  # the configuration checks every URL when it is loaded
        raise ValueError("apprise cannot use a deliver_to URL (check the configuration)")
    return service


def _preferred_format(service: NotifyBase) -> str:
    """HTML for e-mail (a page with a text alternative); Markdown for chat and webhooks."""
    from apprise.plugins.email import NotifyEmail

    return "html" if isinstance(service, NotifyEmail) else "markdown"


def _send(service: NotifyBase, title: str, body: str, sent_as: str, url: str) -> str | None:
    """One try: None when it went through, else what apprise said went wrong."""
    from apprise import Apprise

    body_format = next(key for key, value in _SENT_AS.items() if value == sent_as)
    messenger = Apprise()
    messenger.add(service)
    result = messenger.notify(body=body, title=title, body_format=body_format)
    if result:
        return None
    said = dict.fromkeys(
        entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR")
    )
    return _mask_secrets("; ".join(said) or f"apprise: {result.status.name.lower()}", url)


def masked_url(service: NotifyBase) -> str:
    """The target as people may see it: apprise's private URL, without its query string.

    Apprise masks passwords and tokens, but not every custom header or parameter a
    webhook URL can carry in its query (``json://host/hook?+X-Api-Key=...``).
    """
    parts = urlsplit(service.url(privacy=True))
    return unquote(parts._replace(query="", fragment="").geturl())


def _mask_secrets(text: str, url: str) -> str:
    """``text`` without the URL's password, query values and token-like path segments."""
    parts = urlsplit(url)
    secrets = [parts.password or ""]
    secrets += [pair.partition("=")[2] for pair in parts.query.split("&")]
    secrets += [segment for segment in parts.path.split("/") if "@" not in segment]
    for secret in sorted({unquote(s) for s in secrets if len(s) >= 6}, key=len, reverse=True):
        text = text.replace(secret, _MASK)
    return text
