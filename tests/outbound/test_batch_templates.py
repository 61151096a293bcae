"""An ingest batch (issue 20) looks at each template's file once, however many of its
mails check that their auto-response and notification templates compile; a template
edited (broken, then repaired) between two batches is the one the next batch checks, as
the README promises ("a template that does not exist or does not compile fails at ingest",
"a repaired template sends it")."""

from __future__ import annotations

import os
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import jinja2
import pytest
from sqlalchemy import select

from maildesk.app import App
from maildesk.batch import Batcher, _Mail
from maildesk.intake.message import Envelope
from maildesk.outbound import templating
from maildesk.outbound.templating import find_template
from maildesk.store.models import OutboxMail
from tests.conftest import make_desk, simple_mail

SHIPPED = Path(__file__).resolve().parents[2] / "maildesk" / "templates"


def _batch(app: App, tag: str, n: int = 4) -> None:
    mails = [_Mail(simple_mail(subject=f"{tag} {k}", sender=f"{tag}{k}@example.org"),
                   Envelope(f"{tag}{k}@example.org", ("support@example.com",)), Future())
             for k in range(n)]
    Batcher(app, workers=0)._run_batch(mails)
    assert [m.future.result().result for m in mails] == ["stored"] * n


def _autoreplies(app: App) -> list[tuple[str, str | None]]:
    with app.db.reading() as session:
        rows = session.scalars(select(OutboxMail).where(OutboxMail.kind == "autoreply")
                               .order_by(OutboxMail.id))
        return [(r.state, r.last_error) for r in rows]


def _edit(path: Path, text: str) -> None:
    path.write_text(text)
    later = os.stat(path).st_mtime + 5  # a clock's second apart, whatever the fs
    os.utime(path, (later, later))


@pytest.mark.outbound_failure  # the batch of the broken template
def test_a_batch_looks_at_each_template_once_and_the_next_sees_an_edit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    desk = make_desk(tmp_path / "d", extra="templates: ./brand\n")
    folder = desk.root / "brand" / "en" / "customer"
    folder.mkdir(parents=True)
    template = folder / "autoresponse_new.txt"
    good = (SHIPPED / "en" / "customer" / "autoresponse_new.txt").read_text()
    template.write_text(good)
    app = desk.app()
    try:
        _batch(app, "warm")  # compiled and cached by Jinja2 before counting
        looked: list[str] = []
        real = os.path.getmtime

        def getmtime(path: str) -> float:  # Jinja2's up-to-date check
            looked.append(str(path))
            return real(path)

        monkeypatch.setattr(os.path, "getmtime", getmtime)
        _batch(app, "once", n=6)
        assert looked and len(looked) == len(set(looked))  # once per file in the batch
        assert any(p.endswith("autoresponse_new.txt") for p in looked)
        looked.clear()
        _batch(app, "again")  # the next batch looks again
        assert looked and len(looked) == len(set(looked))
        monkeypatch.undo()
        assert [s for s, _ in _autoreplies(app)] == ["queued"] * 14

        _edit(template, "{% if %}broken\n")  # edited while maildesk runs
        _batch(app, "broken")
        broken = _autoreplies(app)[14:]
        assert len(broken) == 4
        assert all(s == "failed" and e and "not built" in e for s, e in broken), broken

        _edit(template, good)  # and repaired: the next batch takes it
        _batch(app, "repaired")
        assert [s for s, _ in _autoreplies(app)[18:]] == ["queued"] * 4
    finally:
        app.close()


def test_find_template_finds_each_template_once_in_a_scope(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    desk = make_desk(tmp_path / "d", extra="templates: ./brand\n")
    folder = desk.root / "brand" / "en" / "agent"
    folder.mkdir(parents=True)
    (folder / "refusal.txt").write_text("{% if %}broken\n")
    app = desk.app()
    config = app.config
    app.close()
    selected: list[tuple[str, ...]] = []
    real = templating.jinja2.Environment.select_template

    def select_template(env: Any, names: Any, *args: Any) -> Any:
        selected.append(tuple(names))
        return real(env, names, *args)

    monkeypatch.setattr(templating.jinja2.Environment, "select_template", select_template)
    name = "customer/autoresponse_new.txt"
    with templating.checked_once():
        first = [find_template(config, name, lang) for lang in ("en", "de-AT", None, "xx")]
        again = [find_template(config, name, lang) for lang in ("en", "de-AT", None, "xx")]
        assert [a is b for a, b in zip(first, again, strict=True)] == [True] * 4
        assert [t.name for t in first] == [f"{lang}/{name}" for lang in ("en", "de", "en", "en")]
        assert len(selected) == 4  # once per name and language
        for _ in range(2):  # an error is not kept: raised by every lookup
            with pytest.raises(jinja2.TemplateSyntaxError):
                find_template(config, "agent/refusal.txt", "en")
        assert len(selected) == 6
    selected.clear()
    for _ in range(2):  # outside a scope every lookup selects, as before
        assert find_template(config, name, "de-AT").name == f"de/{name}"
    assert len(selected) == 2
