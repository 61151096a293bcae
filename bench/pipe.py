"""One process per mail, as an MTA's pipe transport runs it: `maildesk deliver` (handing
the mail to a running `maildesk serve` on `listen.socket`, SPEC 19, and alone in its own
process) beside Roundup's mail gateway (`roundup-mailgw TRACKER`, from PyPI, into a fresh
sqlite tracker of the classic template). Whole-process wall time, start-up included, same
mails on stdin.

Roundup is installed into a venv this script makes under a temporary folder (pip, by
package name); if that fails, maildesk's figures are printed alone. Mails alternate new
tickets and replies (In-Reply-To plus Roundup's `[issueN]` tag, which maildesk ignores),
from a pool of 5 senders, so Roundup registers few users (each costs it a PBKDF2 hash).

    python bench/pipe.py            # 20 mails each
    python bench/pipe.py -n 50
"""

from __future__ import annotations

import argparse
import configparser
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import free_port, machine, make_desk, start_maildesk  # noqa: E402

ROUNDUP = "roundup"  # the PyPI package; perf.md measured 2.6.0


def mails(n: int) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    stamp = time.time_ns()
    for i in range(n):
        sender = f"customer{i // 2 % 5}@example.org"
        issue, parent = i // 2 + 1, f"pipe-{stamp}-{i - 1}@example.org"
        mid = f"pipe-{stamp}-{i}@example.org"
        if i % 2 == 0:
            subject, refs = f"Printer number {issue} is on fire", ""
        else:
            subject = f"Re: [issue{issue}] Printer number {issue} is on fire"
            refs = f"In-Reply-To: <{parent}>\r\nReferences: <{parent}>\r\n"
        head = (f"From: Customer <{sender}>\r\nTo: support@example.com\r\nSubject: {subject}\r\n"
                f"Message-ID: <{mid}>\r\n{refs}Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n"
                "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
        body = "Hello,\r\n\r\nthe printer is on fire again.\r\n" + "> quoted text\r\n" * 60
        out.append((sender, (head + body).encode()))
    return out


def timed(cmd: list[str], data: bytes, cwd: Path) -> tuple[float, int]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, input=data, capture_output=True, cwd=cwd, timeout=120)
    return time.perf_counter() - started, proc.returncode


def install_roundup(folder: Path) -> tuple[Path, Path] | str:
    """A venv with roundup and a classic sqlite tracker; (bin folder, tracker) or why not."""
    venv = folder / "roundup-venv"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True,
                       capture_output=True, timeout=120)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", ROUNDUP], check=True,
                       capture_output=True, timeout=600)
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        return f"cannot install {ROUNDUP}: {exc} {detail.decode(errors='replace')[-300:]}"
    tracker = folder / "tracker"
    admin = str(venv / "bin" / "roundup-admin")
    try:
        subprocess.run([admin, "-i", str(tracker), "install", "classic", "sqlite"], check=True,
                       capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
        ini = configparser.RawConfigParser()
        ini.read(tracker / "config.ini")
        ini.set("tracker", "web", "http://localhost/tracker/")
        ini.set("mail", "domain", "example.com")
        ini.set("mail", "host", "localhost")
        ini.set("mail", "debug", str(tracker / "sent-mail.log"))  # written, never sent
        ini.set("mailgw", "subject_content_match", "never")  # no folding by equal titles
        with (tracker / "config.ini").open("w") as f:
            ini.write(f)
        schema = tracker / "schema.py"  # unknown senders may mail in (as perf.md set it)
        schema.write_text(schema.read_text().replace(
            "#db.security.addPermissionToRole('Anonymous', 'Email Access')",
            "db.security.addPermissionToRole('Anonymous', 'Email Access')"))
        subprocess.run([admin, "-i", str(tracker), "initialise", "bench-admin-pw"], check=True,
                       capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    except (subprocess.SubprocessError, OSError, configparser.Error) as exc:
        return f"cannot set up a Roundup tracker: {exc}"
    return venv / "bin", tracker


def summary(name: str, times: list[float], fails: int) -> str:
    return (f"| {name} | {len(times)} | {statistics.median(times) * 1000:.0f} "
            f"| {statistics.mean(times) * 1000:.0f} | {min(times) * 1000:.0f} "
            f"| {max(times) * 1000:.0f} | {len(times) / sum(times):.1f} | {fails} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=20, help="mails per gateway")
    args = ap.parse_args()
    print(f"# pipe: {machine()}")
    with tempfile.TemporaryDirectory(prefix="maildesk-pipe-") as tmp:
        folder = Path(tmp)
        config = make_desk(folder / "desk", free_port())
        exe = Path(sys.executable).parent / "maildesk"
        deliver = ([str(exe)] if exe.exists() else [sys.executable, "-m", "maildesk"])
        deliver_alone = [*deliver, "--config", str(config), "deliver",
                         "--recipient", "support@example.com"]
        served = make_desk(folder / "served", free_port())
        served.write_text(served.read_text().replace(
            "listen:\n", "listen:\n  socket: ./var/lmtp.sock\n", 1))
        daemon = start_maildesk(served, pin=False)
        deliver_daemon = [*deliver, "--config", str(served), "deliver",
                          "--recipient", "support@example.com"]
        roundup = install_roundup(folder)
        if isinstance(roundup, str):
            print(f"Roundup not measured: {roundup}")
        else:
            version = subprocess.run([str(roundup[0] / "python"), "-c",
                                      "import roundup; print(roundup.__version__)"],
                                     capture_output=True, text=True).stdout.strip()
            print(f"roundup {version}, classic template, sqlite")
        batch = mails(args.n + 1)
        md: list[float] = []
        mdd: list[float] = []
        rd: list[float] = []
        md_fail = mdd_fail = rd_fail = 0
        for i, (sender, data) in enumerate(batch):  # interleaved: all see the same noise
            t, rc = timed([*deliver_alone, "--sender", sender], data, folder)
            if i:  # the first of each only warms the page cache
                md.append(t)
                md_fail += rc != 0
            t, rc = timed([*deliver_daemon, "--sender", sender], data, folder)
            if i:
                mdd.append(t)
                mdd_fail += rc != 0
            if not isinstance(roundup, str):
                t, rc = timed([str(roundup[0] / "roundup-mailgw"), str(roundup[1])], data,
                              folder)
                if i:
                    rd.append(t)
                    rd_fail += rc != 0
        print("| gateway | mails | median ms/mail | mean ms | min ms | max ms | mails/s "
              "| non-zero exits |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        daemon.stop()
        print(summary("maildesk deliver, daemon on listen.socket", mdd, mdd_fail))
        print(summary("maildesk deliver, no daemon (in process)", md, md_fail))
        if rd:
            print(summary("roundup-mailgw", rd, rd_fail))
            ratio = statistics.median(rd) / statistics.median(mdd)
            print(f"\ntarget: deliver with a daemon >= 3x faster than roundup-mailgw per "
                  f"mail (median): {ratio:.1f}x ({'met' if ratio >= 3 else 'MISSED'})")
        for what in ("pass", "import maildesk.deliver", "import maildesk.cli"):
            took = statistics.median(
                timed([sys.executable, "-c", what], b"", folder)[0] for _ in range(5))
            print(f"python -c {what!r}: {took * 1000:.0f} ms (median of 5)")


if __name__ == "__main__":
    main()
