"""The CPU-bound work of the item pipelines for one page, as the crawl's CPU pool runs it.

:func:`prepare_page` does, in a worker process, what the stages would do in turn in the crawl
process and what needs neither the database nor the crawl's near-duplicate index: the
extraction stage (:func:`~pipelines.extraction.build_article`), the tagging stage
(:func:`~pipelines.tagging.tag_record`), the fingerprints that the dedup stage looks up
(:func:`~pipelines.dedup.fingerprint_article`) and the facts that the seed stage compares
(:func:`~pipelines.seed_compare.article_facts`). The stages call the same functions when they
find a record without them, so a record is the same whichever process prepared it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy.orm import Session

from pipelines.cpu_pool import PreparedArticle
from pipelines.dedup import fingerprint_article
from pipelines.extraction import build_article, detect_language
from pipelines.facts import extract_facts
from pipelines.fingerprint import minhash_signature
from pipelines.seed_compare import article_facts, compared_language, has_seed_corpus
from pipelines.tagging import tag_record
from pipelines.taxonomy import Taxonomy, load_taxonomy_once
from storage.records import FetchedPage, compress_body

_WARM_UP_TEXT = "The World AI Conference opened in Shanghai on 26 July 2025 with 1,200 guests."


@dataclass(frozen=True, slots=True)
class PageJob:
    """What every page of a crawl is prepared with; each worker receives it once."""

    taxonomy_path: str | None
    facts: bool
    """Whether the crawl compares relevant articles with a seed corpus, and so needs their
    facts."""

    @classmethod
    def for_crawl(cls, taxonomy_path: str | None, session: Session) -> PageJob:
        return cls(taxonomy_path, facts=has_seed_corpus(session))

    def taxonomy(self) -> Taxonomy:
        """The crawl's taxonomy, compiled once per process."""
        return load_taxonomy_once(Path(self.taxonomy_path) if self.taxonomy_path else None)


def prepare_worker(job: PageJob) -> None:
    """The pool's initializer: loads once, before the first page, what every page needs (the
    taxonomy, the language model, the MinHash permutations, the fact patterns)."""
    job.taxonomy()
    detect_language(_WARM_UP_TEXT)
    minhash_signature(_WARM_UP_TEXT)
    if job.facts:
        extract_facts(_WARM_UP_TEXT, "en")


def prepare_page(page: FetchedPage, job: PageJob) -> PreparedArticle | None:
    """The page's article, tagged and ready for the dedup and seed stages; None when the page
    has no article text.

    The record's page comes back without its body: the crawl process has it already, and puts
    it back (a page is sent to a worker, not returned).
    """
    record = build_article(page)
    if record is None:
        return None
    record = tag_record(record, job.taxonomy())
    # As the stages decide: the dedup stage skips re-checks, the seed stage compares the
    # relevant articles only.
    fingerprints = fingerprint_article(record) if page.recheck_of is None else None
    facts = None
    if job.facts and record.relevant:
        extracted = record.extracted
        facts = article_facts(extracted.title, extracted.text, compared_language(record))
    prepared = PreparedArticle.of(record, fingerprints, facts)
    # Compressed here rather than in the crawl process, whose one thread is the crawl's
    # bottleneck (5 ms a page).
    return replace(prepared, page=replace(page, body=b""), compressed_body=compress_body(page.body))
