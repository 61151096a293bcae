"""Slow senders (issue 13): all of DATA had to arrive within `idle_timeout`, so a slow
link could never deliver a big mail. Now each read restarts the idle clock and the whole
transfer may take idle_timeout plus its size at `min_data_rate`; a trickle below that
rate is closed with 421 4.4.2. Bounded: idle_timeout 2s, seconds per case."""

from __future__ import annotations

import time
from pathlib import Path

from smtp_helpers import Client, Daemon, mail, prepare, write_config

from maildesk.smtp import status


def _start_data(port: int) -> Client:
    c = Client(port, timeout=30)
    assert c.replies()[0].startswith("220")
    c.send("EHLO slow.example\r\nMAIL FROM:<carol@customer.example>\r\n"
           "RCPT TO:<support@example.com>\r\nDATA\r\n")
    c.lines()
    assert [r[:3] for r in c.replies(3)] == ["250", "250", "354"]
    return c


def test_a_slow_link_delivers_and_a_trickle_is_cut(tmp_path: Path,
                                                   daemons: list[Daemon]) -> None:
    config = write_config(tmp_path, idle_timeout="2s",
                          extra_listen="  min_data_rate: 8KiB\n")
    prepare(config)
    d = Daemon(config)
    daemons.append(d)
    d.start()

    # 60 KiB over about 4 s (15 KiB/s): longer than idle_timeout, faster than the minimum
    raw = mail("slow-link@customer.example", size=60 * 1024)
    c = _start_data(d.port())
    started = time.monotonic()
    for n in range(0, len(raw), 3 * 1024):
        c.send(raw[n:n + 3 * 1024])
        time.sleep(0.2)
    c.send(b".\r\n")
    assert c.replies(timeout=20)[0].startswith("250")
    assert time.monotonic() - started > 3  # it really took longer than idle_timeout
    c.close()

    # a trickle: a short line every 0.5 s (never idle for 2 s), far below 8 KiB/s
    c = _start_data(d.port())
    started = time.monotonic()
    reply = None
    try:
        for n in range(60):
            c.send(f"X-Trickle-{n}: x\r\n")
            time.sleep(0.5)
            c.sock.settimeout(0.01)
            try:
                data = c.sock.recv(4096)
            except TimeoutError:
                continue
            reply = data.decode().strip()
            break
    except OSError:
        reply = "closed"
    finally:
        c.close()
    assert reply in (status.TOO_SLOW, "closed"), reply
    assert time.monotonic() - started < 8  # idle_timeout plus what it sent at the minimum
    assert d.articles() == {"slow-link@customer.example": 1}
