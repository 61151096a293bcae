"""`GET /healthz` for load balancers and systemd watchers, `GET /metrics` for Prometheus.

Neither needs a token: both say how the service is, nothing about tickets. Bind
`listen.http` to loopback or filter it if that is too much to tell.
"""

from __future__ import annotations

import shutil
import time
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy import text as sql_text
from starlette.responses import JSONResponse, Response

from maildesk.http.context import Ctx, HttpContext
from maildesk.http.metrics import CONTENT_TYPE_LATEST
from maildesk.store.models import OutboxMail, utcnow

__all__ = ["router"]

router = APIRouter()

BACKLOG_WARN_SECONDS = 3600.0  # a queued mail older than this: the relay is not taking it


class Check(BaseModel):
    ok: bool
    detail: str


class OutboxCheck(Check):
    queued: int = 0
    oldest_queued_seconds: float = 0.0


class DiskCheck(Check):
    free_bytes: int = 0


class Health(BaseModel):
    status: Literal["ok", "degraded", "failing"]
    database: Check
    disk: DiskCheck
    outbox: OutboxCheck
    seconds: float = 0.0


def _check(ctx: HttpContext) -> Health:
    app = ctx.app
    try:
        with app.db.reading() as session:
            session.execute(sql_text("SELECT 1"))
            queued, oldest = session.execute(
                select(func.count(), func.min(OutboxMail.created_at))
                .where(OutboxMail.state == "queued")).one()
        database = Check(ok=True, detail=f"{app.db.dialect} answers")
        age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
        outbox = OutboxCheck(ok=age < BACKLOG_WARN_SECONDS, queued=queued,
                             oldest_queued_seconds=round(max(age, 0.0), 1),
                             detail=f"{queued} queued")
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        database = Check(ok=False, detail=f"{type(exc).__name__}: {str(exc)[:200]}")
        outbox = OutboxCheck(ok=False, detail="unknown: the database did not answer")
    need = 2 * app.config.listen.max_message_size
    try:
        free = shutil.disk_usage(app.config.storage.path).free
        disk = DiskCheck(ok=free >= need, free_bytes=free,
                         detail=f"{free // (1024 * 1024)} MiB free (need {need // (1024 * 1024)})")
    except OSError as exc:
        disk = DiskCheck(ok=False, detail=str(exc))
    status: Literal["ok", "degraded", "failing"] = "ok"
    if not (database.ok and disk.ok):
        status = "failing"
    elif not outbox.ok:
        status = "degraded"
    return Health(status=status, database=database, disk=disk, outbox=outbox)


@router.get("/healthz", response_model=Health, tags=["service"],
            responses={503: {"model": Health, "description": "the database or disk fails"}})
async def healthz(ctx: Ctx) -> Response:
    """200 while mail can be taken in (a slow outbox only degrades); 503 when the database
    does not answer or the data folder is nearly full."""
    started = time.monotonic()
    health = await ctx.run(_check, ctx)
    health.seconds = round(time.monotonic() - started, 4)
    body = health.model_dump()
    return JSONResponse(body, status_code=503 if health.status == "failing" else 200)


@router.get("/metrics", include_in_schema=False)
async def metrics(ctx: Ctx) -> Response:
    return Response(ctx.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
