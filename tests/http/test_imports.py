"""`deliver` runs once per mail: the web stack, and the knowledge base's ranking stack, must
stay out of its imports."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import text

from tests.conftest import Desk, simple_mail

WEB = ("fastapi", "starlette", "uvicorn", "prometheus_client", "pydantic")


def test_deliver_and_the_daemon_module_load_no_web_code() -> None:
    code = ("import sys, maildesk.cli, maildesk.app, maildesk.pipeline, maildesk.daemon\n"
            f"print([m for m in {WEB!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.strip()
    assert out == "[]", out


# What `maildesk deliver` in process (no daemon) must not import for a plain new mail: the
# knowledge base's ranking stack (bm25s and under it numpy and scipy, ~60-90 ms a process)
# came in through the stop word lists that guess a new customer's language.
RANKING = ("bm25s", "numpy", "scipy")


def test_deliver_in_process_guesses_a_language_without_the_ranking_stack(desk: Desk) -> None:
    body = ("Hallo,\nich habe die Rechnung nicht bekommen und weiß nicht, wo sie ist. Können "
            "Sie sie mir bitte noch einmal schicken, weil ich sie für die Buchhaltung brauche?\n")
    code = ("import sys\nfrom maildesk.deliver import main\n"
            f"sys.argv = ['maildesk', '--config', {str(desk.config_path)!r}, 'deliver', "
            "'--sender', 'dora@example.org', '--recipient', 'billing@example.com']\n"
            "code = main()\n"
            f"print(code, 'maildesk.kb.text' in sys.modules, "
            f"[m for m in {RANKING!r} if m in sys.modules])")
    mail = simple_mail(sender="dora@example.org", to="billing@example.com", body=body)
    result = subprocess.run([sys.executable, "-c", code], input=mail, capture_output=True,
                            timeout=120, cwd=desk.root, check=True)
    assert result.stdout.decode().split("\n")[-2] == "0 True []", result.stderr.decode()
    assert len(desk.tickets()) == 1
    app = desk.app()
    try:
        with app.db.reading() as session:
            language = session.execute(text(
                "SELECT language FROM customers WHERE address = 'dora@example.org'")).scalar()
    finally:
        app.close()
    assert language == "de"  # Billing has no language: guessed with bm25s's stop words


def test_the_stop_word_lists_read_alone_are_bm25s_own() -> None:
    code = ("import sys\nfrom maildesk.kb.text import stopwords\n"
            "alone = {lang: stopwords(lang) for lang in ('en', 'es', 'de', 'fr')}\n"
            f"print([m for m in {RANKING!r} if m in sys.modules])\n"
            "import bm25s.stopwords as b\n"
            "lists = {'en': b.STOPWORDS_EN_PLUS, 'es': b.STOPWORDS_SPANISH, "
            "'de': b.STOPWORDS_GERMAN, 'fr': b.STOPWORDS_FRENCH}\n"
            "print(all({w.lower() for w in lists[k]} <= alone[k] for k in lists))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    assert out == ["[]", "True"], out
