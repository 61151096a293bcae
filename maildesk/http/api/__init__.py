"""`/api/v1`: the JSON API for other applications (SPEC 14)."""

from __future__ import annotations

from fastapi import APIRouter

from maildesk.http.api import tickets

__all__ = ["router"]

router = APIRouter()
router.include_router(tickets.router)
