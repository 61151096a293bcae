"""If-Match under real concurrency (issue 15): clients that read the same ETag and write
at the same moment through a real `serve`: exactly one wins, every other gets 409 with
the error object, and nothing of the losers is stored. On each database backend: the
ticket's row lock (PostgreSQL, MariaDB) or SQLite's single writer orders them."""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.http.conftest import Api

pytestmark = pytest.mark.backends()

WRITERS = 8
ROUNDS = 3


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def race(api: Api, url: str, headers: dict[str, str],
         bodies: list[dict[str, object]]) -> list[httpx.Response]:
    """One POST per body, released together by a barrier, each on its own connection."""
    barrier = threading.Barrier(WRITERS)
    answers: list[httpx.Response | None] = [None] * WRITERS

    def one(i: int) -> None:
        with httpx.Client(base_url=api.url, timeout=60) as client:
            client.get("/healthz")  # connected before the start, so the requests overlap
            barrier.wait(timeout=60)
            answers[i] = client.post(url, headers=headers, json=bodies[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(a is not None for a in answers)
    return [a for a in answers if a is not None]


def check_one_winner(answers: list[httpx.Response], winner_status: int) -> None:
    codes = sorted(a.status_code for a in answers)
    assert codes == [winner_status] + [409] * (WRITERS - 1), [a.text for a in answers]
    for lost in (a for a in answers if a.status_code == 409):
        error = lost.json()["error"]
        assert error["code"] == "conflict" and "changed since you read it" in error["message"]
        winner = next(a for a in answers if a.status_code == winner_status)
        assert lost.headers["etag"] == winner.headers["etag"]  # the ETag to read again


def test_concurrent_writers_with_one_etag_exactly_one_wins(api: Api) -> None:
    token = api.token("crm", "--scope", "write")
    number = api.client.post("/api/v1/tickets", headers=bearer(token), json={
        "customer": "carol@example.org", "subject": "Race", "body": "Hello"}).json()["number"]
    path = f"/api/v1/tickets/{number}"
    for round_ in range(ROUNDS):
        etag = api.client.get(path, headers=bearer(token)).headers["etag"]
        answers = race(api, f"{path}/articles", {**bearer(token), "If-Match": etag},
                       [{"body": f"note {round_}.{i}", "visibility": "internal"}
                        for i in range(WRITERS)])
        check_one_winner(answers, 201)
    notes = [a for a in api.client.get(path, headers=bearer(token)).json()["articles"]
             if a["body"].startswith("note ")]
    assert len(notes) == ROUNDS  # one per round: no loser's note was stored

    for _ in range(ROUNDS):
        before = api.client.get(path, headers=bearer(token))
        etag, old = before.headers["etag"], before.json()["priority"]
        # Every writer changes the priority (a no-op would leave the ETag valid).
        values = [p for p in range(1, 6) if p != old]
        answers = race(api, f"{path}/commands", {**bearer(token), "If-Match": etag},
                       [{"commands": [f"/priority {values[i % 4]}"]} for i in range(WRITERS)])
        check_one_winner(answers, 200)
        won = next(a for a in answers if a.status_code == 200).json()
        asked = int(won["results"][0]["line"].split()[1])
        assert won["ticket"]["priority"] == asked != old
    data = api.client.get(path, headers=bearer(token)).json()
    assert sum(1 for h in data["history"] if h["event"] == "priority") == ROUNDS
    assert "Traceback" not in api.served.log()
