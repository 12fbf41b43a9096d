"""The configuration file, ``veille.toml``, loaded once into a typed object.

One loader, one typed :class:`Config` passed down. Environment variables override
file values here and nowhere else. A bad file raises :class:`ConfigError` naming the
file, the source id and the field.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from crawler.query_feeds import QuerySpec
from storage.database import SUPPORTED_BACKENDS

CONFIG_ENV = "VEILLE_CONFIG"
DATABASE_URL_ENV = "VEILLE_DATABASE_URL"
REDIS_URL_ENV = "VEILLE_REDIS_URL"
DEFAULT_CONFIG_NAME = "veille.toml"
DEFAULT_USER_AGENT = "Veille/0.1 (news-monitoring crawler; +https://pypi.org/project/veille/)"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3,
}  # fmt: skip
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class ConfigError(Exception):
    """The configuration cannot be used. The message names file, source and field."""


def parse_duration(value: Any) -> timedelta:
    """``"45s"``, ``"30m"``, ``"6h"``, ``"1d"`` (or a number of seconds) to a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '45s', '30m', '6h'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    else:
        raise ValueError(f"expected a duration such as '45s', '30m', '6h', got {value!r}")
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return timedelta(seconds=seconds)


def parse_size(value: Any) -> int:
    """``"10MB"``, ``"512KiB"`` (or a number of bytes) to bytes."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as '10MB'")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (match := _SIZE.match(value)):
        size = int(float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()])
    else:
        raise ValueError(f"expected a size such as '10MB' or '512KiB', got {value!r}")
    if size <= 0:
        raise ValueError("a size must be positive")
    return size


def check_http_url(url: str) -> str:
    """Accept only absolute ``http(s)`` URLs with a host."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    return url.strip()


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
HttpUrl = Annotated[str, BeforeValidator(check_http_url)]


def default_database_url() -> str:
    """A SQLite file in the user's data directory."""
    return f"sqlite:///{platformdirs.user_data_path('veille') / 'veille.db'}"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseConfig(_Section):
    url: str = Field(default_factory=default_database_url)

    @field_validator("url")
    @classmethod
    def _supported(cls, value: str) -> str:
        try:
            backend = make_url(value).get_backend_name()
        except ArgumentError:
            raise ValueError(f"not a database URL: {value!r}") from None
        if backend not in SUPPORTED_BACKENDS:
            raise ValueError(f"Veille supports sqlite:/// and postgresql:// URLs, not {backend}")
        return value


class CrawlConfig(_Section):
    user_agent: str = DEFAULT_USER_AGENT
    obey_robots_txt: bool = True
    concurrent_requests: int = Field(16, ge=1)
    concurrent_requests_per_domain: int = Field(2, ge=1)
    download_delay: Duration = timedelta(seconds=1)
    autothrottle: bool = True
    autothrottle_target_concurrency: float = Field(1.0, gt=0)
    autothrottle_max_delay: Duration = timedelta(seconds=60)
    download_timeout: Duration = timedelta(seconds=30)
    max_page_size: Size = 10 * 1000**2
    retry_times: int = Field(3, ge=0)
    retry_backoff_base: Duration = timedelta(seconds=2)
    retry_backoff_max: Duration = timedelta(minutes=5)
    max_entries_per_feed: int | None = Field(None, ge=1)
    sitemap_max_age_days: float = Field(3, gt=0)
    """Sitemap entries (and child sitemaps) older than this are skipped; feeds are not cut."""
    max_sitemap_size: Size = 50 * 1000**2
    """A sitemap larger than this once decompressed is refused (gzip bombs)."""
    max_sitemap_depth: int = Field(3, ge=0)
    """How many levels of sitemap indexes are followed."""
    pagination_depth: int = Field(1, ge=0)
    """How many "next" pages of a list page are followed (0: the listed page only)."""
    max_links_per_page: int = Field(200, ge=1)
    poll_min_interval: Duration = timedelta(minutes=10)
    poll_max_interval: Duration = timedelta(hours=24)
    failing_score: float = Field(2.5, gt=0)
    """A feed, sitemap or page whose failure score reaches this is reported as failing."""
    decode_google_news: bool = True
    recheck_age: Duration | None = timedelta(days=2)
    recheck_every: Duration = timedelta(hours=6)
    timeout: Duration = timedelta(hours=1)
    log_level: str = "INFO"
    workers: int | None = Field(None, ge=0)
    """Worker processes that prepare the pages (extraction, tagging, fingerprints); None: one
    per CPU, 0: none, the crawl process does it."""

    @field_validator("recheck_age", mode="before")
    @classmethod
    def _recheck_off(cls, value: Any) -> Any:
        return None if value in (0, "0", "0s", "off", False) else value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return level


class QueryConfig(_Section):
    """A query feed: search terms turned into Google News or GDELT feed URLs."""

    engine: Literal["google_news", "gdelt"]
    terms: list[str] = Field(min_length=1)
    language: str | None = None
    """Defaults to the source's language."""
    country: str | None = None
    sites: list[str] = Field(default_factory=list)
    """Only these publishers' domains (``site:`` / ``domain:``)."""
    window: Duration | None = None
    """Only results this recent (Google News ``when:``, GDELT ``timespan``)."""
    max_records: int = Field(75, ge=1, le=250)
    endpoint: HttpUrl | None = None
    """The engine's address, replaced (a proxy, a mirror, a test server); query unchanged."""


class SourceConfig(_Section):
    id: str
    name: str | None = None
    language: str | None = None
    feeds: list[HttpUrl] = Field(default_factory=list)
    sitemaps: list[HttpUrl] = Field(default_factory=list)
    """Sitemaps or sitemap indexes; a ``/robots.txt`` URL stands for its ``Sitemap:`` lines."""
    pages: list[HttpUrl] = Field(default_factory=list)
    """Section or list pages whose article links are followed."""
    link_pattern: str | None = None
    """A regular expression the article links of ``pages`` match (default: a heuristic)."""
    homepage: HttpUrl | None = None
    """A site whose announced feeds (``<link rel="alternate">``) are discovered and polled."""
    query: QueryConfig | None = None
    allowed_domains: list[str] = Field(default_factory=list)
    interval: Duration | None = None
    """Poll at exactly this interval; without it the interval adapts to what the source yields."""
    sitemap_max_age_days: float | None = Field(None, gt=0)
    pagination_depth: int | None = Field(None, ge=0)
    enabled: bool = True

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError(
                "must be a slug: lowercase letters, digits, '-' or '_', at most 64 characters"
            )
        return value

    @field_validator("allowed_domains")
    @classmethod
    def _bare_domains(cls, value: list[str]) -> list[str]:
        for domain in value:
            if not re.match(r"^[a-z0-9.-]+(:\d+)?$", domain, re.IGNORECASE) or "." not in domain:
                raise ValueError(f"not a domain name: {domain!r} (write 'example.org', no scheme)")
        return [domain.lower() for domain in value]

    @field_validator("link_pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"not a regular expression: {error}") from None
        return value

    @model_validator(mode="after")
    def _has_something_to_poll(self) -> SourceConfig:
        if not (self.feeds or self.sitemaps or self.pages or self.homepage or self.query):
            raise ValueError(
                "a source needs something to poll: 'feeds', 'sitemaps', 'pages', "
                "'homepage' or 'query'"
            )
        if self.link_pattern and not self.pages:
            raise ValueError("'link_pattern' applies to 'pages', and this source has none")
        if self.query is not None:
            self.query_spec()  # a bad query is a configuration error, found now
        return self

    def query_spec(self) -> QuerySpec:
        """The source's query, checked: language, country, terms and window must make sense."""
        assert self.query is not None
        try:
            return QuerySpec(
                engine=self.query.engine,
                terms=list(self.query.terms),
                language=self.query.language or self.language,
                country=self.query.country,
                sites=list(self.query.sites),
                window=self.query.window,
                max_records=self.query.max_records,
            )
        except ValueError as error:
            raise ValueError(f"query: {error}") from None

    @property
    def display_name(self) -> str:
        return self.name or self.id


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r} (use an IANA name such as 'Europe/Paris')"
        ) from None
    return value


def _check_daily_time(value: Any) -> Any:
    """``"07:00"`` or a TOML local time; a time with a zone is refused (see ``timezone``)."""
    if isinstance(value, time) and value.tzinfo is not None:
        raise ValueError("write a local time such as '07:00'; the zone is 'timezone'")
    if isinstance(value, time):
        return value
    if not isinstance(value, str) or not re.match(r"^\s*\d{1,2}:\d{2}(:\d{2})?\s*$", value):
        raise ValueError(f"expected a time of day such as '07:00', got {value!r}")
    return value.strip()


TimeOfDay = Annotated[time, BeforeValidator(_check_daily_time)]
TimeZoneName = Annotated[str, BeforeValidator(_check_timezone)]


class SchedulerConfig(_Section):
    """``veille serve``: how crawls are scheduled, and how ``veille status`` judges sources."""

    default_interval: Duration = timedelta(hours=1)
    group_crawls: bool = True
    max_parallel_crawls: int = Field(2, ge=1)
    jitter: timedelta = timedelta(minutes=2)
    misfire_grace_time: Duration = timedelta(hours=1)
    stop_grace: Duration = timedelta(seconds=30)
    heartbeat: Duration = timedelta(seconds=30)
    crawl_logs: bool = True
    failing_after_runs: int = Field(3, ge=1)
    silent_after_intervals: int = Field(4, ge=1)

    @field_validator("jitter", mode="before")
    @classmethod
    def _jitter(cls, value: Any) -> timedelta:
        if value in (0, "0", "0s"):
            return timedelta(0)
        return parse_duration(value)


class DigestConfig(_Section):
    """The daily digest: produced at ``time`` in ``timezone``, for the day before, then sent."""

    time: TimeOfDay = time(7, 0)
    timezone: TimeZoneName = "Europe/Paris"
    feed_url: str = "urn:veille:daily-digest"
    """The id (and self link) of the Atom feed of digests: where you publish it, if you do."""
    deliver_to: list[str] = Field(default_factory=list)
    """Apprise URLs the digest is sent to (``mailtos://...``, ``slack://...``, ``json://...``)."""
    delivery_attempts: int = Field(4, ge=1)
    """Tries per target before its delivery counts as failed."""
    delivery_backoff: Duration = timedelta(seconds=30)
    """The wait before the second try; it doubles before each further one."""

    @field_validator("deliver_to")
    @classmethod
    def _apprise_urls(cls, value: list[str]) -> list[str]:
        if not value:
            return value
        from apprise import Apprise  # loads its ~180 plugins: only when there is a URL

        # Apprise logs what it rejects, tokens included: keep its voice down while it checks.
        apprise_log = logging.getLogger("apprise")
        was_disabled, apprise_log.disabled = apprise_log.disabled, True
        try:
            usable = [Apprise.instantiate(url.strip()) is not None for url in value]
        finally:
            apprise_log.disabled = was_disabled
        for index, (url, ok) in enumerate(zip(value, usable, strict=True)):
            if not ok:
                # The message must not repeat the URL: it may hold a password or a token.
                scheme = url.strip().partition("://")[0] or "?"
                raise ValueError(
                    f"entry {index + 1} is not a URL apprise can send to ({scheme}://...; "
                    "see https://appriseit.com/services/)"
                )
        return [url.strip() for url in value]


class MaintenanceConfig(_Section):
    """Daily upkeep of the database: old raw HTML removed, then VACUUM / ANALYZE."""

    time: TimeOfDay = time(3, 30)
    timezone: TimeZoneName = "Europe/Paris"
    raw_html_retention: Duration = timedelta(days=90)
    vacuum: bool = True


class TaggingConfig(_Section):
    """Initiative tagging: the taxonomy file (default: the one shipped with Veille)."""

    taxonomy: Path | None = None

    @field_validator("taxonomy")
    @classmethod
    def _exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.expanduser().is_file():
            raise ValueError(f"no such file: {value}")
        return value.expanduser() if value is not None else None


class DedupConfig(_Section):
    """Story clustering: near-copy threshold and how far back the index looks."""

    threshold: float = Field(0.3, gt=0, le=1)
    window: Duration = timedelta(days=30)


class SeedsConfig(_Section):
    """The seed corpus: a directory of documents (.txt, .md, .html) the users already know."""

    directory: Path | None = None
    reevaluate: Duration = timedelta(days=30)
    """When seeds are added, articles stored in this last period are compared again."""
    new_facts_limit: int = Field(8, ge=1)
    """How many new facts of a follow-up are listed, the most specific first."""

    @field_validator("directory")
    @classmethod
    def _is_directory(cls, value: Path | None) -> Path | None:
        if value is not None and not value.expanduser().is_dir():
            raise ValueError(f"no such directory: {value}")
        return value.expanduser() if value is not None else None


class DistributedConfig(_Section):
    """Distributed crawling: a shared Redis frontier, ``veille worker`` on each machine."""

    redis_url: str | None = None
    """``redis://host:6379/0``; None: no distributed mode. ``$VEILLE_REDIS_URL`` overrides it."""
    prefix: str = "veille"
    """Every Redis key of this deployment starts with ``<prefix>:``."""
    heartbeat: Duration = timedelta(seconds=10)
    """How often a worker says it is alive."""
    dead_after: Duration = timedelta(seconds=60)
    """A worker silent this long is dead: its requests in flight go back to the frontier."""
    idle_exit: Duration = timedelta(seconds=10)
    """``veille worker --until-idle`` exits once the frontier has been empty, with nothing in
    flight on any worker, for this long."""

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"not a Redis URL (redis://host:6379/0): {value!r}")
        return value

    @field_validator("prefix")
    @classmethod
    def _key_prefix(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$", value):
            raise ValueError("must be letters, digits, '_', '.', ':' or '-' (at most 64)")
        return value

    @model_validator(mode="after")
    def _dead_after_heartbeats(self) -> DistributedConfig:
        if self.dead_after < 2 * self.heartbeat:
            raise ValueError("'dead_after' must be at least twice 'heartbeat'")
        return self


class Config(_Section):
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    crawl: CrawlConfig = Field(default_factory=CrawlConfig)
    sources: list[SourceConfig] = Field(default_factory=list)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    digest: DigestConfig = Field(default_factory=DigestConfig)
    maintenance: MaintenanceConfig = Field(default_factory=MaintenanceConfig)
    tagging: TaggingConfig = Field(default_factory=TaggingConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    seeds: SeedsConfig = Field(default_factory=SeedsConfig)
    distributed: DistributedConfig = Field(default_factory=DistributedConfig)
    path: Path | None = Field(None, exclude=True)
    """The file this was loaded from (not a key of the file)."""

    @model_validator(mode="after")
    def _unique_ids(self) -> Config:
        seen: set[str] = set()
        for source in self.sources:
            if source.id in seen:
                raise ValueError(f"duplicate source id {source.id!r}")
            seen.add(source.id)
        return self

    def select_sources(self, ids: list[str] | None = None) -> list[SourceConfig]:
        """The enabled sources, or exactly the ones named (enabled or not)."""
        if not ids:
            return [source for source in self.sources if source.enabled]
        by_id = {source.id: source for source in self.sources}
        unknown = [source_id for source_id in ids if source_id not in by_id]
        if unknown:
            known = ", ".join(sorted(by_id)) or "none"
            raise ConfigError(f"unknown source id(s): {', '.join(unknown)} (configured: {known})")
        return [by_id[source_id] for source_id in ids]

    def distributed_problem(self) -> str | None:
        """Why this configuration cannot crawl in distributed mode, or None if it can."""
        if self.distributed.redis_url is None:
            return (
                "distributed mode needs [distributed] redis_url (or $VEILLE_REDIS_URL) "
                "in the configuration"
            )
        if make_url(self.database.url).get_backend_name() == "sqlite":
            return (
                "distributed mode needs a database every worker can reach: set [database] url "
                "to postgresql://... (a SQLite file cannot be shared between machines)"
            )
        return None


def resolve_config_path(path: Path | None, environ: Mapping[str, str] = os.environ) -> Path | None:
    """``--config``, else ``$VEILLE_CONFIG``, else ``./veille.toml`` if it exists, else None."""
    if path is not None:
        return path
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    local = Path(DEFAULT_CONFIG_NAME)
    return local if local.is_file() else None


def load_config(path: Path | None, environ: Mapping[str, str] = os.environ) -> Config:
    """Read, validate and return the configuration; defaults when there is no file."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: not valid TOML: {error}") from None
    if environ.get(DATABASE_URL_ENV):
        data.setdefault("database", {})
        if isinstance(data["database"], dict):
            data["database"]["url"] = environ[DATABASE_URL_ENV]
    if environ.get(REDIS_URL_ENV):
        data.setdefault("distributed", {})
        if isinstance(data["distributed"], dict):
            data["distributed"]["redis_url"] = environ[REDIS_URL_ENV]
    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_describe(error, data, path)) from None
    return config.model_copy(update={"path": path})


def _describe(error: ValidationError, data: dict[str, Any], path: Path | None) -> str:
    """One line per problem: file, source id, field, what is wrong."""
    where = str(path) if path else "configuration"
    lines = []
    for problem in error.errors():
        loc = list(problem["loc"])
        context = ""
        if len(loc) >= 2 and loc[0] == "sources" and isinstance(loc[1], int):
            sources = data.get("sources") or []
            record = sources[loc[1]] if loc[1] < len(sources) else {}
            source_id = record.get("id") if isinstance(record, dict) else None
            context = f"source {source_id!r}" if source_id else f"sources[{loc[1]}]"
            loc = loc[2:]
        elif loc:
            context = f"[{loc[0]}]"
            loc = loc[1:]
        field = ".".join(str(part) for part in loc)
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = "unknown key"
        message = message.removeprefix("Value error, ")
        parts = [where, context, field, message]
        lines.append(": ".join(part for part in parts if part))
    return "\n".join(lines)
