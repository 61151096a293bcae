"""The memory budget (issue 13): ten 25 MiB mails at once into `maildesk serve`, with the
default `listen.memory_budget` (128 MiB: all ten fit, they are stored side by side) and with
a small one (30 MiB: about one at a time). Printed per budget: the daemon's extra peak RSS
over its idle RSS (VmHWM, reset just before), as a multiple of one mail's size, the 250
replies and the time until the last. The yardstick is the same run with the default.

    python bench/budget.py [--small 30MiB] [--count 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import free_port, machine, make_desk, proc_status, start_maildesk  # noqa: E402
from memory import LIMIT, big_mail, copies, reset_peak, send, send_many  # noqa: E402

MiB = 2**20


def run(folder: Path, budget: str | None, raws: list[bytes], small: bytes) -> str:
    config = make_desk(folder, free_port())
    if budget:
        text = config.read_text().replace("listen:\n", f"listen:\n  memory_budget: {budget}\n", 1)
        config.write_text(text)
    server = start_maildesk(config, pin=False)
    try:
        send(server.port, small)
        time.sleep(1.0)
        idle = proc_status(server.pid, "VmRSS")
        reset_peak(server.pid)
        replies, seconds = send_many(server.port, raws)
        time.sleep(0.5)
        extra = proc_status(server.pid, "VmHWM") - idle
    finally:
        server.stop()
    ok = sum(r.startswith("250") for r in replies)
    waits = (config.parent / "serve.log").read_text(errors="replace").count(
        "memory budget: a mail of")
    return (f"| {budget or '128MiB (default)'} | {extra / MiB:.0f} | "
            f"{extra / len(raws[0]):.1f}x | {ok}/{len(raws)} | {waits} | {seconds:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", default="30MiB")
    parser.add_argument("--count", type=int, default=10)
    args = parser.parse_args()
    raw = big_mail(LIMIT - 64 * 1024)
    small = (b"From: carol@customer.example\r\nTo: support@example.com\r\nSubject: warm up\r\n"
             b"Message-ID: <small@customer.example>\r\n\r\nHello.\r\n")
    print(f"# budget: {machine()}")
    print(f"{args.count} mails of {len(raw) / MiB:.1f} MiB at once\n")
    print("| memory_budget | extra peak RSS MiB | extra / one mail | 250 replies | waits "
          "| seconds |")
    print("|---|---:|---:|---:|---:|---:|", flush=True)
    with tempfile.TemporaryDirectory(prefix="maildesk-budget-") as tmp:
        for n, budget in enumerate((None, args.small)):
            print(run(Path(tmp) / f"desk{n}", budget, copies(raw, args.count), small),
                  flush=True)


if __name__ == "__main__":
    main()
