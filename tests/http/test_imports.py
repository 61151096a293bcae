"""`deliver` runs once per mail: the web stack must stay out of its imports."""

from __future__ import annotations

import subprocess
import sys

WEB = ("fastapi", "starlette", "uvicorn", "prometheus_client", "pydantic")


def test_deliver_and_the_daemon_module_load_no_web_code() -> None:
    code = ("import sys, maildesk.cli, maildesk.app, maildesk.pipeline, maildesk.daemon\n"
            f"print([m for m in {WEB!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.strip()
    assert out == "[]", out
