"""Acknowledged mail (issue 11): after a 250 a spooled mail is stored or moved to
`spool/failed`, never deleted; unmatched bounces are kept once; new folders on the
durable path are fsynced into their parents."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from maildesk.intake.message import Envelope
from maildesk.intake.spool import Spool
from maildesk.store.articles import ArticleStore
from tests.conftest import Desk, mail_bytes, simple_mail


def _spooled(desk: Desk, which: str) -> list[Path]:
    return sorted((desk.root / "var" / "spool" / which).glob("*.mail"))


def _spool_unroutable(desk: Desk) -> bytes:
    """A mail acknowledged for a queue the config no longer has (put there as the daemon
    would have while the database was away)."""
    raw = simple_mail(subject="for a queue removed since", to="gone@example.com")
    app = desk.app()
    app.inbound.put(raw, Envelope("carol@example.org", ("gone@example.com",)), "away")
    app.close()
    return raw


def test_spool_retry_moves_a_refused_acknowledged_mail_to_failed(desk: Desk) -> None:
    raw = _spool_unroutable(desk)
    result = desk.cli("spool", "retry")
    assert result.returncode == 75, result.stderr
    assert b"550" in result.stderr and b"spool/failed" in result.stderr
    assert _spooled(desk, "inbound") == []
    kept = _spooled(desk, "failed")
    assert len(kept) == 1 and kept[0].read_bytes().endswith(raw)
    # Retrying again keeps it where it is: still there, still in failed.
    assert desk.cli("spool", "retry").returncode == 75
    assert _spooled(desk, "failed") == kept


def test_the_drain_treats_it_the_same_way(desk: Desk) -> None:
    raw = _spool_unroutable(desk)
    app = desk.app()
    assert app.drain_inbound() == 1
    app.close()
    kept = _spooled(desk, "failed")
    assert len(kept) == 1 and kept[0].read_bytes().endswith(raw)


def test_an_unmatched_bounce_is_kept_once_and_retry_keeps_it(desk: Desk) -> None:
    bounce = mail_bytes("dsn_bounce_verp.eml")
    first = desk.ingest(bounce, sender="", recipients=("support@example.com",))
    second = desk.ingest(bounce, sender="", recipients=("support@example.com",))
    assert (first.result, second.result) == ("unmatched_bounce", "unmatched_bounce")
    assert first.text == second.text
    kept = _spooled(desk, "unmatched")
    assert len(kept) == 1 and kept[0].read_bytes().endswith(bounce)
    result = desk.cli("spool", "retry")
    assert result.returncode == 0, result.stderr
    assert _spooled(desk, "unmatched") == kept


def test_an_unmatched_bounce_is_written_once_when_the_transaction_runs_again(
        desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lost race re-runs the pipeline's transaction; the spool file is not part of it."""
    from sqlalchemy.orm.exc import StaleDataError

    from maildesk.store import db as dbmod

    real = dbmod.retry_conflicts
    runs = []

    def lose_the_first_race(work, **kw):  # noqa: ANN001, ANN003, ANN202
        def once():  # noqa: ANN202
            result = work()
            runs.append(result)
            if len(runs) == 1:
                raise StaleDataError("lost a race")
            return result
        return real(once, **kw)

    monkeypatch.setattr(dbmod, "retry_conflicts", lose_the_first_race)
    bounce = mail_bytes("dsn_bounce_verp.eml").replace(b"7A1B2C3D4E", b"7A1B2C3D4F")
    outcome = desk.ingest(bounce, sender="", recipients=("support@example.com",))
    assert outcome.result == "unmatched_bounce" and len(runs) == 2
    assert len(_spooled(desk, "unmatched")) == 1


def _fsynced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        seen.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return seen


def test_new_article_folders_are_fsynced_into_their_parents(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _fsynced(monkeypatch)
    store = ArticleStore(tmp_path, "filesystem")
    key = store.put(None, b"a mail")  # type: ignore[arg-type]  # filesystem mode: no session
    root = tmp_path / "articles"
    for parent in (tmp_path, root, root / key[:2], root / key[:2] / key[2:4]):
        assert str(parent) in seen, parent


def test_new_spool_folders_are_fsynced_into_their_parents(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _fsynced(monkeypatch)
    Spool(tmp_path / "spool" / "inbound").put(b"x", Envelope("a@b.example", ()), "")
    for parent in (tmp_path, tmp_path / "spool", tmp_path / "spool" / "inbound"):
        assert str(parent) in seen, parent
