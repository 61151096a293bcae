"""Mailboxes: 10,000 mails fetched from a private Dovecot by `maildesk fetch --once`, beside
the SMTP ingest rate of the same machine in the same run (the yardstick; target >= 50%).

The same mails both ways (2 KB, half new tickets, half replies by In-Reply-To), each into a
fresh desk on SQLite. SMTP: `maildesk serve` at concurrency 8 (bench/smtp_ingest.py's
headline cell). IMAP: the mails are APPENDed to the Dovecot account before the clock starts;
the clock runs from the start of the `fetch --once` process until it exits, so it includes
start-up, login, the batched FETCHes, the pipeline, the position commits and the deletes.

    python bench/fetch.py              # 10,000 mails (about 3 minutes)
    python bench/fetch.py -n 1000      # a smoke run

Dovecot comes from Debian's packages (installed when missing, as the tests do); needs root.
"""

from __future__ import annotations

import argparse
import imaplib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import (  # noqa: E402
    MailSource,
    free_port,
    machine,
    make_desk,
    run_load,
    start_maildesk,
    stored_count,
    wait_stored,
)

from tests.mailboxes.dovecot import PrivateDovecot, ensure_dovecot  # noqa: E402

MAILBOX = """
mailboxes:
  - name: bench
    url: imaps://{user}@127.0.0.1:{port}/INBOX
    password_file: {secret}
    tls_ca_file: {cert}
    recipient: support@example.com
    after: delete
    batch: {batch}
"""


def mails(count: int) -> list[bytes]:
    source = MailSource(0, 2_000, run="fetch")
    return [source.next()[1] for _ in range(count)]


def smtp_rate(folder: Path, count: int) -> tuple[float, int]:
    """Mails per second through SMTP at concurrency 8, until `count` are stored."""
    config = make_desk(folder / "smtp", free_port())
    server = start_maildesk(config, pin=False)
    try:
        run_load(server.port, [MailSource(c, 2_000, run="w") for c in range(8)], seconds=5,
                 messages=200)  # warm-up
        before = stored_count(config)
        started = time.perf_counter()
        load = run_load(server.port, [MailSource(c, 2_000, run="m") for c in range(8)],
                        seconds=600, messages=count)
        wait_stored(config, before + load.accepted)
        elapsed = time.perf_counter() - started
        return load.accepted / elapsed, load.accepted
    finally:
        server.stop()


def append_all(dovecot: PrivateDovecot, user: str, password: str, raws: list[bytes]) -> float:
    started = time.perf_counter()
    client = imaplib.IMAP4("127.0.0.1", dovecot.imap)
    client.login(user, password)
    for raw in raws:
        client.append("INBOX", None, None, raw)
    client.logout()
    return time.perf_counter() - started


def fetch_rate(folder: Path, dovecot: PrivateDovecot, raws: list[bytes], batch: int,
               ) -> tuple[float, int, float]:
    user, password = dovecot.take_user()
    append_seconds = append_all(dovecot, user, password, raws)
    secret = folder / "imap.secret"
    secret.write_text(password + "\n")
    config = make_desk(folder / "imap", free_port())
    config.write_text(config.read_text() + MAILBOX.format(
        user=user.replace("@", "%40"), port=dovecot.imaps, secret=secret, cert=dovecot.cert,
        batch=batch))
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "maildesk", "--config", str(config),
                             "fetch", "--once"], capture_output=True, timeout=3600,
                            cwd=config.parent)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"fetch failed: {result.stderr.decode()[-2000:]}")
    stored = stored_count(config)
    return stored / elapsed, stored, append_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="mails fetched (default 10,000)")
    parser.add_argument("--smtp", type=int, default=3_000,
                        help="mails for the SMTP yardstick (default 3,000)")
    parser.add_argument("--batch", type=int, default=100, help="mailboxes[].batch")
    args = parser.parse_args()
    reason = ensure_dovecot()
    if reason is not None:
        raise SystemExit(f"cannot run Dovecot here: {reason}")
    print(machine())
    folder = Path(tempfile.mkdtemp(prefix="maildesk-bench-fetch-"))
    dovecot = PrivateDovecot()
    dovecot.start()
    try:
        raws = mails(args.n)
        smtp, smtp_n = smtp_rate(folder, args.smtp)
        print(f"SMTP ingest, concurrency 8:   {smtp_n:6d} mails  {smtp:7.1f} mails/s")
        rate, stored, append_s = fetch_rate(folder, dovecot, raws, args.batch)
        print(f"(APPEND of {args.n} mails to Dovecot beforehand: {append_s:.1f} s)")
        print(f"IMAP fetch --once, batch {args.batch}: {stored:6d} mails  {rate:7.1f} mails/s")
        print(f"fetch / SMTP: {rate / smtp:.0%} (target >= 50%)")
        if stored != args.n:
            print(f"WARNING: {stored} of {args.n} mails stored")
    finally:
        dovecot.stop()
        subprocess.run(["rm", "-rf", str(folder)], check=False)


if __name__ == "__main__":
    main()
