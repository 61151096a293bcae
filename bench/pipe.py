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
    python bench/pipe.py --uncached # and a row with maildesk compiled from source each time

maildesk runs from its byte-code, as an installed package does (pip and Debian compile it at
install; Roundup's venv here has its own): the bench writes it to a cache folder of its own
(PYTHONPYCACHEPREFIX) during the untimed first mail. An editable checkout run under
PYTHONDONTWRITEBYTECODE (as on the build machines) otherwise compiles ~110 modules from
source in every process: `--uncached` adds that row.
"""

from __future__ import annotations

import argparse
import configparser
import os
import resource
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


def timed(cmd: list[str], data: bytes, cwd: Path,
          env: dict[str, str] | None = None) -> tuple[float, int]:
    wall, _cpu, code = timed_cpu(cmd, data, cwd, env)
    return wall, code


def timed_cpu(cmd: list[str], data: bytes, cwd: Path,
              env: dict[str, str] | None = None) -> tuple[float, float, int]:
    """Wall time, CPU time (user + system, the process and its children) and exit code. On
    a loaded machine the wall time is mostly waiting for a core; the CPU time is the work."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, input=data, capture_output=True, cwd=cwd, timeout=120, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.returncode


def bytecode_env(cache: Path | None) -> dict[str, str]:
    """The environment of a maildesk process: byte-code read from and written to `cache`
    (the installed case), or with None never written (every maildesk module that has no
    byte-code yet is compiled from source in every process)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    if cache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


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


class Runs:
    """One gateway's timed mails."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.fails = 0

    def add(self, wall: float, cpu: float, rc: int) -> None:
        self.wall.append(wall)
        self.cpu.append(cpu)
        self.fails += rc != 0

    def summary(self, name: str) -> str:
        times = self.wall
        return (f"| {name} | {len(times)} | {statistics.median(times) * 1000:.0f} "
                f"| {statistics.mean(times) * 1000:.0f} | {min(times) * 1000:.0f} "
                f"| {max(times) * 1000:.0f} | {statistics.median(self.cpu) * 1000:.0f} "
                f"| {len(times) / sum(times):.1f} | {self.fails} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=20, help="mails per gateway")
    ap.add_argument("--uncached", action="store_true",
                    help="also time deliver (no daemon) without byte-code of its own")
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
        cached = bytecode_env(folder / "pycache")
        uncached = bytecode_env(None)
        daemon = start_maildesk(served, pin=False, env=cached)
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
        md, mdd, rd, mdu = Runs(), Runs(), Runs(), Runs()
        source = [(sender, data.replace(b"Message-ID: <", b"Message-ID: <source-", 1))
                  for sender, data in batch]  # the same mails again, as new ones
        for i, (sender, data) in enumerate(batch):  # interleaved: all see the same noise
            run = timed_cpu([*deliver_alone, "--sender", sender], data, folder, cached)
            if i:  # the first of each only warms the page cache (and writes byte-code)
                md.add(*run)
            run = timed_cpu([*deliver_daemon, "--sender", sender], data, folder, cached)
            if i:
                mdd.add(*run)
            if args.uncached:
                run = timed_cpu([*deliver_alone, "--sender", sender], source[i][1], folder,
                                uncached)
                if i:
                    mdu.add(*run)
            if not isinstance(roundup, str):
                run = timed_cpu([str(roundup[0] / "roundup-mailgw"), str(roundup[1])], data,
                                folder)
                if i:
                    rd.add(*run)
        print("| gateway | mails | median ms/mail | mean ms | min ms | max ms "
              "| median CPU ms | mails/s | non-zero exits |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        daemon.stop()
        print(mdd.summary("maildesk deliver, daemon on listen.socket (CPU: the client's)"))
        print(md.summary("maildesk deliver, no daemon (in process)"))
        if mdu.wall:
            print(mdu.summary("maildesk deliver, no daemon, compiled from source"))
        if rd.wall:
            print(rd.summary("roundup-mailgw"))
            ratio = statistics.median(rd.wall) / statistics.median(mdd.wall)
            print(f"\ntarget: deliver with a daemon >= 3x faster than roundup-mailgw per "
                  f"mail (median): {ratio:.1f}x ({'met' if ratio >= 3 else 'MISSED'})")
            for what, runs in (("wall", md.wall), ("CPU", md.cpu)):
                alone = statistics.median(runs) / statistics.median(
                    rd.wall if what == "wall" else rd.cpu)
                print(f"target: deliver without a daemon no slower than wave 1 (3.1x "
                      f"roundup-mailgw's time), {what} time: {alone:.2f}x "
                      f"({'met' if alone <= 3.1 else 'MISSED'})")
        for what in ("pass", "import maildesk.deliver", "import maildesk.cli",
                     "import maildesk.app, maildesk.pipeline"):
            took = statistics.median(
                timed([sys.executable, "-c", what], b"", folder, cached)[0] for _ in range(5))
            print(f"python -c {what!r}: {took * 1000:.0f} ms (median of 5)")


if __name__ == "__main__":
    main()
