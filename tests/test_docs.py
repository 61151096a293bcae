"""The README is the user's manual: these tests keep it true to the code."""

from __future__ import annotations

import re

from maildesk.cli import _COMMANDS
from maildesk.commands import COMMANDS
from maildesk.config import MATCH_CONDITIONS
from maildesk.config.reference import config_keys
from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def test_readme_starts_with_the_two_fresh_machine_commands() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    assert "maildesk init" in blocks[0] and "maildesk serve" in blocks[0]
    assert "pytest" in blocks[1]
    ci = (REPO / ".ci" / "run").read_text()
    assert blocks[1].strip() in ci, "`.ci/run` must run the README's test command"


def test_every_cli_command_is_documented() -> None:
    section = README.split("## The command line", 1)[1]
    synopsis = re.search(r"```\n(.*?)```", section, re.S)
    assert synopsis is not None
    for name in [*_COMMANDS, "deliver"]:
        assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", synopsis.group(1)), name


def test_every_agent_command_is_documented() -> None:
    for name in COMMANDS:
        assert f"/{name}" in README, name


def test_every_match_condition_is_documented() -> None:
    for name in MATCH_CONDITIONS:
        assert f"`{name}" in README, name


def test_every_config_key_is_documented() -> None:
    """A key declared in maildesk/config/model.py must be in the README's key table."""
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    keys = [key for key, _, _ in config_keys()]
    assert len(keys) > 50
    missing = [key for key in keys if f"| `{key}` |" not in section]
    assert not missing, f"add to the README's key table: {missing}"
