"""The sender's claim-and-render hop alone, in process (issue 20): CPU per outbound mail of
`batches.claim_ready` (claim, load the specs, render) on real outbox rows.

N mails of SIZE bytes go through `App.ingest` (half new tickets, half replies, as
bench/endtoend.py sends them); then, ROUNDS times, every row is claimed and rendered in
hops of HOP and the claims are undone (no settle, so the rows keep their specs):

    python bench/render_drain.py [N] [SIZE] [--prof [--cum]] [--settle]

With `--settle`, each hop's rows are settled as sent (the bytes kept) in the next hop's
claim, as the daemon's claimer does, so the queue shrinks as it does there; the rows are
put back as they were between rounds.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import free_port, make_desk, sources  # noqa: E402
from sqlalchemy import update  # noqa: E402

from maildesk.app import open_app  # noqa: E402
from maildesk.config import load_config  # noqa: E402
from maildesk.intake.message import Envelope  # noqa: E402
from maildesk.outbound.batches import claim_ready  # noqa: E402
from maildesk.outbound.outbox import AttemptResult, settle  # noqa: E402
from maildesk.store.models import OutboxAttempt, OutboxMail  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", "5"))
HOP = 50  # rows a claim: what the daemon claims in its 0.1 s gather at ~500 outbound/s


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 400
    size = int(args[1]) if len(args) > 1 else 2000
    prof, settling = "--prof" in sys.argv, "--settle" in sys.argv
    with tempfile.TemporaryDirectory(prefix="maildesk-render-") as tmp:
        app = open_app(load_config(make_desk(Path(tmp) / "desk", free_port())))
        source = sources(1, size, f"r{os.getpid()}")[0]
        for _ in range(n):
            sender, raw, record = source.next()
            outcome = app.ingest(raw, Envelope(sender, ["support@example.com"]))
            if record is not None:
                record.ticket = outcome.ticket
        reset(app)
        profile = cProfile.Profile(time.process_time) if prof else None
        figures = []
        for r in range(ROUNDS + 1):
            if profile is not None and r == ROUNDS:
                profile.enable()
            cpu, count = time.process_time(), 0
            outcomes: list[AttemptResult] = []
            while True:
                ready = claim_ready(app, "bench", "bench/1", HOP, timedelta(minutes=5), True,
                                    outcomes)
                assert ready.error is None and not ready.broken, ready
                if not ready.rows:
                    break
                count += len(ready.rows)
                if settling:  # settled with the next claim, as the daemon's claimer does
                    outcomes = [AttemptResult(row.id, "sent", raw=row.raw)
                                for row in ready.rows]
            if outcomes:
                settle(app.db, app.config, outcomes)
            cpu = time.process_time() - cpu
            if profile is not None and r == ROUNDS:
                profile.disable()
            if r:
                figures.append(cpu / count * 1e3)
            reset(app)
        app.close()
    print(f"claim_ready{' + settle' if settling else ''}, {n} mails of {size} bytes, "
          f"{count} outbound: ms of CPU an outbound mail, {ROUNDS} rounds: "
          + " ".join(f"{f:.3f}" for f in figures)
          + f" (median {sorted(figures)[len(figures) // 2]:.3f}, min {min(figures):.3f})")
    if profile is not None:
        order = "cumulative" if "--cum" in sys.argv else "tottime"
        pstats.Stats(profile).sort_stats(order).print_stats(45)


def reset(app: object) -> None:
    """Every row queued, unclaimed, unrendered, as the ingest left it."""
    with app.db.transaction() as session:  # type: ignore[attr-defined]
        session.execute(update(OutboxMail).values(
            claimed_by=None, claimed_until=None, state="queued", raw=b"", attempts=0,
            sent_at=None, last_error=None))
        session.execute(OutboxAttempt.__table__.delete())


if __name__ == "__main__":
    main()
