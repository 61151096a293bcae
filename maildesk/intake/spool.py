"""Durable mail spools on disk: `inbound` (accepted while the database was away, drained in
order) and `failed` (mails that hit a bug; kept until `maildesk spool retry`).

One file per mail: a JSON line with the envelope and reason, then the raw bytes untouched.
Written to a temporary name, fsynced, renamed, and the folder fsynced: a file that has its
final name is complete.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from maildesk.intake.message import Envelope
from maildesk.store.articles import fsync_dir, write_durably

__all__ = ["Spool", "SpooledMail"]


@dataclass(frozen=True)
class SpooledMail:
    id: str
    envelope: Envelope
    raw: bytes
    reason: str
    spooled_at: float


class Spool:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def put(self, raw: bytes, envelope: Envelope, reason: str = "") -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        now = time.time()
        spool_id = f"{time.time_ns():020d}-{secrets.token_hex(4)}"
        meta = {"envelope": asdict(envelope), "reason": reason, "spooled_at": now}
        write_durably(self.folder / f"{spool_id}.mail", json.dumps(meta).encode() + b"\n", raw)
        return spool_id

    def ids(self) -> list[str]:
        """Spooled mails, oldest first (ids sort by arrival time)."""
        if not self.folder.is_dir():
            return []
        return sorted(p.name[:-5] for p in self.folder.glob("*.mail"))

    def get(self, spool_id: str) -> SpooledMail:
        data = (self.folder / f"{spool_id}.mail").read_bytes()
        head, _, raw = data.partition(b"\n")
        meta = json.loads(head)
        env = meta["envelope"]
        envelope = Envelope(
            sender=env.get("sender", ""),
            recipients=tuple(env.get("recipients", ())),
            peer=env.get("peer", ""),
            helo=env.get("helo", ""),
        )
        return SpooledMail(spool_id, envelope, raw, meta.get("reason", ""), meta["spooled_at"])

    def remove(self, spool_id: str) -> None:
        (self.folder / f"{spool_id}.mail").unlink(missing_ok=True)
        fsync_dir(self.folder)

    def __len__(self) -> int:
        return len(self.ids())
