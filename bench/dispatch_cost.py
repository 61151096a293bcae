"""The ingest thread's cost of queuing a mail's outbound mails: CPU of `outbound.dispatch`
per mail (the auto-response of a new ticket, two agents' notifications), in process.

Runs `bench/ingest_batch.py`'s batches of 8 (2 KB mails by default, new tickets and
follow-ups alike) with `dispatch` wrapped in `time.thread_time`, and prints per round the
microseconds of CPU a mail spent in dispatch and the ms of CPU a mail of the whole batch.
With `--replay N`, each mail's dispatch also runs N times first inside a SAVEPOINT that
is rolled back (its history rows dropped), and the median of those runs is printed: the
dispatch alone, less disturbed by the rest of the ingest.
Compare trees by running it alternately under each one's PYTHONPATH:

    PYTHONPATH=. python bench/dispatch_cost.py [size] [--rounds N]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import free_port, make_desk, sources  # noqa: E402
from ingest_batch import batch_runner  # noqa: E402

import maildesk.outbound.dispatch as dispatch_module  # noqa: E402
from maildesk.app import open_app  # noqa: E402
from maildesk.batch import Batcher  # noqa: E402
from maildesk.config import load_config  # noqa: E402
from maildesk.store.db import _DEFERRED  # noqa: E402

BATCH, BATCHES = 8, 40


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 2000
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 5
    replay = int(sys.argv[sys.argv.index("--replay") + 1]) if "--replay" in sys.argv else 0
    spent = [0.0]
    replays: list[float] = []
    measuring = [False]
    original = dispatch_module.dispatch

    def timed(*args: object) -> None:
        session: Any = args[0]
        for _ in range(replay if measuring[0] else 0):
            pending = {k: list(v) for k, v in session.info.get(_DEFERRED, {}).items()}
            savepoint = session.begin_nested()
            started = time.thread_time()
            original(*args)  # type: ignore[arg-type]
            replays.append(time.thread_time() - started)
            savepoint.rollback()
            session.info[_DEFERRED] = pending
        started = time.thread_time()
        try:
            original(*args)  # type: ignore[arg-type]
        finally:
            spent[0] += time.thread_time() - started

    dispatch_module.dispatch = timed  # type: ignore[assignment]
    with tempfile.TemporaryDirectory(prefix="maildesk-dispatch-") as tmp:
        app = open_app(load_config(make_desk(Path(tmp) / "desk", free_port())))
        batcher = Batcher(app, workers=0)
        mails = sources(BATCH, size, "d")

        batch = batch_runner(batcher, mails)
        for _ in range(20):
            batch()
        measuring[0] = True
        ours, whole = [], []
        for _ in range(rounds):
            spent[0] = 0.0
            cpu = time.thread_time()
            for _ in range(BATCHES):
                batch()
            whole.append((time.thread_time() - cpu) / (BATCHES * BATCH) * 1e3)
            ours.append(spent[0] / (BATCHES * BATCH) * 1e6)
        app.close()
    print(f"dispatch us/mail median {statistics.median(ours):.1f} "
          f"({' '.join(f'{v:.0f}' for v in ours)}); batch ms/mail median "
          f"{statistics.median(whole):.3f}" + (
              f"; replayed dispatch us median {statistics.median(replays) * 1e6:.1f}"
              if replays else ""))


if __name__ == "__main__":
    main()
