"""The ingest thread alone: CPU per mail of `Batcher._run_batch` on batches of 8, in process.

No SMTP, no sender, no second core: what one group commit of the daemon costs its ingest
thread (parse, the transaction, the article segment and its fsync, the commit), the figure
the end-to-end bench's server CPU is mostly made of. Five rounds of 320 mails after a warm-up.

    python bench/ingest_batch.py            # 2 KB mails
    python bench/ingest_batch.py 102400     # 100 KB mails
    python bench/ingest_batch.py 2000 --prof    # and a cProfile of the last round
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import MailSource, free_port, make_desk, sources  # noqa: E402

from maildesk.app import open_app  # noqa: E402
from maildesk.batch import Batcher, _Mail  # noqa: E402
from maildesk.config import load_config  # noqa: E402
from maildesk.intake.message import Envelope  # noqa: E402

BATCH, ROUNDS, BATCHES = 8, 5, 40


def batch_runner(batcher: Batcher, mails: list[MailSource]) -> Callable[[], None]:
    """One batch: the next mail of each source through `Batcher._run_batch`, each stored
    (250) and its ticket noted for the source's replies."""

    def batch() -> None:
        taken = [m.next() for m in mails]
        queued = [_Mail(raw, Envelope(sender, ("support@example.com",)), Future())
                  for sender, raw, _ in taken]
        batcher._run_batch(queued)
        for (_, _, record), mail in zip(taken, queued, strict=True):
            outcome = mail.future.result()
            assert outcome.code == 250, outcome
            if record is not None:
                record.ticket = outcome.ticket

    return batch


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 2000
    prof = "--prof" in sys.argv
    with tempfile.TemporaryDirectory(prefix="maildesk-batch-") as tmp:
        app = open_app(load_config(make_desk(Path(tmp) / "desk", free_port())))
        batcher = Batcher(app, workers=0)  # no thread: the batches run here
        mails = sources(BATCH, size, "b")

        batch = batch_runner(batcher, mails)
        for _ in range(20):
            batch()
        profile = cProfile.Profile() if prof else None
        figures = []
        for n in range(ROUNDS):
            if profile is not None and n == ROUNDS - 1:
                profile.enable()
            cpu = time.process_time()
            for _ in range(BATCHES):
                batch()
            figures.append((time.process_time() - cpu) / (BATCHES * BATCH) * 1e3)
        if profile is not None:
            profile.disable()
        app.close()
    print(f"ingest thread, batches of {BATCH}, {size}-byte mails: ms of CPU a mail, "
          f"{ROUNDS} rounds of {BATCHES * BATCH}: " + " ".join(f"{f:.2f}" for f in figures))
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
