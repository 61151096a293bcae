"""A fixed share of a core for each daemon of a benchmark, and what the machine's cores did.

Why: `databases.py` asks whether a second daemon on the same PostgreSQL adds as much as the
first (issue 20: at least 1.5x). On a machine with two cores that also runs PostgreSQL and
the benchmark's own clients and sink, the unconstrained runs measure the machine instead:
one daemon already keeps a core busy, and two daemons can at most fill the cores that are
left (`bound`). Held to the same fraction of a core each (a Linux CPU cgroup's quota, as a
container or a host of its own would hold it), two daemons show what the database lets them
do together: where they serialise on a lock, they stay near one daemon's rate.

Linux only, and only where a CPU cgroup can be made (root, cgroup v1's `cpu` controller or
v2 with `cpu` delegated); `available()` says why not otherwise.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 10_000  # short: a daemon throttled while it holds a row lock stalls the others


def _hierarchy() -> tuple[Path, int] | None:
    """(where CPU cgroups are made, cgroup version), or None."""
    if "cpu" in _read(ROOT / "cgroup.controllers").split():  # v2, unified at the root
        return ROOT, 2
    for name in ("cpu", "cpu,cpuacct"):
        if (ROOT / name / "cpu.cfs_quota_us").exists():
            return ROOT / name, 1
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def available() -> str | None:
    """None when `confined` can work here, else why not."""
    where = _hierarchy()
    if where is None:
        return "no CPU cgroup controller under /sys/fs/cgroup"
    if not os.access(where[0], os.W_OK):
        return f"{where[0]} is not writable (run as root)"
    return None


@contextmanager
def confined(pids: list[int], cores: float) -> Iterator[None]:
    """Each process in a CPU cgroup of its own, allowed `cores` of CPU time (its threads and
    children too); the groups are removed afterwards (the processes must have ended)."""
    where = _hierarchy()
    if where is None:
        raise RuntimeError(available())
    base, version = where
    quota = max(1000, int(PERIOD_US * cores))
    groups: list[Path] = []
    try:
        if version == 2:
            (base / "cgroup.subtree_control").write_text("+cpu")
        for pid in pids:
            group = base / f"maildesk-bench-{secrets.token_hex(4)}"
            group.mkdir()
            groups.append(group)
            if version == 2:
                (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
            else:
                (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (group / "cpu.cfs_quota_us").write_text(str(quota))
            (group / "cgroup.procs").write_text(str(pid))  # every thread of it
        yield
    finally:
        for group in groups:
            try:
                group.rmdir()
            except OSError:  # a process still in it: left for the admin, named
                print(f"note: {group} not removed (still in use)")


def busy_ticks() -> int:
    """CPU time the machine's cores spent working so far, in clock ticks (/proc/stat;
    not the time a hypervisor took from them, "steal")."""
    fields = _read(Path("/proc/stat")).split("\n", 1)[0].split()[1:]
    if len(fields) < 7:
        return 0
    user, nice, system, _idle, _iowait, irq, softirq = map(int, fields[:7])
    return user + nice + system + irq + softirq


def process_ticks(pid: int) -> int:
    """CPU time of one process so far (user and system, its threads), in clock ticks."""
    stat = _read(Path(f"/proc/{pid}/stat"))
    fields = stat.rsplit(")", 1)[-1].split()
    return int(fields[11]) + int(fields[12]) if len(fields) > 12 else 0


def bound(cores: int, rate: float, cpu_ms: float) -> float:
    """The most two daemons could do against one that stored `rate` mails a second, when
    each of their mails costs `cpu_ms` of CPU on the machine (the daemons' and everything
    else's, as measured with two daemons: a daemon's batches are smaller with half the
    clients each, and a mail costs more) and everything shares `cores`."""
    if rate <= 0 or cpu_ms <= 0:
        return float("inf")
    return cores * 1000 / cpu_ms / rate
