"""Memory of the daemon while it takes one 25 MiB mail with attachments, then ten at once.

Idle RSS (VmRSS after start-up and one small mail), then the peak (VmHWM, reset through
/proc/PID/clear_refs just before the big mail when the kernel allows it) while the mail is
received, parsed, stored and answered. The extra RSS as a multiple of the mail's size is
the figure that counts: it says how many copies of a mail are alive at once. The same mail
to aiosmtpd with a do-nothing handler shows what the SMTP layer alone costs. Then ten
copies (each its own Message-ID) on ten connections at once, against the same idle RSS:
targets under 4x one mail's size for one, under 40x for ten (issue 20).

    python bench/memory.py
"""

from __future__ import annotations

import os
import random
import smtplib
import sqlite3
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    Server,
    db_path,
    free_port,
    machine,
    make_desk,
    proc_status,
    start_maildesk,
    start_noop,
)

MiB = 2**20
TEN = 10  # mails at once
LIMIT = 25 * MiB  # maildesk's default max_message_size


def big_mail(target: int) -> bytes:
    """A customer mail with a text body and three attachments, just under `target` bytes."""
    rng = random.Random(7)
    msg = EmailMessage()
    msg["From"] = "Carol Customer <carol@customer.example>"
    msg["To"] = "support@example.com"
    msg["Subject"] = "Scans of the broken printer"
    msg["Message-ID"] = f"<big-{os.getpid()}-{time.time_ns()}@customer.example>"
    msg["Date"] = "Wed, 25 Nov 2026 10:00:00 +0000"
    msg.set_content("Hello,\n\nthe scans and the log are attached.\n\nCarol\n")
    share = int(target * 0.73 / 3)  # base64 and its line breaks add about 35%
    for name, ctype in (("scan 1.pdf", "application/pdf"), ("scan-2.jpg", "image/jpeg"),
                        ("printer.log", "application/octet-stream")):
        maintype, subtype = ctype.split("/")
        msg.add_attachment(rng.randbytes(share), maintype=maintype, subtype=subtype,
                           filename=name)
    raw = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    if len(raw) > target:
        raise SystemExit(f"mail came out at {len(raw)} bytes, over {target}")
    return raw


def send(port: int, raw: bytes) -> tuple[str, float]:
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, timeout=300) as s:
        s.ehlo()
        s.mail("carol@customer.example", [f"SIZE={len(raw)}"])
        s.rcpt("support@example.com")
        code, text = s.data(raw)
    return f"{code} {text.decode(errors='replace')}", time.perf_counter() - started


def send_many(port: int, raws: list[bytes]) -> tuple[list[str], float]:
    """All at once, one connection each; the replies and the time until the last."""
    from concurrent.futures import ThreadPoolExecutor

    started = time.perf_counter()
    with ThreadPoolExecutor(len(raws)) as pool:
        replies = [reply for reply, _ in pool.map(lambda raw: send(port, raw), raws)]
    return replies, time.perf_counter() - started


def copies(raw: bytes, count: int) -> list[bytes]:
    return [raw.replace(b"Message-ID: <big-", f"Message-ID: <big{n}-".encode(), 1)
            for n in range(count)]


def reset_peak(pid: int) -> bool:
    """Linux >= 4.0: writing 5 to clear_refs resets VmHWM to the current RSS."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def measure(server: Server, raws: list[bytes], small: bytes) -> dict[str, object]:
    """One mail first, then `raws` at once; extra RSS of each against the idle RSS."""
    reply, _ = send(server.port, small)
    time.sleep(1.0)
    idle = proc_status(server.pid, "VmRSS")
    reset = reset_peak(server.pid)
    reply, seconds = send(server.port, raws[0])
    time.sleep(0.5)
    peak = proc_status(server.pid, "VmHWM")
    after = proc_status(server.pid, "VmRSS")
    reset_peak(server.pid)
    replies, many_seconds = send_many(server.port, raws[1:])
    time.sleep(0.5)
    many_peak = proc_status(server.pid, "VmHWM")
    ok = sum(r.startswith("250") for r in replies)
    return {"idle": idle, "peak": peak, "after": after, "reply": reply, "seconds": seconds,
            "reset": reset, "extra": peak - idle, "many_extra": many_peak - idle,
            "many_peak": many_peak, "many_ok": ok, "many_seconds": many_seconds,
            "many_after": proc_status(server.pid, "VmRSS")}


def pipeline_peak(config: Path, raw: bytes) -> tuple[int, int]:
    """tracemalloc peaks of the parse alone and of the whole `App.ingest`, in this process:
    the pipeline's share of the daemon's extra memory, without the SMTP layer."""
    import tracemalloc

    from maildesk.app import open_app
    from maildesk.config import load_config
    from maildesk.intake.message import Envelope
    from maildesk.intake.parse import parse_message

    config_obj = load_config(config)
    app = open_app(config_obj)
    try:
        tracemalloc.start()
        parse_message(raw, config_obj.limits)
        parse = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        again = raw.replace(b"Message-ID: <big-", b"Message-ID: <big2-", 1)
        outcome = app.ingest(again, Envelope("carol@customer.example", ("support@example.com",)))
        ingest = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert outcome.code == 250, outcome
    finally:
        app.close()
    return parse, ingest


def main() -> None:
    raw = big_mail(LIMIT - 64 * 1024)
    raws = copies(raw, 1 + TEN)
    small = EmailMessage()  # a few lines, to warm the imports up
    small["From"], small["To"], small["Subject"] = ("carol@customer.example",
                                                    "support@example.com", "warm up")
    small["Message-ID"] = f"<small-{time.time_ns()}@customer.example>"
    small.set_content("Hello.\n")
    small_raw = small.as_bytes()
    print(f"# memory: {machine()}")
    print(f"mail: {len(raw):,} bytes ({len(raw) / MiB:.1f} MiB), 3 attachments")
    print("| server | idle RSS MiB | peak RSS MiB | extra MiB | extra / mail size | RSS after "
          "MiB | reply | seconds |")
    print("|---|---:|---:|---:|---:|---:|---|---:|", flush=True)
    with tempfile.TemporaryDirectory(prefix="maildesk-memory-") as tmp:
        folder = Path(tmp)
        results = {}
        for name in ("aiosmtpd noop", "maildesk"):
            if name == "maildesk":
                config = make_desk(folder / "desk", free_port())
                server = start_maildesk(config, pin=False)
            else:
                server = start_noop(folder, pin=False)
            try:
                r = measure(server, raws, small_raw)
            finally:
                server.stop()
            results[name] = r
            print(f"| {name} | {r['idle'] / MiB:.0f} | {r['peak'] / MiB:.0f} "  # type: ignore[operator]
                  f"| {r['extra'] / MiB:.0f} | {r['extra'] / len(raw):.1f}x "  # type: ignore[operator]
                  f"| {r['after'] / MiB:.0f} | {r['reply'][:40]} | {r['seconds']:.1f} |",  # type: ignore[index]
                  flush=True)
        print(f"\n{TEN} at once (one connection each, peak reset after the single mail):\n")
        print("| server | peak RSS MiB | extra MiB | extra / one mail's size | RSS after MiB "
              "| 250 replies | seconds |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, r in results.items():
            print(f"| {name} | {r['many_peak'] / MiB:.0f} | {r['many_extra'] / MiB:.0f} "  # type: ignore[operator]
                  f"| {r['many_extra'] / len(raw):.1f}x | {r['many_after'] / MiB:.0f} "  # type: ignore[operator]
                  f"| {r['many_ok']}/{TEN} | {r['many_seconds']:.1f} |", flush=True)
        with sqlite3.connect(db_path(config)) as conn:
            atts = conn.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM attachments"
                                ).fetchone()
        print(f"\nstored: {atts[0]} attachments, {atts[1]:,} bytes decoded")
        if not results["maildesk"]["reset"]:
            print("note: VmHWM could not be reset; the peak is since start-up")
        parse, ingest = pipeline_peak(config, raw)
        print(f"pipeline alone (tracemalloc, in process): parse peak {parse / len(raw):.1f}x, "
              f"App.ingest peak {ingest / len(raw):.1f}x the mail's size")
        ratio = results["maildesk"]["extra"] / len(raw)  # type: ignore[operator]
        print(f"target: extra RSS under 4x the mail's size: {ratio:.1f}x "
              f"({'met' if ratio < 4 else 'MISSED'})")
        many = results["maildesk"]["many_extra"] / len(raw)  # type: ignore[operator]
        print(f"target: {TEN} at once under {4 * TEN}x one mail's size: {many:.1f}x "
              f"({'met' if many < 4 * TEN else 'MISSED'})")


if __name__ == "__main__":
    main()
