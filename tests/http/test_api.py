"""Every `/api/v1` endpoint and its errors, through a real `serve` on loopback, on each
database backend."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

import pytest

from tests.db.serving import Sink, wait_for
from tests.http.conftest import Api

pytestmark = pytest.mark.backends()

NEW = {"customer": "carol@example.org", "subject": "Printer on fire",
       "body": "Hello,\nthe printer is on fire.\n"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def outbox(api: Api) -> list[dict]:
    result = api.desk.cli("outbox", "--json")
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout)


def test_tokens_are_shown_once_kept_as_hashes_recorded_and_revocable(api: Api) -> None:
    token = api.token("crm", "--scope", "read")
    assert token.startswith("mdk_") and len(token) > 40
    db_text = b"".join(p.read_bytes() for p in (api.desk.root / "var").glob("maildesk.db*"))
    assert token.encode() not in db_text  # (SQLite here; the server backends keep the same)
    listed = json.loads(api.desk.cli("token", "list", "--json").stdout)
    assert listed[0]["name"] == "crm" and listed[0]["last_used_at"] is None
    assert token not in json.dumps(listed)
    assert api.client.get("/api/v1/tickets", headers=bearer(token)).status_code == 200
    listed = json.loads(api.desk.cli("token", "list", "--json").stdout)
    assert listed[0]["last_used_at"] is not None
    again = api.desk.cli("token", "create", "crm")
    assert again.returncode == 64 and b"exists" in again.stderr
    assert api.desk.cli("token", "create", "x", "--queue", "Nope").returncode == 64
    assert api.desk.cli("token", "revoke", "crm").returncode == 0
    r = api.client.get("/api/v1/tickets", headers=bearer(token))
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert api.desk.cli("token", "revoke", "crm").returncode == 66


def test_authentication_scope_and_queues(api: Api) -> None:
    r = api.client.get("/api/v1/tickets")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert api.client.get("/api/v1/tickets", headers=bearer("mdk_wrong")).status_code == 401
    reader = api.token("reader")
    r = api.client.post("/api/v1/tickets", json=NEW, headers=bearer(reader))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    writer = api.token("writer", "--scope", "write")
    billing = api.token("billing", "--scope", "write", "--queue", "Billing")
    number = api.client.post("/api/v1/tickets", json=NEW, headers=bearer(writer)).json()["number"]
    assert api.client.get(f"/api/v1/tickets/{number}", headers=bearer(billing)).status_code == 403
    assert api.client.get("/api/v1/tickets", headers=bearer(billing)).json()["tickets"] == []
    r = api.client.get("/api/v1/tickets?queue=Support", headers=bearer(billing))
    assert r.status_code == 403
    r = api.client.post("/api/v1/tickets", json={**NEW, "queue": "Support"},
                        headers=bearer(billing))
    assert r.status_code == 403
    # A token of one queue creates there without naming it.
    r = api.client.post("/api/v1/tickets", json=NEW, headers=bearer(billing))
    assert r.status_code == 201 and r.json()["queue"] == "Billing"
    r = api.client.post(f"/api/v1/tickets/{number}/commands", json={"commands": ["/close"]},
                        headers=bearer(billing))
    assert r.status_code == 403
    assert api.client.get("/api/v1/tickets/999", headers=bearer(writer)).status_code == 404


def test_create_is_the_mail_pipeline_with_autoresponse_and_notifications(
        api: Api, sink: Sink) -> None:
    token = api.token("crm", "--scope", "write")
    data = bytes(range(256)) * 40 + b"\r\n\x00end"
    r = api.client.post("/api/v1/tickets", headers=bearer(token), json={
        **NEW, "subject": "Re: [Ticket#2026010110000001] Printer on fire", "priority": 5,
        "attachments": [{"filename": "dump ü.bin", "content_type": "application/octet-stream",
                         "content_base64": base64.b64encode(data).decode()}]})
    assert r.status_code == 201, r.text
    ticket = r.json()
    number = ticket["number"]
    assert r.headers["location"] == f"/api/v1/tickets/{number}"
    assert r.headers["etag"]
    assert ticket["title"] == "Re: Printer on fire"  # a tag names no ticket: a new one
    assert (ticket["queue"], ticket["priority"], ticket["customer"]) == (
        "Support", 5, "carol@example.org")
    [article] = ticket["articles"]
    assert article["body"] == NEW["body"]
    [att] = article["attachments"]
    assert att["filename"] == "dump ü.bin" and att["size"] == len(data)
    r = api.client.get(f"/api/v1/tickets/{number}/attachments/{att['sha256']}",
                       headers=bearer(token))
    assert r.status_code == 200 and r.content == data
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["x-content-type-options"] == "nosniff"
    missing = "0" * 64
    assert api.client.get(f"/api/v1/tickets/{number}/attachments/{missing}",
                          headers=bearer(token)).status_code == 404
    kinds = {(row["kind"], row["to"]) for row in outbox(api)}
    assert ("autoreply", "carol@example.org") in kinds
    assert ("notification", "alice@example.com") in kinds
    wait_for(lambda: ("carol@example.org" in {to for _, to in sink.received}), 30,
             "the auto-response at the relay")
    # The same ticket, as `show --json` prints it; `show` also re-hashes each stored mail
    # (its `damaged` mark), which the API leaves to `maildesk verify`. History may grow
    # meanwhile (the sender records the auto-response's delivery).
    got = api.client.get(f"/api/v1/tickets/{number}", headers=bearer(token)).json()
    shown = api.desk.show(number)
    for a in shown["articles"]:
        a.pop("damaged", None)
    assert {k: v for k, v in got.items() if k != "history"} == {
        k: v for k, v in shown.items() if k != "history"}
    assert got["history"] == shown["history"][:len(got["history"])]


def test_bad_bodies_get_422(api: Api) -> None:
    token = api.token("crm", "--scope", "write")
    cases = [
        {**NEW, "surprise": 1},
        {**NEW, "customer": "not an address"},
        {**NEW, "priority": True},
        {**NEW, "priority": "5"},
        {**NEW, "queue": "Nope"},
        {k: v for k, v in NEW.items() if k != "subject"},
        {**NEW, "attachments": [{"filename": "a", "content_base64": "!!!"}]},
    ]
    for body in cases:
        r = api.client.post("/api/v1/tickets", json=body, headers=bearer(token))
        assert r.status_code == 422, (body, r.text)
        assert set(r.json()["error"]) >= {"code", "message"}
    r = api.client.post("/api/v1/tickets", content=b"{not json",
                        headers={**bearer(token), "Content-Type": "application/json"})
    assert r.status_code == 422
    assert api.client.get("/api/v1/tickets?cursor=t1", headers=bearer(token)).status_code == 422
    assert api.client.get("/api/v1/tickets?limit=0", headers=bearer(token)).status_code == 422
    assert outbox(api) == []


def test_articles_public_is_mailed_internal_is_not_and_if_match_guards(
        api: Api, sink: Sink) -> None:
    token = api.token("crm", "--scope", "write")
    created = api.client.post("/api/v1/tickets", json=NEW, headers=bearer(token))
    number, etag = created.json()["number"], created.headers["etag"]
    before = len(outbox(api))
    r = api.client.post(f"/api/v1/tickets/{number}/articles", headers=bearer(token),
                        json={"body": "Internal only", "visibility": "internal"})
    assert r.status_code == 201 and r.json()["visibility"] == "internal"
    assert len(outbox(api)) == before
    # The note changed the ticket: the ETag read before creation is stale now.
    r = api.client.post(f"/api/v1/tickets/{number}/articles",
                        headers={**bearer(token), "If-Match": etag},
                        json={"body": "We are on it.", "visibility": "public"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    fresh = api.client.get(f"/api/v1/tickets/{number}", headers=bearer(token)).headers["etag"]
    r = api.client.post(f"/api/v1/tickets/{number}/articles",
                        headers={**bearer(token), "If-Match": fresh},
                        json={"body": "We are on it.", "visibility": "public"})
    assert r.status_code == 201, r.text
    assert r.headers["etag"] != fresh
    answers = [row for row in outbox(api) if row["kind"] == "answer"]
    assert [a["to"] for a in answers] == ["carol@example.org"]
    assert api.client.post(f"/api/v1/tickets/{number}/articles", headers=bearer(token),
                           json={"body": "x", "visibility": "secret"}).status_code == 422


def test_commands_all_or_none_with_per_line_results(api: Api) -> None:
    token = api.token("crm", "--scope", "write")
    number = api.client.post("/api/v1/tickets", json=NEW,
                             headers=bearer(token)).json()["number"]
    r = api.client.post(f"/api/v1/tickets/{number}/commands", headers=bearer(token),
                        json={"commands": ["/priority 1", "/tag +vip", "/frobnicate"]})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "commands_failed"
    assert [x["ok"] for x in error["results"]] == [True, True, False]
    shown = api.desk.show(number)
    assert shown["priority"] == 3 and shown["tags"] == []  # nothing applied
    r = api.client.post(f"/api/v1/tickets/{number}/commands", headers=bearer(token),
                        json={"commands": ["/priority 1", "/tag +vip", "/close"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["applied"] and all(x["ok"] for x in body["results"])
    assert (body["ticket"]["priority"], body["ticket"]["tags"]) == (1, ["vip"])
    assert body["ticket"]["state"].startswith("closed")
    assert any(h["actor"] == "api:crm" for h in api.desk.show(number)["history"])
    r = api.client.post(f"/api/v1/tickets/{number}/commands", headers=bearer(token),
                        json={"commands": ["close"]})
    assert r.status_code == 422


def test_list_filters_search_and_cursor(api: Api) -> None:
    token = api.token("crm", "--scope", "write")
    numbers = []
    for i in range(7):
        body = {**NEW, "customer": f"c{i % 2}@example.org", "subject": f"Case {i}",
                "body": "the fax machine jams" if i % 3 == 0 else "the printer burns"}
        numbers.append(api.client.post("/api/v1/tickets", json=body,
                                       headers=bearer(token)).json()["number"])
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = api.client.get("/api/v1/tickets", params=params, headers=bearer(token)).json()
        seen += [t["number"] for t in page["tickets"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == numbers
    got = api.client.get("/api/v1/tickets", params={"q": "FAX jams"},
                         headers=bearer(token)).json()["tickets"]
    assert [t["number"] for t in got] == [numbers[0], numbers[3], numbers[6]]
    got = api.client.get("/api/v1/tickets", params={"q": "fax", "customer": "c1@example.org"},
                         headers=bearer(token)).json()["tickets"]
    assert [t["number"] for t in got] == [numbers[3]]
    got = api.client.get("/api/v1/tickets", params={"state": "closed"},
                         headers=bearer(token)).json()["tickets"]
    assert got == []
    hostile = api.client.get("/api/v1/tickets", params={"q": '"fax" OR * NEAR( AND -'},
                             headers=bearer(token))
    assert hostile.status_code == 200
    cli = api.desk.tickets("--search", "fax jams")
    assert [t["number"] for t in cli] == [numbers[0], numbers[3], numbers[6]]


def test_rate_limit_answers_429_with_retry_after(api_factory: Callable[..., Api]) -> None:
    api = api_factory("api:\n  rate_limit: 1\n  burst: 3\n")
    token = api.token("crm")
    codes = [api.client.get("/api/v1/tickets", headers=bearer(token)) for _ in range(5)]
    assert [r.status_code for r in codes[:3]] == [200, 200, 200]
    limited = codes[-1]
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"]["code"] == "rate_limited"
    other = api.token("other")  # limits are per token
    assert api.client.get("/api/v1/tickets", headers=bearer(other)).status_code == 200
    time.sleep(int(limited.headers["retry-after"]))
    assert api.client.get("/api/v1/tickets", headers=bearer(token)).status_code == 200


def test_a_chunked_body_over_the_limit_is_cut_off(api_factory: Callable[..., Api]) -> None:
    api = api_factory()
    text = api.desk.config_path.read_text()
    api.served.stop()
    api.desk.config_path.write_text(
        text.replace("listen:\n", "listen:\n  max_message_size: 64KiB\n", 1))
    from tests.db.serving import Served

    api.served = Served(api.desk, api.smtp_port)
    token = api.token("crm", "--scope", "write")

    def chunks():  # noqa: ANN202
        yield b'{"customer": "carol@example.org", "subject": "big", "body": "'
        for _ in range(40):
            yield b"x" * 4096
        yield b'"}'

    r = api.client.post("/api/v1/tickets", content=chunks(),
                        headers={**bearer(token), "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    assert api.desk.tickets() == []
