"""Shared pieces of the benchmarks: a desk in a temporary folder, servers started as
processes (maildesk serve, or aiosmtpd with a do-nothing handler for the ceiling), an
asyncio SMTP load generator, percentiles and machine facts.

The load generator follows research/perf.md: raw asyncio streams, persistent connections
sending transactions back to back (MAIL, RCPT, DATA, data: 4 round trips, no pipelining),
bodies generated before the clock starts, server and client pinned to different CPUs with
`taskset` when there are two. Only the few header lines that make a mail unique are built
per mail (~10 us), so the client stays well above the servers it measures.

`python bench/common.py noop PORT` runs the do-nothing aiosmtpd server (the ceiling).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SERVER_CPU, CLIENT_CPU = 0, 1

CONFIG = """\
instance:
  name: Bench Support
  system_id: 10
  secret_file: ./var/secret
  autoresponse_daily_cap: 1000000
  autoresponse_hourly_cap: 1000000  # the desk-wide flood guard would stop them
database: sqlite:///{db}
storage:
  path: ./var
listen:
  smtp: 127.0.0.1:{port}
  max_message_size: {max_size}
  max_connections_per_client: 200
outbound:
  relay: 127.0.0.1:{relay_port}
  bounce_address: bounces@example.com
  retry_first: {retry_first}
queues:
  - name: Support
    address: support@example.com
    display_name: Example Support
    group: support
    autoresponse: {{new: true, followup: false}}
groups:
  support: {{Support: [read, note, reply, move, priority, lock, owner, close, merge]}}
agents:
  - address: alice@example.com
    name: Alice Example
    groups: [support]
  - address: bob@example.com
    name: Bob Example
    groups: [support]
"""


# -- machine and numbers ------------------------------------------------------------------


def machine() -> str:
    """nproc, CPU model and load: the figures mean little without them."""
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"nproc={os.cpu_count()} cpu={model!r} load={load} "
            f"python={sys.version.split()[0]} sqlite={sqlite3.sqlite_version}")


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0-100) of unsorted values; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fsync_us(folder: Path, count: int = 200) -> float:
    """Median microseconds of a 2 KB append + fsync here: the disk's part of a commit."""
    path = folder / "fsync-probe"
    times: list[float] = []
    with path.open("ab") as f:
        for _ in range(count):
            started = time.perf_counter()
            f.write(b"x" * 2048)
            f.flush()
            os.fsync(f.fileno())
            times.append(time.perf_counter() - started)
    path.unlink()
    return percentile(times, 50) * 1e6


# The CPUs this process could use when it started: `pin_self` narrows its own set to the
# client's CPU, after which the servers it starts must still be pinned to theirs.
_CPUS = frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else frozenset()


def can_pin() -> bool:
    return (shutil.which("taskset") is not None and hasattr(os, "sched_setaffinity")
            and {SERVER_CPU, CLIENT_CPU} <= _CPUS)


def pin_self(cpu: int) -> None:
    """Pin this process (the load generator) to one CPU, as `taskset -c` would."""
    if can_pin():
        os.sched_setaffinity(0, {cpu})


def pinned(cmd: list[str], cpu: int, pin: bool) -> list[str]:
    return ["taskset", "-c", str(cpu), *cmd] if pin and can_pin() else cmd


def _status(path: Path) -> dict[str, str]:
    """The fields of a /proc status file: name -> its value's first word."""
    fields = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition(":")
        words = value.split()
        if words:
            fields[name] = words[0]
    return fields


def proc_status(pid: int, field_name: str) -> int:
    """A kB field of /proc/PID/status (VmRSS, VmHWM) in bytes."""
    return int(_status(Path(f"/proc/{pid}/status"))[field_name]) * 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all threads, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def context_switches(pid: int) -> int:
    """Voluntary and involuntary context switches of every thread of a process so far
    (threads that ended are not counted: the daemon's live as long as it does)."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            fields = _status(status)
        except OSError:  # the thread ended between the listing and the read
            continue
        total += int(fields["voluntary_ctxt_switches"]) + int(
            fields["nonvoluntary_ctxt_switches"])
    return total


# -- a desk and its servers ---------------------------------------------------------------


def make_desk(folder: Path, port: int, *, max_size: str = "25MiB",
              relay_port: int | None = None, retry_first: str = "1h") -> Path:
    """Config and migrated SQLite database under `folder`. The relay is a closed port by
    default and the first retry an hour away: ingest writes the outbox rows (that is part
    of its cost), the sending is bench/outbox.py's to measure."""
    from maildesk.app import ensure_secret, open_app
    from maildesk.config import load_config
    from maildesk.store.migrate import upgrade

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "maildesk.yaml"
    path.write_text(CONFIG.format(db=folder / "var" / "maildesk.db", port=port,
                                  max_size=max_size, relay_port=relay_port or free_port(),
                                  retry_first=retry_first))
    config = load_config(path)
    ensure_secret(config.instance.secret_file)
    app = open_app(config)
    upgrade(app.db)
    app.close()
    return path


def db_path(config: Path) -> Path:
    return config.parent / "var" / "maildesk.db"


def stored_count(config: Path) -> int:
    """Inbound articles (outbound ones carry no raw_sha256)."""
    with sqlite3.connect(db_path(config), timeout=30) as conn:
        return int(conn.execute(
            "SELECT COUNT(*) FROM articles WHERE raw_sha256 IS NOT NULL").fetchone()[0])


class Server:
    """A server process on a loopback port: `maildesk serve` or the do-nothing ceiling."""

    def __init__(self, name: str, cmd: list[str], port: int, log: Path,
                 cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.port = port
        self.log_path = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1",
                                              **(env or {})})
        wait_smtp(port, self.proc)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start_maildesk(config: Path, *, pin: bool = True,
                   env: dict[str, str] | None = None) -> Server:
    """`maildesk serve` pinned to the server CPU."""
    match = re.search(r"smtp: 127\.0\.0\.1:(\d+)", config.read_text())
    assert match is not None
    port = int(match.group(1))
    cmd = pinned([sys.executable, "-m", "maildesk", "--config", str(config), "serve"],
                 SERVER_CPU, pin)
    return Server("maildesk", cmd, port, config.parent / "serve.log", cwd=config.parent,
                  env=env)


def start_noop(folder: Path, *, pin: bool = True) -> Server:
    port = free_port()
    cmd = pinned([sys.executable, str(Path(__file__)), "noop", str(port)], SERVER_CPU, pin)
    return Server("aiosmtpd-noop", cmd, port, folder / "noop.log")


def wait_smtp(port: int, proc: subprocess.Popen[bytes] | None = None,
              timeout: float = 60.0) -> None:
    """Until the server greets with 220 (or its process died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if s.recv(512).startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"no SMTP greeting on port {port} within {timeout}s")


# -- profiles -------------------------------------------------------------------------------


def py_spy() -> str | None:
    """py-spy, beside this Python or on PATH (`pip install py-spy`); cProfile would see
    only the main thread, and the pipeline runs in the ingest thread."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def start_profile(pid: int, out: Path, seconds: float,
                  gil: bool = False) -> subprocess.Popen[bytes] | None:
    """Sample `pid` for `seconds` into a folded-stacks file: every busy thread (wall time,
    waits in fsync included), or with `gil` only the thread holding the GIL (Python CPU)."""
    exe = py_spy()
    if exe is None:
        return None
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--duration", str(int(seconds)),
                             "--format", "raw", "--function", "--nonblocking", "--rate", "200",
                             *(["--gil"] if gil else []), "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarize_profile(folded: Path, top: int = 25) -> str:
    """Inclusive and self share of samples per function, from py-spy's raw output."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in folded.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        for name in set(frames):
            inclusive[name] = inclusive.get(name, 0) + count
        own[frames[-1]] = own.get(frames[-1], 0) + count
    if not total:
        return "(no samples)"
    lines = [f"{total} samples of busy threads; share of them (incl. = in the stack, self = "
             "on top)", "| incl. | self | function |", "|---:|---:|---|"]
    for name, n in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"| {n / total:.0%} | {own.get(name, 0) / total:.0%} | `{name}` |")
    lines += ["", "top by self time:", "| self | function |", "|---:|---|"]
    for name, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"| {n / total:.1%} | `{name}` |")
    return "\n".join(lines)


# -- mails ----------------------------------------------------------------------------------

WORDS = ("printer invoice order account password delivery refund screen login update "
         "broken urgent please thanks since yesterday again error message cannot open "
         "office contract renewal cable network slow").split()


def body_text(size: int, rng: random.Random) -> bytes:
    """A plain-text body of about `size` bytes, CRLF lines, none starting with a dot."""
    lines = ["Hello,", "", " ".join(rng.choice(WORDS) for _ in range(14)) + ".", "",
             "Regards,", "A customer", ""]
    text = "\r\n".join(lines) + "\r\n"
    n = 0
    while len(text) < size:
        n += 1
        text += "> " + " ".join(rng.choice(WORDS) for _ in range(11)) + f" ({n})\r\n"
    return text.encode()


@dataclass
class Sent:
    """What one connection remembers of its own new tickets, to reply to them."""

    message_id: str
    subject: str
    sender: str
    ticket: str | None = None


class MailSource:
    """Unique mails for one connection: new tickets and replies that thread, alternating
    with `reply_ratio` 0.5. Replies thread by In-Reply-To/References or, every second
    one, by the subject tag `[Ticket#N]` of the ticket the 250 named."""

    HEAD = ("From: {name} <{sender}>\r\nTo: Example Support <support@example.com>\r\n"
            "Subject: {subject}\r\nMessage-ID: <{mid}>\r\n{refs}"
            "Date: Wed, 25 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n")

    def __init__(self, conn: int, size: int, *, reply_ratio: float = 0.5, seed: int = 42,
                 run: str = "", extra_reply: Callable[[int], tuple[str, str]] | None = None,
                 headerless_size: int = 300) -> None:
        self.conn = conn
        self.rng = random.Random(seed * 1000 + conn)
        self.bodies = [body_text(max(0, size - headerless_size), self.rng) for _ in range(4)]
        self.reply_ratio = reply_ratio
        self.run = run or f"{os.getpid()}{int(time.time() * 1000) % 10**8}"
        self.n = 0
        self.credit = 0.0
        self.replies = 0
        self.sent: list[Sent] = []
        self.extra_reply = extra_reply  # (n) -> (message-id, sender) of a stored mail

    def next(self) -> tuple[str, bytes, Sent | None]:
        """(envelope sender, bytes, the record to complete with the ticket number)."""
        self.n += 1
        n = self.n
        mid = f"{self.run}.{self.conn}.{n}@load.example"
        body = self.bodies[n % len(self.bodies)]
        self.credit += self.reply_ratio
        if not self.sent or self.credit < 1:
            sender = f"customer{self.conn}x{n}@example.org"
            subject = f"{self.rng.choice(WORDS).title()} {self.rng.choice(WORDS)} issue {n}"
            head = self.HEAD.format(name=f"Customer {n}", sender=sender, subject=subject,
                                    mid=mid, refs="")
            record = Sent(mid, subject, sender)
            self.sent.append(record)
            del self.sent[:-50]
            return sender, head.encode() + body, record
        self.credit -= 1
        self.replies += 1
        kinds = 3 if self.extra_reply is not None else 2
        kind = self.replies % kinds
        parent = self.sent[-1]
        if kind == 2 and self.extra_reply is not None:  # a ticket that was there before
            parent_mid, sender = self.extra_reply(n)
            subject = "Re: an earlier ticket"
        else:
            parent_mid, sender, subject = parent.message_id, parent.sender, parent.subject
        if kind == 1 and parent.ticket:
            refs, subject = "", f"Re: [Ticket#{parent.ticket}] {subject}"
        else:
            refs = f"In-Reply-To: <{parent_mid}>\r\nReferences: <{parent_mid}>\r\n"
            subject = subject if subject.startswith("Re: ") else "Re: " + subject
        head = self.HEAD.format(name="Customer", sender=sender, subject=subject, mid=mid,
                                refs=refs)
        return sender, head.encode() + body, None


# -- the load generator ---------------------------------------------------------------------

TICKET = re.compile(rb"ticket (\d+)")


@dataclass
class Load:
    """What a run measured; latencies in seconds, MAIL FROM to the reply after the data."""

    sent: int = 0
    accepted: int = 0
    tempfail: int = 0
    rejected: int = 0
    errors: int = 0
    elapsed: float = 0.0
    client_cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.accepted / self.elapsed if self.elapsed else 0.0

    def ms(self, p: float) -> float:
        return percentile(self.latencies, p) * 1000


async def _reply(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One whole reply (multi-line ones too): its code and last line."""
    while True:
        line = await reader.readuntil(b"\r\n")
        if line[3:4] != b"-":
            return int(line[:3]), line


async def _connection(port: int, source: MailSource, load: Load, deadline: float,
                      limit: list[int], rate: float | None, start: float,
                      step: int, lanes: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    try:
        await _reply(reader)
        writer.write(b"EHLO load.example\r\n")
        await _reply(reader)
        k = 0
        while time.perf_counter() < deadline and limit[0] > 0:
            if rate is not None:  # open loop: this lane's k-th mail is due at a fixed time
                due = start + (step + k * lanes) / rate
                k += 1
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                if time.perf_counter() >= deadline:
                    break
            limit[0] -= 1
            sender, data, record = source.next()
            load.sent += 1
            started = time.perf_counter()
            writer.write(b"MAIL FROM:<" + sender.encode() + b">\r\n")
            code, _ = await _reply(reader)
            if code == 250:
                writer.write(b"RCPT TO:<support@example.com>\r\n")
                code, _ = await _reply(reader)
            if code == 250:
                writer.write(b"DATA\r\n")
                code, _ = await _reply(reader)
            if code == 354:
                writer.write(data)
                writer.write(b".\r\n")
                await writer.drain()
                code, line = await _reply(reader)
            load.latencies.append(time.perf_counter() - started)
            if code == 250:
                load.accepted += 1
                m = TICKET.search(line) if record is not None else None
                if m and record is not None:
                    record.ticket = m.group(1).decode()
            else:
                load.tempfail += 400 <= code < 500
                load.rejected += code >= 500
                writer.write(b"RSET\r\n")
                await _reply(reader)
        writer.write(b"QUIT\r\n")
        await writer.drain()
    except (OSError, asyncio.IncompleteReadError, ValueError):
        load.errors += 1
    finally:
        writer.close()


async def _run(port: int, sources: list[MailSource], seconds: float, messages: int | None,
               rate: float | None) -> Load:
    load = Load()
    cpu0 = time.process_time()
    start = time.perf_counter()
    limit = [messages if messages is not None else 1 << 62]
    await asyncio.gather(*(
        _connection(port, src, load, start + seconds, limit, rate, start, i, len(sources))
        for i, src in enumerate(sources)))
    load.elapsed = time.perf_counter() - start
    load.client_cpu = time.process_time() - cpu0
    return load


def run_load(port: int, sources: list[MailSource], *, seconds: float,
             messages: int | None = None, rate: float | None = None) -> Load:
    """One connection per source, back to back until `seconds` or `messages` run out.
    With `rate` (msgs/s over all connections) the sends are paced on a fixed schedule
    (open loop), so latency is measured below saturation."""
    try:
        import uvloop  # optional: keeps the client far above the servers

        return uvloop.run(_run(port, sources, seconds, messages, rate))
    except ImportError:
        return asyncio.run(_run(port, sources, seconds, messages, rate))


def sources(concurrency: int, size: int, run: str, **kwargs: Any) -> list[MailSource]:
    return [MailSource(c, size, run=run, **kwargs) for c in range(concurrency)]


def wait_stored(config: Path, expected: int, timeout: float = 120.0) -> float:
    """Seconds until the database holds `expected` inbound articles (or the timeout)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if stored_count(config) >= expected:
            break
        time.sleep(0.02)
    return time.perf_counter() - started


# -- the ceiling: aiosmtpd with a handler that does nothing ---------------------------------


class NoopHandler:
    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        """PIPELINING offered, as Postfix does: the sender sends MAIL, RCPT and DATA in one
        write (aiosmtpd reads the commands from its buffer in order)."""
        session.host_name = hostname  # the hook replaces aiosmtpd's own bookkeeping
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 2.0.0 Ok"


async def _noop_main(port: int) -> None:
    from aiosmtpd.smtp import SMTP

    loop = asyncio.get_running_loop()
    handler = NoopHandler()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="noop.example", data_size_limit=30 * 2**20),
        "127.0.0.1", port, reuse_address=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "noop":
        asyncio.run(_noop_main(int(sys.argv[2])))
    else:
        print(__doc__)


def ingest_cell(server: Server, size: int, conc: int, seconds: float, tag: str,
                config: Path | None = None, rate: float | None = None) -> dict[str, float]:
    """Warm up, then one measured run of `conc` connections sending `size` mails back to
    back (at `rate` when given); server CPU per mail from /proc; with `config`, also the
    seconds until the database holds every acknowledged mail."""
    run_load(server.port, sources(conc, size, f"w{tag}"), seconds=seconds,
             messages=2 * conc + 20)
    before = stored_count(config) if config is not None else 0
    cpu0, switches0 = cpu_seconds(server.pid), context_switches(server.pid)
    load: Load = run_load(server.port, sources(conc, size, tag), seconds=seconds, rate=rate)
    cpu = cpu_seconds(server.pid) - cpu0
    switches = context_switches(server.pid) - switches0
    stored_s = load.elapsed
    if config is not None:
        stored_s = load.elapsed + wait_stored(config, before + load.accepted)
        assert stored_count(config) >= before + load.accepted, "acknowledged mail missing"
    return {"rate": load.rate, "p50": load.ms(50), "p95": load.ms(95), "p99": load.ms(99),
            "accepted": load.accepted, "bad": load.tempfail + load.rejected + load.errors,
            "cpu_us": cpu / max(1, load.accepted) * 1e6,
            "switches": switches / max(1, load.accepted),
            "client_cpu": load.client_cpu / load.elapsed * 100 if load.elapsed else 0.0,
            "stored_s": stored_s, "elapsed": load.elapsed}


def ingest_row(name: str, size: str, conc: int | str, r: dict[str, float],
               ceiling: float | None, stored: bool) -> str:
    """A row of the ingest table (smtp_ingest.py, bigmail.py)."""
    ratio = f"{r['rate'] / ceiling:.0%}" if ceiling else "-"
    st = f"{r['stored_s']:.1f}/{r['elapsed']:.1f}" if stored else "-"
    return (f"| {name} | {size} | {conc} | {r['rate']:.0f} | {r['p50']:.1f} | {r['p95']:.1f} "
            f"| {r['p99']:.1f} | {ratio} | {r['accepted']:.0f} | {r['bad']:.0f} "
            f"| {r['cpu_us']:.0f} | {r['client_cpu']:.0f}% | {st} |")
