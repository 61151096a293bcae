"""The ingest thread alone: CPU per mail of `Batcher._run_batch` on batches of 8, in process.

No SMTP, no sender, no second core: what one group commit of the daemon costs its ingest
thread (parse, the transaction, the article segment and its fsync, the commit), the figure
the end-to-end bench's server CPU is mostly made of. Five rounds of 320 mails after a warm-up.

    python bench/ingest_batch.py            # 2 KB mails
    python bench/ingest_batch.py 102400     # 100 KB mails
    python bench/ingest_batch.py 2000 --prof    # and a cProfile of the last round
    python bench/ingest_batch.py 2000 --lone    # batches of 1 against 8, CPU by part

`--lone` is what a commit costs that a batch shares and a lone mail pays alone (the paced
p99 of `smtp_ingest.py` hangs on it, issue 20): rounds of lone mails and of batches of 8
alternate, drawn from the same eight sources so both see the same mails, and each prints
its CPU a mail split into the parse, the mail's database work (with its transaction's
BEGIN, which autobegin issues at the first statement), the segment file (write, fsync and
its row), the driver's COMMIT, and the rest (the session's set-up and tear-down, hooks).
"""

from __future__ import annotations

import cProfile
import functools
import itertools
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import MailSource, free_port, make_desk, sources  # noqa: E402

from maildesk.app import open_app  # noqa: E402
from maildesk.batch import Batcher, _Mail  # noqa: E402
from maildesk.config import load_config  # noqa: E402
from maildesk.intake.message import Envelope  # noqa: E402

BATCH, ROUNDS, BATCHES = 8, 5, 40


def batch_runner(batcher: Batcher, mails: list[MailSource], per: int | None = None
                 ) -> Callable[[], None]:
    """One batch: the next mail of each source through `Batcher._run_batch`, each stored
    (250) and its ticket noted for the source's replies. With `per`, batches of `per`
    mails taken from the sources in turn."""
    turn = itertools.cycle(mails)

    def batch() -> None:
        taken = [m.next() for m in mails] if per is None else [
            next(turn).next() for _ in range(per)]
        queued = [_Mail(raw, Envelope(sender, ("support@example.com",)), Future())
                  for sender, raw, _ in taken]
        batcher._run_batch(queued)
        for (_, _, record), mail in zip(taken, queued, strict=True):
            outcome = mail.future.result()
            assert outcome.code == 250, outcome
            if record is not None:
                record.ticket = outcome.ticket

    return batch


@contextmanager
def parts(spent: dict[str, float]) -> Iterator[None]:
    """Thread CPU of the ingest's parts into `spent`, while the block runs."""
    from sqlalchemy.engine.default import DefaultDialect

    from maildesk import pipeline
    from maildesk.store.segments import Segments

    targets = [(pipeline, "prepare", "parse"), (pipeline.Prepared, "attempt", "database work"),
               (Segments, "store", "segment file"), (DefaultDialect, "do_commit", "COMMIT")]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in targets]

    def timed(fn: Callable[..., object], label: str) -> Callable[..., object]:
        @functools.wraps(fn)
        def run(*args: object, **kwargs: object) -> object:
            started = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.thread_time() - started
        return run

    for (owner, name, label), (_, _, fn) in zip(targets, saved, strict=True):
        setattr(owner, name, timed(fn, label))
    try:
        yield
    finally:
        for owner, name, fn in saved:
            setattr(owner, name, fn)


def lone(batcher: Batcher, mails: list[MailSource]) -> None:
    """Rounds of lone mails and of batches of 8 alternating; CPU a mail by part."""
    for round_ in range(ROUNDS):
        for per in (1, BATCH):
            batch = batch_runner(batcher, mails, per)
            count = BATCHES * BATCH // per
            spent: dict[str, float] = {}
            with parts(spent):
                cpu = time.thread_time()
                for _ in range(count):
                    batch()
                total = time.thread_time() - cpu
            spent["rest"] = total - sum(spent.values())
            ms = {label: seconds / (count * per) * 1e3 for label, seconds in spent.items()}
            print(f"round {round_ + 1}, batches of {per}: {total / (count * per) * 1e3:.2f} "
                  "ms of CPU a mail: " + ", ".join(f"{k} {v:.2f}" for k, v in ms.items()),
                  flush=True)


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
        if "--lone" in sys.argv:
            lone(batcher, mails)
            app.close()
            return
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
