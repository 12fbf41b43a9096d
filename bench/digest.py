"""Speed of the daily digest on a busy day: 10,000 articles in 2,000 stories.

Usage: ``python bench/digest.py [--articles N] [--stories N] [--rounds N] [--postgres URL]``

Fills a new SQLite database (and, with ``--postgres``, a scratch database created on that
PostgreSQL server and dropped afterwards) with one day of ``--articles`` relevant articles
(10,000) in ``--stories`` stories (2,000), then times :func:`build_daily_digest` and each
renderer separately: the median, minimum and maximum of ``--rounds`` runs (3), each build in
a new session, and the median CPU time (on a shared machine, wall-clock time includes waiting
for a CPU).

The day is made to look like a real one, with a fixed random seed:

- 80 sources in five languages (en, fr, zh, es, de); story sizes follow a long tail (most
  stories are carried by one or a few sites, the biggest by over a hundred), and a third of
  the copies are exact ones, stored without a text of their own as the crawl stores them;
- six initiatives; each story is about one (a fifth about two), and every article has its
  tags with two to four pieces of evidence, and sometimes an irrelevant tag;
- every article compared with the seed corpus: stories are known, new or follow-ups, and
  the follow-ups' members carry two to four new facts; each comparison has its three nearest
  seeds and novel sentences, as stored by the pipeline;
- hourly crawl runs with per-source counts, three sources failing all day and two silent
  (crawled, no new article), and extraction failures;
- the six days before with a tenth of the traffic each, for the 7-day trend.

Then the planner's statistics are refreshed, as the service's daily maintenance does
(``PRAGMA optimize``, ``ANALYZE``).

Also printed: the number of SQL statements of one build, the size of each rendering, and
whether the build and the HTML rendering together stay under the 2-second target.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

REPO_ROOT = Path(__file__).resolve().parents[1]

# Run as `python bench/digest.py`, the script's own folder is on sys.path, not the repo.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from sqlalchemy import event, insert  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from bench.scratch_postgres import scratch_postgres  # noqa: E402
from scheduler.digest_model import DailyDigest, SourceWatch, build_daily_digest  # noqa: E402
from scheduler.digest_render import (  # noqa: E402
    render_atom,
    render_html,
    render_json,
    render_markdown,
    render_text,
)
from storage.database import make_session_factory, open_database  # noqa: E402
from storage.models import (  # noqa: E402
    Article,
    ArticleTag,
    CrawlRun,
    SeedComparison,
    Source,
    Story,
)
from storage.service_repository import vacuum_database  # noqa: E402

DAY = date(2026, 11, 21)
TIMEZONE = "Europe/Paris"
TARGET_SECONDS = 2.0
LANGUAGES = ("en", "fr", "zh", "es", "de")
INITIATIVES = {
    "waico": "World AI Cooperation Organization (WAICO)",
    "gaigi": "Global AI Governance Initiative",
    "dsr": "Digital Silk Road",
    "wic": "World Internet Conference",
    "gdi": "Global Development Initiative",
    "aicb": "AI Capacity-Building Action Plan",
}
SOURCES = 80
FAILING_SOURCES = 3
SILENT_SOURCES = 2
VOCABULARY = {
    "en": "the council agreed new budget members programme delegates meeting capacity cooperation "
    "governance digital forum ministers development partners artificial intelligence summit "
    "agreement countries statement framework infrastructure training centres",
    "fr": "le conseil adopte nouveau budget membres programme délégués réunion capacités "
    "coopération gouvernance numérique forum ministres développement partenaires intelligence "
    "artificielle sommet accord pays déclaration cadre infrastructures formation",
    "es": "el consejo aprueba nuevo presupuesto miembros programa delegados reunión capacidades "
    "cooperación gobernanza digital foro ministros desarrollo socios inteligencia artificial "
    "cumbre acuerdo países declaración marco infraestructura formación",
    "de": "der Rat beschließt neuen Haushalt Mitglieder Programm Delegierte Treffen Kapazitäten "
    "Zusammenarbeit Steuerung digitales Forum Minister Entwicklung Partner künstliche "
    "Intelligenz Gipfel Abkommen Länder Erklärung Rahmen Infrastruktur Ausbildung",
    "zh": "世界人工智能合作组织理事会通过预算成员国代表会议能力建设治理数字论坛"
    "部长发展伙伴峰会协议",
}
WORDS = {
    language: list(text) if language == "zh" else text.split()
    for language, text in VOCABULARY.items()
}


def sentence(language: str, rng: random.Random, words: int = 14) -> str:
    chosen = rng.choices(WORDS[language], k=words)
    if language == "zh":
        return "".join(chosen) + "。"
    return " ".join(chosen).capitalize() + "."


def article_text(language: str, rng: random.Random) -> str:
    """About 400 words (700 characters in Chinese), in paragraphs."""
    paragraphs = [
        " ".join(sentence(language, rng, rng.randint(10, 20)) for _ in range(rng.randint(3, 5)))
        for _ in range(6)
    ]
    return "\n\n".join(paragraphs)


def story_sizes(articles: int, stories: int, rng: random.Random) -> list[int]:
    """Each story has one article, and the rest go to stories along a long tail."""
    weights = [1 / (rank + 1) ** 0.6 for rank in range(stories)]
    sizes = [1] * stories
    for index in rng.choices(range(stories), weights=weights, k=articles - stories):
        sizes[index] += 1
    rng.shuffle(sizes)
    return sizes


def evidence(initiative: str, rng: random.Random) -> list[dict[str, Any]]:
    label = INITIATIVES[initiative]
    return [
        {"phrase": rng.choice([label, initiative.upper(), label.split(" (")[0].lower()]),
         "term": initiative, "zone": rng.choice(["title", "lead", "body"]),
         "start": rng.randint(0, 2000), "end": rng.randint(2000, 2100)}
        for _ in range(rng.randint(2, 4))
    ]  # fmt: skip


def comparison(status: str, seed: int, rng: random.Random) -> dict[str, Any]:
    facts = [
        {"key": f"fact-{seed}-{n}", "phrase": rng.choice([
            f"{rng.randint(1, 28)} December 2026", f"{rng.randint(2, 90)} billion yuan",
            f"{rng.randint(3, 60)} member states", f"{rng.randint(100, 900)} training centres"]),
         "kind": "number", "start": 0, "end": 10}
        for n in range(rng.randint(2, 4) if status == "follow-up" else 0)
    ]  # fmt: skip
    return {
        "status": status,
        "status_seed_id": f"seed-{seed:03d}",
        "status_reason": f"{status}: shares 0.{rng.randint(30, 90)} of seed-{seed:03d}",
        "nearest": [
            {
                "seed_id": f"seed-{(seed + n) % 120:03d}",
                "score": round(rng.random(), 3),
                "reasons": ["shared facts", "shared shingles"],
            }
            for n in range(3)
        ],
        "new_facts": facts,
        "novel_sentences": [{"text": sentence("en", rng), "start": 0, "end": 80} for _ in range(2)],
        "seed_count": 120,
    }


class DayFiller:
    """Rows for a day of crawling, inserted in bulk (the pipeline's own path is far slower)."""

    def __init__(self, session: Session, rng: random.Random) -> None:
        self.session = session
        self.rng = rng
        self.next_article = 1
        self.next_story = 1
        self.sources = [f"source-{n:02d}" for n in range(SOURCES)]
        self.languages = {s: LANGUAGES[n % len(LANGUAGES)] for n, s in enumerate(self.sources)}
        self.quiet = set(self.sources[: FAILING_SOURCES + SILENT_SOURCES])  # nothing stored
        session.execute(insert(Source), [
            {"id": s, "name": f"Source {n:02d} ({self.languages[s]})"}
            for n, s in enumerate(self.sources)
        ])  # fmt: skip

    def fill(self, day: date, articles: int, stories: int) -> None:
        rng = self.rng
        zone = ZoneInfo(TIMEZONE)
        midnight = datetime.combine(day, datetime.min.time(), tzinfo=zone).astimezone(UTC)
        loud = [s for s in self.sources if s not in self.quiet]
        article_rows: list[dict[str, Any]] = []
        tag_rows: list[dict[str, Any]] = []
        comparison_rows: list[dict[str, Any]] = []
        story_rows: list[dict[str, Any]] = []
        for size in story_sizes(articles, stories, rng):
            story_id = self.next_story
            self.next_story += 1
            topics = rng.sample(list(INITIATIVES), 2 if rng.random() < 0.2 else 1)
            status = rng.choices(["known", "new", "follow-up"], weights=[4, 3.5, 2.5])[0]
            seed = rng.randint(0, 119)
            first_fetch = midnight + timedelta(minutes=rng.randint(0, 23 * 60))
            members = []
            for n in range(size):
                article_id = self.next_article
                self.next_article += 1
                source = rng.choice(loud)
                language = self.languages[source]
                exact = n > 0 and rng.random() < 0.33
                fetched = first_fetch + timedelta(minutes=rng.randint(0, 59) if n else 0)
                url = f"https://{source}.example/{day.isoformat()}/story-{story_id}-{n}.html"
                title = f"{INITIATIVES[topics[0]].split(' (')[0]}: " + sentence(language, rng, 7)
                article_rows.append({
                    "id": article_id, "source_id": source, "url": url, "canonical_url": url,
                    "final_url": url, "title": title if not exact else members[0]["title"],
                    "text": None if exact else article_text(language, rng),
                    "language": language, "published": fetched - timedelta(hours=1),
                    "published_from": "page", "fetched_at": fetched, "relevant": True,
                    "tagged_at": fetched, "story_id": story_id,
                    "duplicate_of": members[0]["id"] if exact else None,
                    "similarity": 1.0 if exact else None,
                })  # fmt: skip
                members.append(article_rows[-1])
                for initiative in topics:
                    tag_rows.append({
                        "article_id": article_id, "initiative": initiative,
                        "score": round(rng.uniform(1.0, 4.0), 2), "relevant": True,
                        "evidence": evidence(initiative, rng),
                    })  # fmt: skip
                if rng.random() < 0.15:
                    other = rng.choice([i for i in INITIATIVES if i not in topics])
                    tag_rows.append({"article_id": article_id, "initiative": other, "score": 0.3,
                                     "relevant": False, "evidence": []})  # fmt: skip
                member_status = status if n == 0 or status != "follow-up" else rng.choice(
                    ["follow-up", "known"])  # fmt: skip
                comparison_rows.append(
                    {"article_id": article_id, "compared_at": fetched,
                     **comparison(member_status, seed, rng)}
                )  # fmt: skip
            story_rows.append({
                "id": story_id, "representative_id": members[0]["id"], "title": members[0]["title"],
                "first_seen": members[0]["fetched_at"],
                "last_seen": max(m["fetched_at"] for m in members),
                "article_count": size, "site_count": len({m["source_id"] for m in members}),
                "languages": sorted({m["language"] for m in members}),
            })  # fmt: skip
        self.session.execute(insert(Story), story_rows)
        self.session.execute(insert(Article), article_rows)
        self.session.execute(insert(ArticleTag), tag_rows)
        self.session.execute(insert(SeedComparison), comparison_rows)

    def crawl_runs(self, day: date) -> None:
        """Hourly runs of every source, from the evening before to the end of ``day``."""
        zone = ZoneInfo(TIMEZONE)
        midnight = datetime.combine(day, datetime.min.time(), tzinfo=zone).astimezone(UTC)
        failing = self.sources[:FAILING_SOURCES]
        runs = []
        for hour in range(-6, 24):
            per_source = {
                s: {"feeds_polled": 0 if s in failing else 2,
                    "feeds_failed": 2 if s in failing else 0,
                    "articles_new": 0 if s in self.quiet else self.rng.randint(0, 12),
                    "failures": {"feeds/failed/http_404": 2} if s in failing else {}}
                for s in self.sources
            }  # fmt: skip
            started = midnight + timedelta(hours=hour, minutes=2)
            runs.append({
                "trigger": "schedule", "source_ids": list(self.sources), "status": "finished",
                "started_at": started, "finished_at": started + timedelta(minutes=9),
                "feeds_polled": sum(c["feeds_polled"] for c in per_source.values()),
                "feeds_failed": sum(c["feeds_failed"] for c in per_source.values()),
                "entries_seen": 1200, "articles_new": 330, "articles_known": 870,
                "articles_failed": 5,
                "failures": {"articles/failed/empty_extraction": 4,
                             "articles/failed/not_html": 1},
                "stats": {"per_source": per_source},
            })  # fmt: skip
        self.session.execute(insert(CrawlRun), runs)


def fill_database(sessions: sessionmaker[Session], articles: int, stories: int) -> None:
    rng = random.Random(20261121)
    with sessions.begin() as session:
        filler = DayFiller(session, rng)
        for back in range(6, 0, -1):
            filler.fill(DAY - timedelta(days=back), articles // 10, stories // 10)
        filler.fill(DAY, articles, stories)
        filler.crawl_runs(DAY)


WATCH = SourceWatch({f"source-{n:02d}": timedelta(hours=1) for n in range(SOURCES)}, 4)


def build(sessions: sessionmaker[Session]) -> DailyDigest:
    with sessions() as session:
        return build_daily_digest(session, DAY, TIMEZONE, labels=INITIATIVES, watch=WATCH)


def timed(function: Callable[[], Any], rounds: int) -> tuple[list[float], list[float], Any]:
    """Wall-clock and CPU seconds of each run, and the last result."""
    wall, cpu = [], []
    result = None
    for _ in range(rounds):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = function()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return wall, cpu, result


def count_statements(engine: Engine, function: Callable[[], Any]) -> int:
    statements = []

    def seen(*_args: object) -> None:
        statements.append(1)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        function()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    return len(statements)


def run(url: str, articles: int, stories: int, rounds: int) -> None:
    engine = open_database(url)
    sessions = make_session_factory(engine)
    started = time.perf_counter()
    fill_database(sessions, articles, stories)
    vacuum_database(engine, full=False)  # the planner's statistics, as daily maintenance does
    filled = time.perf_counter() - started
    print(f"\n{engine.dialect.name}: filled in {filled:.1f} s "
          f"({articles} articles in {stories} stories on {DAY}, 10% of that on each of the "
          f"6 days before)")  # fmt: skip
    statements = count_statements(engine, lambda: build(sessions))
    wall, cpu, digest = timed(lambda: build(sessions), rounds)
    rows: list[tuple[str, list[float], list[float], str]] = [
        ("build_daily_digest", wall, cpu, f"{statements} SQL statements")
    ]
    html = ""
    for name, renderer in [("render_text", render_text), ("render_markdown", render_markdown),
                           ("render_html", render_html), ("render_json", render_json)]:  # fmt: skip
        wall, cpu, rendered = timed(lambda renderer=renderer: renderer(digest), rounds)
        rows.append((name, wall, cpu, f"{len(rendered.encode()) / 1024:,.0f} KiB"))
        html = rendered if name == "render_html" else html
    wall, cpu, atom = timed(
        lambda: render_atom([(DAY, html)], "https://veille.example/d.atom"), rounds
    )
    rows.append(("render_atom (1 day)", wall, cpu, f"{len(atom) / 1024:,.0f} KiB"))
    print(f"{'step':<22}{'median':>9}{'min':>9}{'max':>9}{'CPU':>9}  output")
    for name, wall, cpu, note in rows:
        print(f"{name:<22}{statistics.median(wall):>8.3f}s{min(wall):>8.3f}s"
              f"{max(wall):>8.3f}s{statistics.median(cpu):>8.3f}s  {note}")  # fmt: skip
    total = statistics.median(rows[0][1]) + statistics.median(rows[3][1])
    total_cpu = statistics.median(rows[0][2]) + statistics.median(rows[3][2])
    verdict = "under" if total < TARGET_SECONDS else "OVER"
    print(f"build + HTML: {total:.2f} s ({total_cpu:.2f} s of CPU), {verdict} the "
          f"{TARGET_SECONDS:.0f} s target")  # fmt: skip
    sections = ", ".join(f"{s.initiative} {len(s.stories)}+{len(s.known)}" for s in digest.sections)
    print(f"digest: {digest.article_count} articles, {digest.story_count} stories; stories "
          f"(+known) per initiative: {sections}; {len(digest.failing_sources)} failing and "
          f"{len(digest.silent_sources)} silent sources, {len(digest.runs)} runs")  # fmt: skip
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=10_000, help="articles on the day")
    parser.add_argument("--stories", type=int, default=2_000, help="stories on the day")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each step (median)")
    parser.add_argument(
        "--postgres", metavar="URL",
        help="also on PostgreSQL, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    )  # fmt: skip
    args = parser.parse_args()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load}: the wall-clock times include waiting "
          "for a CPU; the CPU column does not")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        run(f"sqlite:///{folder}/digest.db", args.articles, args.stories, args.rounds)
    if args.postgres:
        with scratch_postgres(args.postgres) as url:
            run(url, args.articles, args.stories, args.rounds)


if __name__ == "__main__":
    main()
