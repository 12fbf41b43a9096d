"""``veille review``: people mark stories relevant or irrelevant and correct their tags.

``veille review STORY --irrelevant`` (or ``--relevant``, ``--tag ID``, ``--untag ID``) records
decisions without asking; ``veille review`` alone walks through yesterday's and today's stories
that nobody reviewed yet, most important first, as the digest orders them, and asks what to do
with each; ``veille review --feedback`` sums the decisions up for whoever maintains the
taxonomy. Every decision is committed as soon as it is made: quitting loses nothing.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table
from rich.text import Text
from sqlalchemy.orm import Session, sessionmaker

from scheduler.cli import (
    EXIT_BAD_CONFIG,
    ConfigOption,
    _fail,
    _load,
    _open_database,
    _since_option,
    app,
    console,
    errors,
)
from scheduler.digest_model import DigestStory, build_daily_digest
from scheduler.tag_commands import TaxonomyOption, _stored_article, _taxonomy
from storage.database import make_session_factory
from storage.models import ReviewAction, Story
from storage.reviews import (
    REVIEWER_MAX_CHARS,
    StoryReview,
    TaggingFeedback,
    UnknownStory,
    record_decision,
    story_reviews,
    tagging_feedback,
)

if TYPE_CHECKING:
    from pipelines.taxonomy import Taxonomy

_STATUS_RANK = {"follow-up": 0, "new": 1, None: 2, "known": 3}
PROMPT = "[r]elevant [i]rrelevant [t]ag ID [u]ntag ID [s]kip [q]uit > "
HELP = (
    "For each story: r relevant, i irrelevant, t ID to tag, u ID to untag (a note may follow, "
    "as in 'i a football match'), s or Enter to skip, q to quit. Each answer is saved at once."
)


def default_reviewer() -> str:
    """The OS user's name; ``--by`` overrides it."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return "unknown"


def _usage_error(message: str) -> typer.Exit:
    _fail(f"veille: {message}")
    return typer.Exit(EXIT_BAD_CONFIG)


def _check_initiatives(ids: Iterable[str], taxonomy: Taxonomy) -> None:
    unknown = [initiative for initiative in ids if initiative not in taxonomy.ids]
    if unknown:
        raise _usage_error(
            f"unknown initiative {', '.join(map(repr, unknown))} in {taxonomy.source} "
            f"(known: {', '.join(taxonomy.ids)})"
        )


@app.command()
def review(
    story: Annotated[
        str | None,
        typer.Argument(
            help="A story id, or the URL of one of its articles. Without it: review "
            "yesterday's and today's stories one by one."
        ),
    ] = None,
    config_path: ConfigOption = None,
    relevant: Annotated[
        bool, typer.Option("--relevant", help="The story is relevant (undoes --irrelevant).")
    ] = False,
    irrelevant: Annotated[
        bool, typer.Option("--irrelevant", help="The story is not relevant: hide it.")
    ] = False,
    tags: Annotated[
        list[str] | None,
        typer.Option("--tag", help="Tag the story with this initiative id (repeatable)."),
    ] = None,
    untags: Annotated[
        list[str] | None,
        typer.Option("--untag", help="The story is not about this initiative (repeatable)."),
    ] = None,
    note: Annotated[str | None, typer.Option(help="Why, for the log.")] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Who decides (default: your OS user name).")
    ] = None,
    all_stories: Annotated[
        bool,
        typer.Option("--all", help="Review also the stories about no followed initiative."),
    ] = False,
    feedback: Annotated[
        bool, typer.Option("--feedback", help="Sum up the decisions as tagging feedback.")
    ] = False,
    since: Annotated[
        str | None, typer.Option(help="With --feedback: only decisions made since this date.")
    ] = None,
    taxonomy_path: TaxonomyOption = None,
) -> None:
    """Mark stories relevant or irrelevant and correct their tags; or sum up the feedback."""
    config = _load(config_path)
    taxonomy = _taxonomy(taxonomy_path or config.tagging.taxonomy)
    tags, untags = list(dict.fromkeys(tags or [])), list(dict.fromkeys(untags or []))
    deciding = relevant or irrelevant or tags or untags or note
    if feedback and (story or deciding):
        raise _usage_error("--feedback sums up decisions: give no STORY and no decision")
    if since and not feedback:
        raise _usage_error("--since goes with --feedback")
    if relevant and irrelevant:
        raise _usage_error("--relevant and --irrelevant contradict each other")
    if both := sorted(set(tags) & set(untags)):
        raise _usage_error(f"--tag and --untag of the same initiative: {', '.join(both)}")
    if story is None and deciding:
        raise _usage_error("say which STORY these decisions are about")
    if story is not None and not (relevant or irrelevant or tags or untags):
        raise _usage_error("say what to decide: --relevant, --irrelevant, --tag ID or --untag ID")
    _check_initiatives([*tags, *untags], taxonomy)
    reviewer = (by if by is not None else default_reviewer()).strip()
    if not 0 < len(reviewer) <= REVIEWER_MAX_CHARS:
        raise _usage_error(f"--by: give a name of at most {REVIEWER_MAX_CHARS} characters")
    since_time = _since_option(since)

    engine = _open_database(config.database.url)
    sessions = make_session_factory(engine)
    try:
        if feedback:
            with sessions() as session:
                summary = tagging_feedback(session, since=since_time)
            labels = {i.id: i.label for i in taxonomy.initiatives}
            _print_feedback(summary, labels, since)
        elif story is not None:
            actions: list[tuple[ReviewAction, str | None]] = [
                *([(ReviewAction.RELEVANT, None)] if relevant else []),
                *([(ReviewAction.IRRELEVANT, None)] if irrelevant else []),
                *((ReviewAction.TAG, initiative) for initiative in tags),
                *((ReviewAction.UNTAG, initiative) for initiative in untags),
            ]
            _decide(sessions, story, actions, reviewer=reviewer, note=note)
        else:
            _interactive(
                sessions,
                taxonomy,
                config.digest.timezone,
                reviewer=reviewer,
                everything=all_stories,
            )
    finally:
        engine.dispose()


def _find_story(session: Session, story: str) -> Story:
    """The story named by its id or by the URL of one of its articles; usage error if none."""
    found = None
    if story.isdigit():
        found = session.get(Story, int(story))
    elif (article := _stored_article(session, story)) and article.story_id is not None:
        found = session.get(Story, article.story_id)
    if found is not None:
        return found
    raise _usage_error(f"no story {story} (give a story id or a stored article's URL)")


def _decide(
    sessions: sessionmaker[Session],
    story: str,
    actions: Sequence[tuple[ReviewAction, str | None]],
    *,
    reviewer: str,
    note: str | None,
) -> None:
    """Record the decisions in one transaction: all of them or, on a mistake, none."""
    with sessions.begin() as session:
        found = _find_story(session, story)
        story_id, title = found.id, found.title
        try:
            for action, initiative in actions:
                record_decision(
                    session, story_id, action, reviewer=reviewer, initiative=initiative, note=note
                )
        except (UnknownStory, ValueError) as error:
            raise _usage_error(str(error)) from None
        state = story_reviews(session, [story_id])[story_id]
    console.print(Text.assemble(f"Story {story_id} ", (title or "(no title)", "bold")))
    console.print(Text(f"  {describe(state)}"))


def describe(state: StoryReview) -> str:
    """One line: the decisions in effect, who made the last one and when."""
    parts = []
    if state.relevant is not None:
        parts.append("relevant" if state.relevant else "irrelevant")
    if state.tags_added:
        parts.append("tagged " + ", ".join(state.tags_added))
    if state.tags_removed:
        parts.append("untagged " + ", ".join(state.tags_removed))
    when = state.reviewed_at.strftime("%Y-%m-%d %H:%M UTC")
    note = f' — "{state.note}"' if state.note else ""
    return f"{'; '.join(parts) or 'no decision in effect'} (last by {state.reviewer}, {when}){note}"


def review_queue(
    session: Session, timezone: str, *, everything: bool = False, now: datetime | None = None
) -> list[DigestStory]:
    """Yesterday's and today's stories (local days) that nobody reviewed, most important
    first as in the digest: follow-ups, new, not compared, known; then most sites, best tag."""
    today = (now or datetime.now(ZoneInfo(timezone))).astimezone(ZoneInfo(timezone)).date()
    found: dict[int, DigestStory] = {}
    for day in (today, today - timedelta(days=1)):
        digest = build_daily_digest(session, day, timezone, include_irrelevant=everything)
        for section in digest.sections:
            for item in (*section.stories, *section.known):
                if item.story_id is not None:
                    found.setdefault(item.story_id, item)
    reviewed = story_reviews(session, found)
    waiting = [item for story_id, item in found.items() if story_id not in reviewed]
    waiting.sort(
        key=lambda s: (
            _STATUS_RANK.get(s.status, 2),
            -s.site_count,
            -max((t.score for t in s.tags), default=0.0),
            -s.published.toordinal(),
            s.title,
        )
    )
    return waiting


def _print_card(item: DigestStory, position: int, total: int) -> None:
    console.print()
    heading = Text(f"[{position}/{total}] story {item.story_id}", style="dim")
    if item.status:
        heading.append(f" · {item.status}", style="cyan")
    console.print(heading)
    console.print(Text(item.title or "(no title)", style="bold"))
    console.print(Text(item.url, style="blue"))
    sites = ", ".join(sorted({member.site for member in item.members}))
    languages = f" · {', '.join(item.languages)}" if item.languages else ""
    console.print(Text(f"{item.published.isoformat()} · {item.site_count} site(s): {sites}"
                       f"{languages}"))  # fmt: skip
    if not item.tags:
        console.print(Text("No initiative tag.", style="yellow"))
    for tag in item.tags:
        line = Text(f"  {tag.initiative} {tag.score:.2f}", style="green")
        if tag.evidence:
            line.append(f'  "{tag.evidence}" ({tag.zone})')
        console.print(line)
    if item.lead:
        console.print(Text(item.lead, style="dim"))


def _interactive(
    sessions: sessionmaker[Session],
    taxonomy: Taxonomy,
    timezone: str,
    *,
    reviewer: str,
    everything: bool,
) -> None:
    with sessions() as session:
        queue = review_queue(session, timezone, everything=everything)
    if not queue:
        console.print("Nothing to review: every story of yesterday and today has a decision.")
        return
    console.print(Text(f"{len(queue)} story(ies) to review. {HELP}"))
    decisions = reviewed = seen = 0
    for position, item in enumerate(queue, start=1):
        _print_card(item, position, len(queue))
        made, stop = _review_one(sessions, item, taxonomy, reviewer)
        decisions += made
        reviewed += made > 0
        seen += made > 0 or not stop
        if stop:
            break
    console.print(
        f"{decisions} decision(s) recorded on {reviewed} story(ies); "
        f"{seen - reviewed} skipped, {len(queue) - seen} left.",
        highlight=False,
    )


def _review_one(
    sessions: sessionmaker[Session], item: DigestStory, taxonomy: Taxonomy, reviewer: str
) -> tuple[int, bool]:
    """Ask about one story until the reviewer moves on: how many decisions were recorded,
    and whether the reviewer asked to stop (``q``, or the end of the input)."""
    assert item.story_id is not None
    made = 0
    while True:
        try:
            answer = console.input(Text(PROMPT, style="bold")).strip()
        except EOFError:
            return made, True
        letter, _, rest = answer.partition(" ")
        letter, rest = letter.lower(), rest.strip()
        if letter in ("q", "quit"):
            return made, True
        if letter in ("", "s", "skip"):
            return made, False
        if letter in ("r", "relevant", "i", "irrelevant"):
            action = ReviewAction.RELEVANT if letter.startswith("r") else ReviewAction.IRRELEVANT
            _record(sessions, item.story_id, action, None, rest or None, reviewer)
            return made + 1, False
        if letter in ("t", "tag", "u", "untag"):
            action = ReviewAction.TAG if letter.startswith("t") else ReviewAction.UNTAG
            initiative, _, note = rest.partition(" ")
            if not initiative and action is ReviewAction.UNTAG and len(item.tags) == 1:
                initiative = item.tags[0].initiative
            if initiative not in taxonomy.ids:
                errors.print(
                    f"Give a known initiative id after {letter}, e.g. '{letter} "
                    f"{taxonomy.ids[0]}' (known: {', '.join(taxonomy.ids)})",
                    style="red",
                    markup=False,
                    highlight=False,
                )
                continue
            _record(sessions, item.story_id, action, initiative, note.strip() or None, reviewer)
            made += 1
            console.print(Text(f"Recorded: {action.value} {initiative}. Next: Enter.", "green"))
            continue
        errors.print("Answer r, i, t ID, u ID, s or q.", style="red", markup=False)


def _record(
    sessions: sessionmaker[Session],
    story_id: int,
    action: ReviewAction,
    initiative: str | None,
    note: str | None,
    reviewer: str,
) -> None:
    with sessions.begin() as session:
        record_decision(
            session, story_id, action, reviewer=reviewer, initiative=initiative, note=note
        )


def _print_feedback(summary: TaggingFeedback, labels: dict[str, str], since: str | None) -> None:
    period = f" since {since}" if since else ""
    console.print(
        Text(
            f"Tagging feedback{period}: {summary.stories} story(ies) reviewed, "
            f"{summary.marked_relevant} marked relevant, {summary.marked_irrelevant} irrelevant.",
            style="bold",
        )
    )
    if not summary.stories:
        console.print("No decision yet: run veille review.")
        return
    for item in summary.initiatives:
        console.print()
        label = labels.get(item.initiative)
        heading = Text(item.initiative, style="bold")
        if label:
            heading.append(f" — {label}")
        console.print(heading)
        rejected = item.removed + item.irrelevant
        if rejected:
            console.print(
                Text(
                    f"  {rejected} rejected tag(s): {item.removed} removed, {item.irrelevant} on "
                    "stories marked irrelevant"
                )
            )
            terms = ", ".join(f'"{t.term}" ({t.kind}) ×{t.stories}' for t in item.terms)
            console.print(Text(f"  terms behind them: {terms or '(no evidence stored)'}"))
            sources = ", ".join(f"{source} ×{count}" for source, count in item.sources)
            console.print(Text(f"  sources: {sources}"))
        for missed in item.missed:
            score = (
                f"tagger's best score {missed.best_score:.2f}"
                if missed.best_score is not None
                else "no term found"
            )
            console.print(
                Text(
                    f'  missed: story {missed.story_id} "{missed.title or "(no title)"}" ({score})'
                )
            )
    for missed in summary.relevant_untagged:
        console.print(
            Text(
                f"Relevant but about no initiative: story {missed.story_id} "
                f'"{missed.title or "(no title)"}"'
            )
        )
    table = Table(title="Sources of reviewed stories (articles)")
    for column in ("source", "reviewed", "in irrelevant stories", "tag removed"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for source in summary.sources:
        table.add_row(
            Text(source.source_id),
            str(source.reviewed),
            str(source.irrelevant),
            str(source.removed),
        )
    console.print()
    console.print(table)
