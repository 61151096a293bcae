"""Ingest over SMTP: `maildesk serve` beside aiosmtpd with a do-nothing handler (the ceiling
of the Python SMTP layer), same client, same mails, in one run.

Cells: 2 KB and 100 KB mails x concurrency 1, 8, 32 (persistent connections, back to back);
half the mails open tickets, half reply to them (In-Reply-To, or the subject tag). Then an
open-loop run of 2 KB mails at half maildesk's peak rate, for the latency target (p99 under
50 ms). Servers on CPU 0, the client on CPU 1 (taskset), when there are two CPUs.

    python bench/smtp_ingest.py                 # 10 s per cell, about 3 minutes
    python bench/smtp_ingest.py --quick         # 2 s per cell, smoke run
    python bench/smtp_ingest.py --profile DIR   # also: where maildesk's time goes (py-spy)

Acknowledgements come after the commit, so "stored" (seconds until the database holds
every acknowledged mail, from the cell's start) equals the cell's time unless mail was
spooled. The daemon's relay is a closed port with a long retry: the outbox rows are
written (part of ingest), the sending is bench/outbox.py's figure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    CLIENT_CPU,
    can_pin,
    free_port,
    fsync_us,
    machine,
    make_desk,
    pin_self,
    start_maildesk,
    start_noop,
    start_profile,
    summarize_profile,
)
from common import ingest_cell as cell  # noqa: E402
from common import ingest_row as row  # noqa: E402

SIZES = {"2KB": 2_000, "100KB": 100_000}
CONCURRENCY = (1, 8, 32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="measured time per cell")
    ap.add_argument("--quick", action="store_true", help="2 s per cell, concurrency 1 and 8")
    ap.add_argument("--no-pin", action="store_true", help="do not pin server and client")
    ap.add_argument("--profile", type=Path,
                    help="folder: sample maildesk with py-spy during one more 2 KB, "
                         "concurrency 8 cell and print where the time goes")
    args = ap.parse_args()
    seconds = 2.0 if args.quick else args.seconds
    concs = (1, 8) if args.quick else CONCURRENCY
    pin = not args.no_pin and can_pin()
    if pin:
        pin_self(CLIENT_CPU)
    print(f"# smtp_ingest: {machine()} pinned={pin} seconds/cell={seconds} "
          f"fsync(2 KB)={fsync_us(Path(tempfile.gettempdir())):.0f}us")
    print("| server | size | conc | msgs/s | p50 ms | p95 ms | p99 ms | vs ceiling "
          "| accepted | non-2xx | server CPU us/msg | client CPU | stored s / run s |")
    print("|" + "---|" * 13, flush=True)
    with tempfile.TemporaryDirectory(prefix="maildesk-bench-") as tmp:
        folder = Path(tmp)
        config = make_desk(folder / "desk", free_port())
        maildesk = start_maildesk(config, pin=pin)
        noop = start_noop(folder, pin=pin)
        results: dict[tuple[str, int], tuple[dict[str, float], dict[str, float]]] = {}
        try:
            n = 0
            for size_name, size in SIZES.items():
                for conc in concs:
                    n += 1
                    ceiling = cell(noop, size, conc, seconds, f"n{n}")
                    print(row("aiosmtpd noop", size_name, conc, ceiling, None, False),
                          flush=True)
                    r = cell(maildesk, size, conc, seconds, f"m{n}", config)
                    results[(size_name, conc)] = (r, ceiling)
                    print(row("maildesk", size_name, conc, r, ceiling["rate"], True),
                          flush=True)
            top = max(concs, key=lambda c: results[("2KB", c)][0]["rate"])  # the peak's
            peak = results[("2KB", top)][0]["rate"]
            half = cell(maildesk, SIZES["2KB"], 8, seconds, "half", config, rate=peak / 2)
            print(row("maildesk, paced", "2KB", f"8 at {peak / 2:.0f}/s (half its peak)",
                      half, None, True), flush=True)
            folded = None
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
                folded = args.profile / "ingest-2KB-c8.folded"
                gil = args.profile / "ingest-2KB-c8-gil.folded"
                spies = [start_profile(maildesk.pid, folded, seconds),
                         start_profile(maildesk.pid, gil, seconds, gil=True)]
                if spies[0] is None:
                    print("\npy-spy not found (pip install py-spy): no profile")
                    folded = None
                prof = cell(maildesk, SIZES["2KB"], 8, seconds, "prof", config)
                for spy in spies:
                    if spy is not None:
                        spy.wait(60)
                print(row("maildesk, under py-spy", "2KB", 8, prof, None, True))
        finally:
            maildesk.stop()
            noop.stop()
    r8, c8 = results[("2KB", 8)]
    print(f"\ntarget: concurrency 8, 2 KB at >= 50% of the ceiling: {r8['rate']:.0f} / "
          f"{c8['rate']:.0f} msgs/s = {r8['rate'] / c8['rate']:.0%} "
          f"({'met' if r8['rate'] >= c8['rate'] / 2 else 'MISSED'})")
    print(f"target: p99 under 50 ms at half the peak rate ({peak / 2:.0f} msgs/s, achieved "
          f"{half['rate']:.0f}): {half['p99']:.1f} ms "
          f"({'met' if half['p99'] < 50 else 'MISSED'})")
    at_peak = results[("2KB", top)][0]
    print(f"server context switches a mail (all threads), 2 KB: {half['switches']:.1f} paced "
          f"at half the peak, {at_peak['switches']:.1f} at the peak (concurrency {top}); "
          f"CPU a mail {half['cpu_us'] / 1000:.2f} and {at_peak['cpu_us'] / 1000:.2f} ms")
    if folded is not None and folded.exists():
        print(f"\n# where maildesk's wall time goes, busy threads (2 KB, conc 8; {folded})")
        print(summarize_profile(folded))
        gil = folded.with_name(folded.stem + "-gil.folded")
        if gil.exists():
            print(f"\n# where maildesk's Python CPU goes, GIL holder only ({gil})")
            print(summarize_profile(gil))


if __name__ == "__main__":
    main()
