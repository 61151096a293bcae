"""Fault drills (issue 7): the daemon under load is killed, its relay goes away, its disk
fills up; afterwards every acknowledged mail is stored once and every outbox mail is
delivered once. Each drill runs the real `maildesk serve` and stops by itself within its
bounds (a few tens of seconds)."""

from __future__ import annotations

import os
import smtplib
import sqlite3
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from smtp_helpers import Client, Daemon, mail, prepare

from tests.drills.conftest import drill_config
from tests.outbound.conftest import Sink


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return bool(predicate())


def spooled(folder: Path) -> list[Path]:
    return sorted((folder / "store" / "spool").glob("*/*.mail"))


def query(daemon: Daemon, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(daemon.db_path, timeout=30) as conn:
        return conn.execute(sql).fetchall()


def test_sigkill_under_load_three_times_in_a_row_stores_every_acknowledged_mail_once(
        tmp_path: Path, daemons: list[Daemon]) -> None:
    """Four clients send back to back; the daemon is killed -9 once enough mails of the
    round have their 250, restarted (its start-up drains what it spooled), and killed
    again: three rounds. Mails without a 250 go back to the pile and are sent again with
    identical bytes, as an MTA retries (some of them were committed before the kill: the
    pipeline's dedupe of identical bytes must make them one article). At the end every
    mail is stored exactly once. tests/smtp/test_daemon.py has the single-kill case."""
    config = drill_config(tmp_path)
    prepare(config)
    ids = [f"kill-{n}-{uuid.uuid4().hex[:8]}@drill.example" for n in range(260)]
    mails = {m: mail(m, subject=f"drill {m}", size=2000) for m in ids}
    pile = list(reversed(ids))  # to send; popped from the end
    acked: set[str] = set()
    lock = threading.Lock()
    d = Daemon(config)
    daemons.append(d)

    def client(port: int, stop: threading.Event) -> None:
        current: str | None = None
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
                while not stop.is_set():
                    with lock:
                        if not pile:
                            return
                        current = pile.pop()
                    s.sendmail("carol@customer.example", ["support@example.com"],
                               mails[current])
                    with lock:
                        acked.add(current)
                    current = None
        except (smtplib.SMTPException, OSError):
            pass  # killed under us
        finally:
            if current is not None:
                with lock:
                    pile.append(current)  # no 250: the "MTA" keeps it for later

    for _round in range(3):
        d.start()
        port = d.port()
        before = len(acked)
        stop = threading.Event()
        threads = [threading.Thread(target=client, args=(port, stop)) for _ in range(4)]
        for t in threads:
            t.start()
        assert wait_until(lambda b=before: len(acked) >= b + 40, 60), "too few 250s in a round"
        d.proc.kill()  # type: ignore[union-attr]
        d.proc.wait(10)  # type: ignore[union-attr]
        stop.set()
        for t in threads:
            t.join(30)
        assert not any(t.is_alive() for t in threads)
        assert pile, "the round ran out of mail before the kill: nothing was in flight"

    d.start()
    with smtplib.SMTP("127.0.0.1", d.port(), timeout=20) as s:
        for m in [m for m in ids if m not in acked]:
            assert s.sendmail("carol@customer.example", ["support@example.com"], mails[m]) == {}
    assert wait_until(lambda: not spooled(tmp_path), 15), "the inbound spool was not drained"
    stored = d.articles()
    assert {m: stored.get(m, 0) for m in ids} == dict.fromkeys(ids, 1)
    assert sum(stored.values()) == len(ids)


def test_relay_down_then_back_delivers_each_outbox_mail_once(
        tmp_path: Path, daemons: list[Daemon]) -> None:
    """The relay's port is closed while mails come in: intake keeps answering 250 and the
    auto-responses and agent notifications wait in the outbox (retry_first 1s, retry_max
    2s). Then a sink starts on that port and refuses the first three DATA with 451. Every
    outbox mail reaches the sink exactly once, counted per Message-ID."""
    relay_port = Sink().port  # a free port, nobody listening yet
    config = drill_config(tmp_path, relay_port=relay_port)
    prepare(config)
    d = Daemon(config)
    daemons.append(d)
    d.start()
    sent_ids = [f"relay-{n}-{uuid.uuid4().hex[:8]}@drill.example" for n in range(12)]
    with smtplib.SMTP("127.0.0.1", d.port(), timeout=20) as s:
        for n, m in enumerate(sent_ids):
            raw = mail(m, subject=f"relay drill {n}", sender=f"customer{n}@customer.example")
            assert s.sendmail(f"customer{n}@customer.example", ["support@example.com"],
                              raw) == {}
    # one auto-response and one notification per new ticket, tried and refused
    assert wait_until(lambda: query(d, "SELECT COUNT(*) FROM outbox WHERE attempts >= 1")
                      == [(2 * len(sent_ids),)], 15), "the sender never tried the relay"
    assert query(d, "SELECT COUNT(*) FROM outbox WHERE state = 'sent'") == [(0,)]

    sink = Sink(relay_port)
    sink.handler.tempfail_data = 3
    sink.start()
    try:
        outbox = {str(mid) for (mid,) in query(d, "SELECT message_id FROM outbox")}
        assert len(outbox) == 2 * len(sent_ids)
        assert wait_until(lambda: len(sink.received) >= len(outbox), 30), (
            f"{len(sink.received)} of {len(outbox)} delivered")
        time.sleep(3)  # past the next retry: a second copy would have arrived by now
        counts = Counter(str(r.message["Message-ID"]).strip("<>") for r in sink.received)
    finally:
        sink.stop()
    assert counts == dict.fromkeys(outbox, 1)
    assert query(d, "SELECT state, COUNT(*) FROM outbox GROUP BY state") == [
        ("sent", len(outbox))]


@contextmanager
def small_filesystem(folder: Path, size: str = "4m") -> Iterator[str]:
    """A small tmpfs on `folder` when root may mount one (CI runs as root): the real
    ENOSPC. Otherwise the test is skipped rather than faked: as a normal user the
    equivalent fault would be a read-only folder, which root (who can mount) ignores."""
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                             str(folder)], capture_output=True, timeout=30)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {result.stderr.decode().strip()}")
    try:
        yield "tmpfs"
    finally:
        for _ in range(20):  # the daemon may still hold files open for a moment
            if subprocess.run(["umount", str(folder)], capture_output=True,
                              timeout=30).returncode == 0:
                break
            time.sleep(0.25)


def fill_up(folder: Path) -> Path:
    """Write a file until the filesystem says ENOSPC; the file, to free the space."""
    filler = folder / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb") as f:
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError:
            pass
    return filler


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a small filesystem")
def test_full_disk_for_the_article_store_answers_451_and_loses_nothing(
        tmp_path: Path, daemons: list[Daemon]) -> None:
    """The article store and the spools live on a 4 MiB tmpfs (the database beside it,
    elsewhere). A transaction passes MAIL while there is room; the disk fills up before
    its final dot. The article write fails with ENOSPC and so does the spool that would
    keep the mail: the answer is 451 (the MTA keeps the mail) and nothing half-stored is
    left. While full, MAIL itself gets 452 (the free-space check). After the space is
    freed, the retried mail is stored, once, and the mails from before are intact."""
    store = tmp_path / "store"
    store.mkdir()
    with small_filesystem(store):
        config = drill_config(tmp_path, max_size="1MiB")  # MAIL needs 1.5 MiB free
        prepare(config)
        d = Daemon(config)
        daemons.append(d)
        d.start()
        port = d.port()
        early = [f"early-{n}@drill.example" for n in range(3)]
        with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
            for m in early:
                s.sendmail("carol@customer.example", ["support@example.com"],
                           mail(m, size=20_000))
        big_id = f"full-{uuid.uuid4().hex[:8]}@drill.example"
        big = mail(big_id, subject="arrives on a full disk", size=200_000)

        c = Client(port, timeout=20)
        try:
            c.replies()
            c.send("EHLO client.example\r\n")
            c.lines()
            c.send("MAIL FROM:<carol@customer.example>\r\nRCPT TO:<support@example.com>\r\n"
                   "DATA\r\n")
            assert [r[:3] for r in c.replies(3)] == ["250", "250", "354"]
            c.send(big)
            filler = fill_up(store)
            c.send(b".\r\n")
            reply = c.replies(timeout=30)[0]
            assert reply.startswith("451 "), reply
            log = d.log()
            assert "No space left on device" in log and "could not spool mail" in log, log
            assert big_id not in d.articles()
            assert spooled(tmp_path) == []
            assert list(store.rglob(".tmp-*")) == []  # no half-written file left behind

            time.sleep(2.2)  # the free-space check is cached for 2 s
            c.send("MAIL FROM:<carol@customer.example>\r\n")
            assert c.replies()[0].startswith("452 4.3.1"), "MAIL on a full disk"
            c.send("RSET\r\n")
            c.replies()

            filler.unlink()
            time.sleep(2.2)
            for attempt in range(2):  # the MTA's retry, then a duplicate of it
                c.send("MAIL FROM:<carol@customer.example>\r\nRCPT TO:<support@example.com>"
                       "\r\nDATA\r\n")
                assert [r[:3] for r in c.replies(3)] == ["250", "250", "354"], attempt
                c.send(big + b".\r\n")
                reply = c.replies(timeout=30)[0]
                assert reply.startswith("250 "), (attempt, reply)
        finally:
            c.close()
        stored = d.articles()
        assert {m: stored.get(m) for m in [*early, big_id]} == dict.fromkeys([*early, big_id], 1)
        assert spooled(tmp_path) == []
        d.stop()
