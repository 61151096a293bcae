"""The knowledge base folder: front matter read and refused with file:line, through
`maildesk check-config` as an admin runs it."""

from __future__ import annotations

import json
from pathlib import Path

from maildesk.kb.entries import load_entries
from maildesk.kb.library import EXAMPLE
from tests.conftest import Desk


def test_the_example_knowledge_base_loads_clean() -> None:
    entries, problems = load_entries(EXAMPLE, ["Support", "Billing"])
    assert problems == []
    assert {e.language for e in entries} == {"en", "es", "de"}
    assert len(entries) >= 30
    reset = next(e for e in entries if e.name == "reset-password")
    assert reset.title == "How do I reset my password?"
    assert "password" in reset.keywords
    assert reset.excerpt().startswith("Open the sign-in page and choose Forgot password?.")


def test_check_config_names_file_and_line_of_each_bad_entry(kdesk: Desk) -> None:
    kb = kdesk.root / "knowledge"
    (kb / "no-front.md").write_text("Just text, no front matter.\n")
    (kb / "bad-yaml.md").write_text("---\ntitle: ok\nlanguage: [en\n---\nText\n")
    (kb / "unknown-key.md").write_text(
        "---\ntitle: T\nlanguage: en\ncolour: blue\nqueues: [Nope]\n---\nText\n")
    (kb / "no-title.md").write_text("---\nlanguage: en\n---\nText\n")
    (kb / "sub").mkdir()
    (kb / "sub" / "reset-password.md").write_text("---\ntitle: T\nlanguage: en\n---\nText\n")
    result = kdesk.cli("check-config")
    assert result.returncode == 78
    err = result.stderr.decode()
    assert f"{kb / 'no-front.md'}:1: no front matter" in err
    assert f"{kb / 'bad-yaml.md'}:3: front matter: YAML syntax error" in err
    assert f"{kb / 'unknown-key.md'}:4: front matter: unknown key 'colour'" in err
    assert f"{kb / 'unknown-key.md'}:5: front matter: queues: unknown queue 'Nope'" in err
    assert f"{kb / 'no-title.md'}:2: front matter: missing required key 'title'" in err
    assert f"{kb / 'sub' / 'reset-password.md'}:1: entry name 'reset-password' is also" in err


def test_check_config_passes_a_good_knowledge_base_and_refuses_a_missing_folder(
        kdesk: Desk, tmp_path: Path) -> None:
    assert kdesk.cli("check-config").returncode == 0
    text = kdesk.config_path.read_text().replace("path: ./knowledge", "path: ./nowhere")
    kdesk.config_path.write_text(text)
    result = kdesk.cli("check-config")
    assert result.returncode == 78
    assert "the knowledge base folder does not exist" in result.stderr.decode()


def test_kb_search_shows_the_ranking_and_the_scores(kdesk: Desk) -> None:
    result = kdesk.cli("kb", "search", "--json",
                       "Hi team,\nI forgot my pasword and can't log in anymore!\nThanks, Bob")
    assert result.returncode == 0, result.stderr.decode()
    ranking = json.loads(result.stdout)
    assert ranking["language"] == "en"
    assert "password" in ranking["terms"]  # the typo matched to the knowledge base's word
    top = ranking["results"][0]
    assert top["name"] == "reset-password" and top["offered"] is True
    scores = [r["score"] for r in ranking["results"]]
    assert scores == sorted(scores, reverse=True)
    text = kdesk.cli("kb", "search",
                     "Wo bleibt mein Paket? Die Bestellung ist immer noch nicht angekommen")
    assert text.returncode == 0
    first = text.stdout.decode().splitlines()[1]
    assert "bestellung-verfolgen" in first and first.startswith("*")


def test_kb_search_offers_nothing_for_an_unrelated_mail(kdesk: Desk) -> None:
    result = kdesk.cli("kb", "search", "--json", "Do you have a job opening for a designer?")
    assert result.returncode == 0
    assert not any(r["offered"] for r in json.loads(result.stdout)["results"])


def test_the_section_may_be_named_knowledge_base_as_in_the_spec(kdesk: Desk) -> None:
    """SPEC 18 writes `knowledge_base: {path}`; `kb:` stays. Both in one file: the same
    values pass, different values are refused with the line of the second."""
    text = kdesk.config_path.read_text()
    assert "kb:\n  path: ./knowledge\n" in text
    kdesk.config_path.write_text(text.replace("kb:\n  path: ./knowledge\n",
                                              "knowledge_base:\n  path: ./knowledge\n"
                                              "  suggestions: 2\n"))
    from maildesk.config import load_config

    config = load_config(kdesk.config_path)
    assert config.kb.path == kdesk.root / "knowledge" and config.kb.suggestions == 2
    assert kdesk.cli("check-config").returncode == 0
    result = kdesk.cli("kb", "search", "--json", "I forgot my password")
    assert json.loads(result.stdout)["results"][0]["name"] == "reset-password"

    both = kdesk.config_path.read_text() + "kb:\n  suggestions: 2\n  path: knowledge\n"
    kdesk.config_path.write_text(both)
    assert kdesk.cli("check-config").returncode == 0  # the same folder, the same values
    kdesk.config_path.write_text(both.replace("  suggestions: 2\n  path: knowledge",
                                              "  suggestions: 3\n  path: knowledge"))
    result = kdesk.cli("check-config")
    assert result.returncode == 78
    line = both.splitlines().index("kb:") + 1
    assert f":{line}: kb: another name for 'knowledge_base' (line " in result.stderr.decode()
