"""Three instances on one PostgreSQL database behind nginx, round-robin: consecutive messages
of a conversation are answered by different instances, and users must not notice."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from benchmarks.cluster import WEIQUAN, Cluster
from tests.integrations.telegram_double import SECRET, BotApiDouble, FakeUser
from tests.scale.conftest import Db
from tests.scale.people import Person, answers_for, crowd, file_complaints

# The cluster is shared by tests/scale (one process, about two minutes): heavy.
pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.e2e, pytest.mark.heavy]
PASSWORD = "correct horse battery"


@pytest.fixture
def no_server_errors(cluster: Cluster) -> Iterator[None]:
    """For tests where nothing fails: no instance may log a traceback meanwhile."""
    before = cluster.log_sizes()
    yield
    logged = cluster.logs(since=before)
    assert "Traceback" not in logged, logged[-4000:]


async def conversation_ids(db: Db, people: list[Person]) -> dict[str, int]:
    rows = await db.fetch(
        "SELECT sender_id, id FROM conversations WHERE channel = 'rest' AND sender_id = ANY($1)",
        [p.sender for p in people],
    )
    return {r["sender_id"]: r["id"] for r in rows}


@pytest.mark.usefixtures("no_server_errors")
async def test_concurrent_conversations_are_applied_in_order(cluster: Cluster, db: Db) -> None:
    people = crowd(20, "order")
    await file_complaints(cluster, people)

    for p in people:
        assert p.problem is None, f"{p.sender}: {p.problem}"
        assert p.case_no is not None
    # Everyone was asked the same questions in the same order, none twice.
    assert len({tuple(p.asked) for p in people}) == 1
    # Round-robin: every instance answered, and no conversation stayed on one instance.
    served = Counter(e.served_by for p in people for e in p.exchanges)
    assert set(served) == {i.name for i in cluster.instances}, served
    for p in people:
        assert len({e.served_by for e in p.exchanges}) > 1, p.sender

    ids = await conversation_ids(db, people)
    assert len(ids) == len(people)
    for p in people:
        conversation = ids[p.sender]
        inbound = await db.fetch(
            "SELECT channel_message_id FROM inbound_messages "
            "WHERE conversation_id = $1 ORDER BY id",
            conversation,
        )
        # Each message stored once, in the order it was sent.
        assert [r[0] for r in inbound] == [e.message_id for e in p.exchanges]
        directions = [
            r[0]
            for r in await db.fetch(
                "SELECT direction FROM transcript WHERE conversation_id = $1 ORDER BY id",
                conversation,
            )
        ]
        # Each message, then its answers, before the next message.
        assert directions.count("in") == len(p.exchanges)
        assert all(directions[i + 1] == "out" for i, d in enumerate(directions) if d == "in"), (
            directions
        )
        (case,) = await db.fetch(
            "SELECT conversation_id, merchant, fields FROM cases WHERE case_no = $1", p.case_no
        )
        # The case holds this person's own answers, whichever instance took each of them.
        assert case["conversation_id"] == conversation
        assert case["merchant"] == answers_for(p.n)["merchant"]
        assert json.loads(case["fields"])["amount"] == 100 + p.n


@pytest.mark.usefixtures("no_server_errors")
async def test_simultaneous_confirmations_get_distinct_case_numbers(
    cluster: Cluster, db: Db
) -> None:
    people = crowd(20, "caseno")
    await file_complaints(cluster, people, stop_before="confirm")
    assert all(p.problem is None and p.case_no is None for p in people)
    # Everyone confirms in the same instant, spread over the three instances.
    await file_complaints(cluster, people)

    shown = [p.case_no for p in people if p.case_no]
    assert len(shown) == len(people) and len(set(shown)) == len(shown), shown
    confirmations = {p.exchanges[-1].served_by for p in people}
    assert len(confirmations) == len(cluster.instances), confirmations
    ids = await conversation_ids(db, people)
    rows = await db.fetch(
        "SELECT case_no, conversation_id, merchant FROM cases WHERE conversation_id = ANY($1)",
        list(ids.values()),
    )
    assert sorted(r["case_no"] for r in rows) == sorted(shown)
    for p in people:
        (case,) = [r for r in rows if r["case_no"] == p.case_no]
        assert case["conversation_id"] == ids[p.sender]
        assert case["merchant"] == answers_for(p.n)["merchant"]
    assert await db.fetch("SELECT case_no FROM cases GROUP BY case_no HAVING count(*) > 1") == []


TELEGRAM_SCRIPT = ["/start", "你好", "/help", "怎么辨别假货", "/start"]


@pytest.mark.usefixtures("no_server_errors")
async def test_every_outbox_row_is_delivered_once(
    cluster: Cluster, db: Db, telegram_doubles: list[BotApiDouble]
) -> None:
    """Telegram replies leave through the outbox; all three instances poll it every 50 ms
    and claim three rows at a time, so they compete for the same rows throughout."""
    for double in telegram_doubles:
        double.clear()
    users = [FakeUser(telegram_doubles[0], user_id=8_100_000 + n) for n in range(24)]

    async def chat(http: httpx.AsyncClient, user: FakeUser) -> None:
        for text in TELEGRAM_SCRIPT:
            response = await http.post(
                "/webhooks/telegram",
                json=user.text(text),
                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            )
            assert response.status_code == 200, response.text

    async with httpx.AsyncClient(base_url=cluster.url, timeout=30) as http:
        await asyncio.gather(*(chat(http, u) for u in users))

    # Wait (not a timed assertion) until nothing is left to send.
    deadline = time.monotonic() + 60
    while await db.value(
        "SELECT count(*) FROM outbox WHERE topic = 'reply:telegram' AND status <> 'sent'"
    ):
        assert time.monotonic() < deadline, await db.fetch(
            "SELECT key, status, attempts, last_error FROM outbox WHERE status <> 'sent'"
        )
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.5)  # a second delivery of a row would show up by now

    rows = await db.fetch("SELECT key, attempts FROM outbox WHERE topic = 'reply:telegram'")
    assert len(rows) >= len(users) * len(TELEGRAM_SCRIPT)
    # Claimed once each: a row taken by two instances would have two attempts.
    assert [r["key"] for r in rows if r["attempts"] != 1] == []
    delivered = [call for double in telegram_doubles for call in double.sent()]
    assert len(delivered) == len(rows)
    # Every user got the same messages (the script is the same), each once.
    per_user = {
        u.id: Counter(c.text for c in delivered if int(c.params["chat_id"]) == u.id) for u in users
    }
    assert all(per_user[u.id] == per_user[users[0].id] for u in users), per_user
    assert sum(per_user[users[0].id].values()) * len(users) == len(rows)
    # The instances shared the work.
    by_instance = [len(double.sent()) for double in telegram_doubles]
    assert sum(1 for n in by_instance if n) > 1, by_instance


@pytest.fixture
def admin(cluster: Cluster) -> str:
    """The first admin, made on the command line as an operator does."""
    subprocess.run(
        [WEIQUAN, "staff", "add", "boss", "--role", "admin"],
        input=PASSWORD + "\n",
        text=True,
        env=cluster.env,
        check=True,
        capture_output=True,
    )
    return "boss"


@pytest.mark.usefixtures("no_server_errors")
async def test_one_staff_member_wins_each_handover_claim(
    cluster: Cluster, db: Db, admin: str
) -> None:
    """Three agents claim the same queued conversation at once, each through another instance."""
    agents = ["agent.a", "agent.b", "agent.c"]
    async with httpx.AsyncClient(base_url=cluster.url, timeout=30) as http:

        async def login(username: str) -> dict[str, str]:
            r = await http.post(
                "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
            )
            assert r.status_code == 200, r.text
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        boss = await login(admin)
        for name in agents:
            r = await http.post(
                "/api/v1/staff",
                json={"username": name, "password": PASSWORD, "role": "agent"},
                headers=boss,
            )
            assert r.status_code == 201, r.text
        tokens = [await login(name) for name in agents]

        senders = [f"handover-{os.urandom(3).hex()}-{n}" for n in range(5)]
        for sender in senders:
            r = await http.post(
                "/webhooks/rest/webhook",
                json={"sender": sender, "message": "转人工", "message_id": f"{sender}-0"},
            )
            assert r.status_code == 200 and "排队" in r.text, r.text
        queued = {
            r["sender_id"]: r["id"]
            for r in await db.fetch(
                "SELECT c.sender_id, h.id FROM handover_requests h "
                "JOIN conversations c ON c.id = h.conversation_id "
                "WHERE c.sender_id = ANY($1) AND h.status = 'queued'",
                senders,
            )
        }
        assert set(queued) == set(senders)

        async def claim(instance: int, request_id: int) -> httpx.Response:
            url = f"{cluster.instances[instance].url}/api/v1/queue/{request_id}/claim"
            return await http.post(url, headers=tokens[instance])

        for sender, request_id in queued.items():
            answers = await asyncio.gather(*(claim(i, request_id) for i in range(len(agents))))
            statuses = sorted(a.status_code for a in answers)
            assert statuses == [200, 409, 409], [(a.status_code, a.text) for a in answers]
            winner = next(i for i, a in enumerate(answers) if a.status_code == 200)
            for a in answers:
                if a.status_code == 409:
                    assert a.json()["error"] == "not_queued"
            row = await db.fetch(
                "SELECT status, taken_by FROM handover_requests WHERE id = $1", request_id
            )
            assert [tuple(row[0])] == [("taken", agents[winner])]
            # The consumer is told once that someone joined; only the winner may write.
            pushes = await http.get("/webhooks/rest/pushes", params={"sender": sender})
            assert len(pushes.json()) == 1, pushes.json()
            loser = (winner + 1) % len(agents)
            r = await http.post(
                f"/api/v1/queue/{request_id}/reply", json={"text": "您好"}, headers=tokens[loser]
            )
            assert r.status_code == 403, r.text
            r = await http.post(
                f"/api/v1/queue/{request_id}/reply", json={"text": "您好"}, headers=tokens[winner]
            )
            assert r.status_code == 202, r.text
            pushes = await http.get("/webhooks/rest/pushes", params={"sender": sender})
            assert [p["text"] for p in pushes.json()][-1] == "您好"


async def telegram_replies_in_order(
    cluster: Cluster, doubles: list[BotApiDouble], user: FakeUser, text: str, count: int
) -> list[str]:
    """Send ``text``; the texts the user receives, in the order they arrive, until ``count``.
    A double armed with a failure refuses its next call: that call never reaches the user."""
    armed = {id(d) for d in doubles if d.failures.get("sendMessage")}
    seen: dict[int, int] = {id(d): 0 for d in doubles}
    received: list[str] = []
    async with httpx.AsyncClient(base_url=cluster.url, timeout=30) as http:
        response = await http.post(
            "/webhooks/telegram",
            json=user.text(text),
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        )
        assert response.status_code == 200, response.text
    deadline = time.monotonic() + 60
    while len(received) < count:
        assert time.monotonic() < deadline, received
        for double in doubles:
            calls = double.sent(user.id)
            for call in calls[seen[id(double)] :]:
                if id(double) in armed:
                    # The refused call; one refusal is enough: disarm the other doubles.
                    for other in doubles:
                        other.failures.clear()
                    armed.clear()
                else:
                    received.append(call.text)
            seen[id(double)] = len(calls)
        await asyncio.sleep(0.01)
    return received


async def test_a_failed_send_does_not_reorder_a_telegram_users_replies(
    cluster: Cluster, telegram_doubles: list[BotApiDouble]
) -> None:
    """/help answers with two messages. Telegram refuses the first send once (a network
    error), as it does now and then; the user must still read the two in the bot's order."""
    expected = await telegram_replies_in_order(
        cluster, telegram_doubles, FakeUser(telegram_doubles[0], user_id=8_300_000), "/help", 2
    )
    assert len(set(expected)) == 2, expected
    for double in telegram_doubles:
        double.fail_next("sendMessage", "retry_after", retry_after=2)
    try:
        received = await telegram_replies_in_order(
            cluster, telegram_doubles, FakeUser(telegram_doubles[0], user_id=8_300_001), "/help", 2
        )
    finally:
        for double in telegram_doubles:
            double.failures.clear()
    assert received == expected
