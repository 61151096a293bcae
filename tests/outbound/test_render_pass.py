"""A sender's pass (issue 20): what rendering reads is read in the claim's transaction, and
a template's file is looked at once per pass however many mails include it; a template
edited between two passes is the one the next pass renders, includes too."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from maildesk.outbound import deferred
from maildesk.outbound.batches import claim_ready, render_ready
from maildesk.outbound.outbox import claim_due, claim_mark
from tests.conftest import simple_mail
from tests.outbound.conftest import Sink, outbound_desk


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    looked: list[str] = []
    real = os.path.getmtime

    def getmtime(path: str) -> float:  # Jinja2's up-to-date check
        looked.append(str(path))
        return real(path)

    monkeypatch.setattr(os.path, "getmtime", getmtime)
    return looked


def test_a_pass_looks_at_each_template_once(tmp_path: Path, sink: Sink,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    desk = outbound_desk(tmp_path / "d", sink.port)
    for n in range(4):
        desk.ingest(simple_mail(subject=f"n{n}", sender=f"c{n}@example.org"),
                    sender=f"c{n}@example.org")
    app = desk.app()
    try:
        rows = claim_due(app.db, "t", 100, timedelta(0))
        render_ready(app, rows[:1])  # compiled and cached by Jinja2 before counting
        looked = _counting(monkeypatch)
        built, broken = render_ready(app, rows)
        assert not broken and len(built) == len(rows) >= 8
        assert looked and len(looked) == len(set(looked))  # once per file in the pass
        assert any(p.endswith("_signature.txt") for p in looked)  # includes too
        looked.clear()
        render_ready(app, rows)  # the next pass looks again
        assert sorted(looked) == sorted(set(looked)) and looked
        looked.clear()
        outside = deferred.message_bytes  # outside a pass: every lookup looks, as before
        with app.db.reading() as session:
            for row in rows[:2]:
                outside(session, app.config, b"", row.spec, row.message_id)
        assert len(looked) >= 4
    finally:
        app.close()


def test_an_include_edited_between_passes_is_rendered_by_the_next(
        tmp_path: Path, sink: Sink) -> None:
    desk = outbound_desk(tmp_path / "d", sink.port, extra="templates: ./brand\n")
    folder = desk.root / "brand" / "en" / "customer"
    folder.mkdir(parents=True)
    signature = folder / "_signature.txt"
    signature.write_text("Old signature\n")
    for n in range(2):
        desk.ingest(simple_mail(subject=f"n{n}", sender=f"c{n}@example.org"),
                    sender=f"c{n}@example.org")
    app = desk.app()
    try:
        rows = [r for r in claim_due(app.db, "t", 100, timedelta(0)) if r.kind == "autoreply"]
        assert len(rows) == 2
        first, _ = render_ready(app, rows[:1])
        assert b"Old signature" in first[0].raw
        signature.write_text("New signature\n")
        later = os.stat(signature).st_mtime + 5  # a clock's second apart, whatever the fs
        os.utime(signature, (later, later))
        second, _ = render_ready(app, rows)
        assert all(b"New signature" in r.raw and b"Old" not in r.raw for r in second)
    finally:
        app.close()


def test_the_claim_reads_what_rendering_needs_and_renders_after_its_commit(
        tmp_path: Path, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> None:
    """One transaction per claim hop: no read transaction of its own for the rendering;
    the bytes are those a row rendered alone gets (the Date aside)."""
    desk = outbound_desk(tmp_path / "d", sink.port)
    for n in range(3):
        desk.ingest(simple_mail(subject=f"n{n}", sender=f"c{n}@example.org"),
                    sender=f"c{n}@example.org")
    app = desk.app()
    reads: list[int] = []
    real = type(app.db).reading

    def reading(db):  # noqa: ANN001, ANN202
        reads.append(1)
        return real(db)

    try:
        monkeypatch.setattr(type(app.db), "reading", reading)
        ready = claim_ready(app, "t", claim_mark("t"), 100, timedelta(seconds=60), True)
        monkeypatch.setattr(type(app.db), "reading", real)
        assert reads == [] and not ready.broken and ready.error is None
        assert len(ready.rows) >= 6 and all(r.fresh and r.raw for r in ready.rows)
        with app.db.reading() as session:
            for row in ready.rows:
                alone = deferred.message_bytes(session, app.config, b"", row.spec,
                                               row.message_id)
                assert _dateless(row.raw) == _dateless(alone)
    finally:
        app.close()


def _dateless(raw: bytes) -> bytes:
    return b"\r\n".join(line for line in raw.split(b"\r\n") if not line.startswith(b"Date:"))
