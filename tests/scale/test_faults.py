"""Faults under load: an instance killed with SIGKILL, PostgreSQL restarted. Clients retry
what got no answer, through the balancer, with the same message id; nothing a user was told
may be lost, and every conversation finishes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.cluster import PG_BIN, Cluster, PrivatePostgres, fresh_database
from tests.scale.conftest import INSTANCES, Db, require_postgres_and_balancer
from tests.scale.people import (
    MESSAGES_PER_COMPLAINT,
    Attempt,
    Person,
    Progress,
    crowd,
    file_complaints,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.e2e]


async def assert_nothing_told_was_lost(db: Db, people: list[Person]) -> None:
    """Every message answered 200 is stored once, in order; every case number shown exists
    and belongs to the conversation that was shown it."""
    for p in people:
        assert p.problem is None, f"{p.sender}: {p.problem}"
        assert p.case_no is not None, p.sender
        conversation = await db.value(
            "SELECT id FROM conversations WHERE channel = 'rest' AND sender_id = $1", p.sender
        )
        stored = [
            r[0]
            for r in await db.fetch(
                "SELECT channel_message_id FROM inbound_messages "
                "WHERE conversation_id = $1 ORDER BY id",
                conversation,
            )
        ]
        assert stored == [e.message_id for e in p.exchanges], p.sender
        case = await db.fetch("SELECT conversation_id FROM cases WHERE case_no = $1", p.case_no)
        assert [r[0] for r in case] == [conversation], p.case_no


def failures(people: list[Person]) -> list[Attempt]:
    return [a for p in people for e in p.exchanges for a in e.failures]


async def test_kill_9_of_an_instance_loses_no_case(cluster: Cluster) -> None:
    db = Db(cluster.database_url)
    people = crowd(18, "kill")
    victim = cluster.instances[1]
    at_kill: dict[str, int] = {}

    async def kill(progress: Progress) -> None:
        await progress.reached.wait()
        await asyncio.to_thread(victim.kill)
        # Messages sent from now on cannot reach the dead instance.
        at_kill.update({p.sender: len(p.exchanges) for p in people})

    try:
        await file_complaints(
            cluster,
            people,
            progress=Progress(threshold=len(people) * MESSAGES_PER_COMPLAINT // 3),
            retry_for=30.0,
            during=kill,
        )
    finally:
        if not victim.alive:
            victim.spawn()
            victim.wait()

    assert at_kill, "every conversation ended before the kill"
    await assert_nothing_told_was_lost(db, people)
    # Only the balancer's answers for the dead instance, or no answer at all.
    assert {a.status for a in failures(people)} <= {None, 502, 503, 504}, failures(people)
    # Conversations the killed instance was serving went on elsewhere and finished.
    resumed = [
        p
        for p in people
        if any(e.served_by == victim.name for e in p.exchanges[: at_kill[p.sender]])
        and at_kill[p.sender] < len(p.exchanges)
    ]
    assert resumed, "the kill came after every conversation had left the instance"
    for p in resumed:
        after = p.exchanges[at_kill[p.sender] :]
        assert victim.name not in {e.served_by for e in after}, p.sender


@pytest.fixture(scope="module")
def private_cluster(scale_dir: Path) -> Iterator[tuple[PrivatePostgres, Cluster]]:
    """Three instances behind HAProxy on a PostgreSQL server of their own, to restart."""
    require_postgres_and_balancer("haproxy")
    if not (PG_BIN / "pg_ctl").exists():
        pytest.fail(f"no PostgreSQL server binaries in {PG_BIN} (apt-get install postgresql-15)")
    with (
        PrivatePostgres() as pg,
        fresh_database(pg.admin_url) as url,
        Cluster(url, scale_dir / "private", instances=INSTANCES, balancer="haproxy") as running,
    ):
        yield pg, running


async def test_postgres_restart_mid_load_gives_retryable_errors_and_loses_nothing(
    private_cluster: tuple[PrivatePostgres, Cluster],
) -> None:
    pg, cluster = private_cluster
    db = Db(cluster.database_url)
    people = crowd(18, "pgrestart")

    restarted: list[bool] = []

    async def restart(progress: Progress) -> None:
        await progress.reached.wait()
        # A crash (no shutdown checkpoint, recovery replays the log), a second down.
        await asyncio.to_thread(pg.restart, "immediate", 1.0)
        restarted.append(True)

    await file_complaints(
        cluster,
        people,
        progress=Progress(threshold=len(people) * MESSAGES_PER_COMPLAINT // 3),
        retry_for=60.0,
        during=restart,
    )

    assert restarted, "every conversation ended before the restart"
    await assert_nothing_told_was_lost(db, people)
    seen = failures(people)
    assert seen, "no request met the restart"
    # Retryable: no answer at all, or a 5xx the app answered in JSON.
    unexpected = [a for a in seen if a.status is not None and not (a.status >= 500 and a.json_body)]
    assert unexpected == [], unexpected
