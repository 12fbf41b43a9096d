"""The README agrees with the code, and dependencies between packages point one way."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from typer.main import get_command

from crawler.config import (
    Config,
    CrawlConfig,
    DatabaseConfig,
    DedupConfig,
    DigestConfig,
    DistributedConfig,
    MaintenanceConfig,
    QueryConfig,
    SchedulerConfig,
    SeedsConfig,
    SourceConfig,
    TaggingConfig,
)
from scheduler.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")

# Which of our packages each package may import.
ALLOWED_IMPORTS = {
    "storage": set(),
    "pipelines": {"storage"},
    "crawler": {"storage"},  # pipelines only through Scrapy's ITEM_PIPELINES setting
    "scheduler": {"crawler", "pipelines", "storage"},
}


def readme_section(title: str) -> str:
    match = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^#+ )", README, re.M | re.S)
    assert match, f"README has no section {title!r}"
    return match.group(1)


@pytest.mark.parametrize(
    ("section", "model"),
    [
        ("`[database]`", DatabaseConfig),
        ("`[crawl]`", CrawlConfig),
        ("`[[sources]]`", SourceConfig),
        ("`[sources.query]`", QueryConfig),
        ("`[scheduler]`", SchedulerConfig),
        ("`[digest]`", DigestConfig),
        ("`[maintenance]`", MaintenanceConfig),
        ("`[tagging]`", TaggingConfig),
        ("`[dedup]`", DedupConfig),
        ("`[seeds]`", SeedsConfig),
        ("`[distributed]`", DistributedConfig),
    ],
)
def test_every_setting_is_documented_and_nothing_else(section: str, model: type) -> None:
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", readme_section(section), re.M))
    assert documented == set(model.model_fields)


def test_top_level_config_sections_are_the_documented_ones() -> None:
    sections = {"database", "crawl", "sources", "scheduler", "digest", "maintenance"}
    sections |= {"tagging", "dedup", "seeds", "distributed"}
    assert set(Config.model_fields) - {"path"} == sections


def test_every_cli_command_is_documented() -> None:
    group = get_command(app)
    commands = set()
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        subcommands = getattr(command, "commands", None)
        if subcommands:
            commands |= {f"{name} {sub}" for sub in subcommands}
            if getattr(command, "invoke_without_command", False):
                commands.add(name)  # the group is a command of its own too
        else:
            commands.add(name)
    reference = readme_section("CLI reference")
    documented = set(re.findall(r"^\| `veille ([a-z]+(?: [a-z]+)?)", reference, re.M))
    groups = {name.split()[0] for name in commands if " " in name}
    documented = {
        name if name.split()[0] in groups or name in commands else name.split()[0]
        for name in documented
    }
    assert documented == commands


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = re.search(r'^TEST_COMMAND="([^"]+)"', ci, re.M)
    assert command
    first_block = re.findall(r"```sh\n(.*?)\n```", README, re.S)[:2]
    assert "veille demo" in first_block[0]
    assert first_block[1].endswith(command.group(1))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(ALLOWED_IMPORTS))
def test_dependencies_point_one_way(package: str) -> None:
    ours = set(ALLOWED_IMPORTS)
    for path in (ROOT / package).rglob("*.py"):
        wrong = (_imports(path) & ours) - ALLOWED_IMPORTS[package] - {package}
        assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}"
