"""The event loop's CPU per mail in a real `maildesk serve` (issue 20): the endtoend load
(2 KB mails, concurrency 8, every outbound mail sent to a do-nothing sink), with each
thread's CPU read from /proc/PID/task/*/stat; the main thread (tid == pid) runs the event
loop. The rate is noisy while the machine is shared; the CPU per mail of one thread much
less so. Compare trees by alternating them:

    python bench/loop_cost.py --seconds 8
    python bench/loop_cost.py --against ../other-tree --rounds 3  # this tree vs another
    python bench/loop_cost.py --profile /tmp/loop.txt            # py-spy --gil, raw
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    CLIENT_CPU,
    can_pin,
    free_port,
    make_desk,
    pin_self,
    py_spy,
    run_load,
    sources,
    start_maildesk,
    start_noop,
)
from endtoend import outbox  # noqa: E402


def threads(pid: int) -> dict[int, tuple[str, float, float]]:
    """tid -> (name, user + system CPU seconds, system CPU seconds)."""
    tick = os.sysconf("SC_CLK_TCK")
    found: dict[int, tuple[str, float, float]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "stat").read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        found[int(task.name)] = (name, (int(fields[11]) + int(fields[12])) / tick,
                                 int(fields[12]) / tick)
    return found


def measure(seconds: float, conc: int, size: int, profile: Path | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="maildesk-loop-") as tmp:
        folder = Path(tmp)
        sink = start_noop(folder, pin=False)
        config = make_desk(folder / "desk", free_port(), relay_port=sink.port,
                           retry_first="1s")
        server = start_maildesk(config, pin=can_pin())
        try:
            run_load(server.port, sources(conc, size, "w"), seconds=2, messages=4 * conc)
            while outbox(config)[1] < outbox(config)[0]:
                time.sleep(0.05)
            before = threads(server.pid)
            spy = None
            if profile is not None and py_spy():
                spy = subprocess.Popen([str(py_spy()), "record", "--gil", "--threads", "-f",
                                        "raw", "-r", "1000", "--nonblocking", "-d",
                                        str(int(seconds)), "-o", str(profile),
                                        "-p", str(server.pid)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            load = run_load(server.port, sources(conc, size, "m"), seconds=seconds)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                total, sent = outbox(config)
                if sent >= total:
                    break
                time.sleep(0.02)
            after = threads(server.pid)
            if spy is not None:
                spy.wait()
        finally:
            server.stop()
            sink.stop()
    mails = max(1, load.accepted)
    main = (after[server.pid][1] - before[server.pid][1]) / mails * 1e6
    system = (after[server.pid][2] - before[server.pid][2]) / mails * 1e6
    every = sum(t[1] for t in after.values()) - sum(t[1] for t in before.values())
    return {"main_us": main, "main_sys_us": system, "all_us": every / mails * 1e6,
            "mails": load.accepted,
            "rate": load.accepted / seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--conc", type=int, default=8)
    ap.add_argument("--size", type=int, default=2_000)
    ap.add_argument("--against", type=Path, metavar="TREE")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--profile", type=Path)
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if can_pin():
        pin_self(CLIENT_CPU)
    if args.against is None:
        r = measure(args.seconds, args.conc, args.size, args.profile)
        if args.json:
            print(json.dumps(r))
        else:
            print(f"main thread {r['main_us']:.0f} us/mail ({r['main_sys_us']:.0f} in the "
                  f"kernel), all threads {r['all_us']:.0f} "
                  f"us/mail, {r['rate']:.0f} mails/s")
        return
    here = Path(__file__).resolve().parents[1]
    runs: dict[str, list[dict[str, float]]] = {str(args.against): [], str(here): []}
    for _ in range(args.rounds):
        for tree in runs:
            out = subprocess.run([sys.executable, __file__, "--json", "--seconds",
                                  str(args.seconds), "--conc", str(args.conc), "--size",
                                  str(args.size)], env=dict(os.environ, PYTHONPATH=tree),
                                 check=True, capture_output=True, text=True, cwd=tree).stdout
            r = json.loads(out.strip().splitlines()[-1])
            runs[tree].append(r)
            print(f"{tree}: main {r['main_us']:.0f} (kernel {r['main_sys_us']:.0f}) "
                  f"all {r['all_us']:.0f} us/mail "
                  f"{r['rate']:.0f}/s", flush=True)
    for tree, results in runs.items():
        print(f"{tree}: median main thread {statistics.median(r['main_us'] for r in results):.0f}"
              f" us/mail, all {statistics.median(r['all_us'] for r in results):.0f} us/mail")


if __name__ == "__main__":
    main()
