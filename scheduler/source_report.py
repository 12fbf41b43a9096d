"""Each source's health, for ``veille sources``: its targets' pace and failures, its last run.

A source is judged twice. By its crawl runs (:func:`scheduler.status.assess_source`):
failing when every poll failed in its last runs, silent when crawled for several of its
usual intervals without a new article. And by its poll targets: a feed, sitemap or page
whose failure score reached ``[crawl] failing_score`` is failing, and a source all of whose
targets fail is failing. The last run gives the figures: items found, new articles, the
share extracted and the share with a publication date.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from crawler.config import Config, SourceConfig
from scheduler.status import judge_sources
from storage.models import CrawlRun


@dataclass(frozen=True)
class RunFigures:
    """What one run found for one source."""

    items_found: int
    new_articles: int
    extraction_rate: float | None
    """Share of fetched pages whose text could be extracted (None: nothing was fetched)."""
    dated_share: float | None
    """Share of new articles with a publication date from the page or the feed."""


@dataclass(frozen=True)
class SourceReport:
    source: SourceConfig
    state: str
    detail: str
    targets: int
    failing_targets: int
    interval: timedelta | None
    adaptive: bool
    last_poll: datetime | None
    next_poll: datetime | None
    last_new: datetime | None
    last_run: RunFigures | None


def run_figures(run: CrawlRun, source_id: str) -> RunFigures | None:
    counts = ((run.stats or {}).get("per_source") or {}).get(source_id)
    if counts is None:
        return None
    new = int(counts.get("articles_new", 0))
    failed_extraction = int(counts.get("extraction_failed", 0))
    extracted = new + failed_extraction
    return RunFigures(
        items_found=int(counts.get("entries_seen", 0)),
        new_articles=new,
        extraction_rate=new / extracted if extracted else None,
        dated_share=int(counts.get("articles_dated", 0)) / new if new else None,
    )


def source_reports(session: Session, config: Config, now: datetime) -> list[SourceReport]:
    """A report for every configured source (disabled ones too, marked so)."""
    reports = []
    for judged in judge_sources(session, config, config.sources, now):
        source, targets = judged.source, judged.targets
        reports.append(
            SourceReport(
                source=source,
                state="disabled" if not source.enabled else str(judged.health.state),
                detail=judged.health.detail,
                targets=len(targets),
                failing_targets=judged.failures.failing,
                interval=judged.interval,
                adaptive=source.interval is None,
                last_poll=_latest(t.last_polled_at for t in targets),
                next_poll=min((t.next_poll_at for t in targets if t.next_poll_at), default=None),
                last_new=_latest(t.last_new_at for t in targets),
                last_run=run_figures(judged.runs[0], source.id) if judged.runs else None,
            )
        )
    return reports


def _latest(moments: Iterable[datetime | None]) -> datetime | None:
    return max((moment for moment in moments if moment is not None), default=None)
