"""Durable mail spools on disk: `inbound` (accepted while the database was away, drained in
order) and `failed` (mails that hit a bug; kept until `maildesk spool retry`).

One file per mail: a JSON line with the envelope and reason, then the raw bytes untouched.
Written to a temporary name, fsynced, renamed, and the folder fsynced: a file that has its
final name is complete.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from maildesk.durable import fsync_dir, make_dirs_durably, write_durably
from maildesk.intake.message import Envelope

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

    def put(self, raw: bytes, envelope: Envelope, reason: str = "", *,
            once: bool = False) -> str:
        """Keep one mail; with `once`, the same bytes are kept only once (the id is their
        sha256, and a second put returns the first one's id)."""
        make_dirs_durably(self.folder)
        now = time.time()
        if once:
            spool_id = hashlib.sha256(raw).hexdigest()
            if (self.folder / f"{spool_id}.mail").exists():
                return spool_id
        else:
            spool_id = f"{time.time_ns():020d}-{secrets.token_hex(4)}"
        meta = {"envelope": asdict(envelope), "reason": reason, "spooled_at": now}
        write_durably(self.folder / f"{spool_id}.mail", json.dumps(meta).encode() + b"\n", raw)
        return spool_id

    def ids(self) -> list[str]:
        """Spooled mails, oldest first (by the time in the file, which a content-named
        file of `put(once=True)` carries too)."""
        if not self.folder.is_dir():
            return []
        paths = list(self.folder.glob("*.mail"))
        return [p.name[:-5] for p in sorted(paths, key=lambda p: (_spooled_at(p), p.name))]

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


def _spooled_at(path: Path) -> float:
    """The arrival time: from a time-named id without reading, else the file's first line."""
    name = path.name[:-5]
    if len(name) > 20 and name[20] == "-" and name[:20].isdigit():
        return int(name[:20]) / 1e9
    try:
        with path.open("rb") as f:
            return float(json.loads(f.readline()).get("spooled_at", 0.0))
    except (OSError, ValueError):
        return 0.0
