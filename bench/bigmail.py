"""100 KB mails over SMTP: `maildesk serve` beside aiosmtpd's do-nothing ceiling for the
same size, in one run (issue 20: at least 40% of that size's ceiling). The cells are
smtp_ingest.py's (bench/common.py `ingest_cell`): persistent connections back to back,
half new tickets, half replies; servers on CPU 0, the client on CPU 1 when there are two.
The memory of big mails is bench/memory.py's.

    python bench/bigmail.py                  # concurrency 1 and 8, 10 s per cell
    python bench/bigmail.py --seconds 3      # smoke run
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
    ingest_cell,
    ingest_row,
    machine,
    make_desk,
    pin_self,
    start_maildesk,
    start_noop,
)

SIZE = 100_000
TARGET = 0.40


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="measured time per cell")
    ap.add_argument("--conc", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--no-pin", action="store_true")
    args = ap.parse_args()
    pin = not args.no_pin and can_pin()
    if pin:
        pin_self(CLIENT_CPU)
    print(f"# bigmail (100 KB ingest): {machine()} pinned={pin} seconds/cell={args.seconds}")
    print("| server | size | conc | msgs/s | p50 ms | p95 ms | p99 ms | vs ceiling "
          "| accepted | non-2xx | server CPU us/msg | client CPU | stored s / run s |")
    print("|" + "---|" * 13, flush=True)
    ratios = {}
    with tempfile.TemporaryDirectory(prefix="maildesk-bigmail-") as tmp:
        folder = Path(tmp)
        config = make_desk(folder / "desk", free_port())
        maildesk = start_maildesk(config, pin=pin)
        noop = start_noop(folder, pin=pin)
        try:
            for n, conc in enumerate(args.conc):
                ceiling = ingest_cell(noop, SIZE, conc, args.seconds, f"n{n}")
                print(ingest_row("aiosmtpd noop", "100KB", conc, ceiling, None, False),
                      flush=True)
                r = ingest_cell(maildesk, SIZE, conc, args.seconds, f"m{n}", config)
                print(ingest_row("maildesk", "100KB", conc, r, ceiling["rate"], True),
                      flush=True)
                ratios[conc] = (r["rate"], ceiling["rate"])
        finally:
            maildesk.stop()
            noop.stop()
    print()
    for conc, (rate, ceiling_rate) in ratios.items():
        share = rate / ceiling_rate
        print(f"target: 100 KB at concurrency {conc} at >= {TARGET:.0%} of the ceiling: "
              f"{rate:.0f} / {ceiling_rate:.0f} msgs/s = {share:.0%} "
              f"({'met' if share >= TARGET else 'MISSED'})")


if __name__ == "__main__":
    main()
