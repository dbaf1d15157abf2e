"""Re-encrypt every encrypted column and evidence file under the current personal-data key.

Rows are read and rewritten in small batches, one transaction each, and a value is replaced
only if it is still the one read (compare-and-set), so the service can run meanwhile: a value
it rewrote in between is already under the current key. A second run skips what is current,
so an interrupted rotation is resumed by running it again. Clear values left from before a
column was encrypted, and free text still in ``cases.fields``, are encrypted on the way, and
WeChat openids and Telegram user ids stored clear as sender ids are replaced by their keyed
hash (bot/senders.py), the id itself going encrypted into ``conversations.address``.
"""

from __future__ import annotations

import asyncio
import json
import typing
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, Column, Table, Text, cast, func, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.crypto import (
    EncryptedJSON,
    EncryptedText,
    Keyring,
    RowBound,
    RowBoundJSON,
    UndecryptableValue,
    is_token,
    keyring_of,
)
from bot.db.base import Base
from bot.db.models import (
    NARRATIVE_FIELDS,
    Case,
    CaseClaim,
    Conversation,
    InboundMessage,
    OutboxMessage,
    import_all_models,
)
from bot.evidence import EvidenceStore
from bot.outbox import prefix
from bot.senders import HASHED_CHANNELS, PREFIX, SenderIds

EVIDENCE = "evidence files"
SENDERS = "clear channel ids"
Progress = Callable[[str, int], None]  # (table, rows done) after each batch


@dataclass
class TableCount:
    rows: int = 0
    rewritten: int = 0  # values re-encrypted (or encrypted for the first time)
    stale: int = 0  # values still under an old key or in clear (a check, or rows raced)


@dataclass
class Report:
    tables: dict[str, TableCount] = field(default_factory=dict)

    @property
    def stale(self) -> int:
        return sum(c.stale for c in self.tables.values())


@dataclass(frozen=True)
class _Field:
    column: Column[Any]
    context: str
    as_json: bool
    row_bound: bool
    # Row-bound now, bound to table and field only before: such values are rebound.
    formerly_unbound: bool = False


def encrypted_tables() -> list[tuple[Table, list[_Field]]]:
    """Every table with encrypted columns, found from the column types themselves."""
    import_all_models()
    out = []
    for table in Base.metadata.sorted_tables:
        fields = [
            _Field(
                col,
                col.type.context,
                isinstance(col.type, (EncryptedJSON, RowBoundJSON)),
                isinstance(col.type, RowBound),
                isinstance(col.type, RowBound) and col.type.formerly_unbound,
            )
            for col in table.columns
            if isinstance(col.type, (EncryptedJSON, EncryptedText, RowBound))
        ]
        if fields:
            out.append((table, fields))
    return out


def _renew(keyring: Keyring, raw: str, spec: _Field, row_key: object) -> str | None:
    """The value to store instead of ``raw`` (as stored), or None when it is current."""
    value: Any = json.loads(raw) if spec.as_json else raw
    if value is None:
        return None  # JSON null: nothing to protect
    context = f"{spec.context}#{row_key}" if spec.row_bound else spec.context
    if is_token(value):
        try:
            plain = keyring.decrypt(value, context)
        except UndecryptableValue:
            if not spec.formerly_unbound:
                raise
            # Written before the column was bound to its row: rebind it now.
            return keyring.encrypt(keyring.decrypt(value, spec.context), context)
        if keyring.is_current(value):
            return None
    else:
        plain = json.dumps(value, ensure_ascii=False) if spec.as_json else value
    return keyring.encrypt(plain, context)


def _move_narrative(
    keyring: Keyring, raw_fields: str | None, raw_narrative: str | None, case_no: str
) -> tuple[dict[str, Any], str] | None:
    """Free text found in a case's clear fields, moved into its encrypted narrative."""
    fields = json.loads(raw_fields) if raw_fields else {}
    moving = {k: v for k, v in fields.items() if k in NARRATIVE_FIELDS}
    if not moving:
        return None
    context = f"cases.narrative#{case_no}"
    narrative: dict[str, Any] = {}
    if raw_narrative and (stored := json.loads(raw_narrative)) is not None:
        narrative = json.loads(keyring.decrypt(stored, context)) if is_token(stored) else stored
    token = keyring.encrypt(json.dumps({**moving, **narrative}, ensure_ascii=False), context)
    return {k: v for k, v in fields.items() if k not in NARRATIVE_FIELDS}, token


async def _batch(
    conn: AsyncConnection,
    keyring: Keyring,
    table: Table,
    specs: list[_Field],
    after: int,
    size: int,
    count: TableCount,
    write: bool,
) -> int | None:
    pk = table.c.id
    keys = {s.column.type.row_key for s in specs if isinstance(s.column.type, RowBound)}
    row_key = table.c[keys.pop()] if keys else None
    extra = [cast(table.c.fields, Text).label("raw_fields")] if table.name == "cases" else []
    columns = [cast(s.column, Text).label(s.column.name) for s in specs]
    stmt = select(pk, *([row_key] if row_key is not None else []), *columns, *extra)
    rows = (await conn.execute(stmt.where(pk > after).order_by(pk).limit(size))).mappings().all()
    for row in rows:
        key = row[row_key.name] if row_key is not None else None
        values: dict[str, Any] = {}
        where = [pk == row["id"]]
        for spec in specs:
            raw = row[spec.column.name]
            if raw is None or (new := _renew(keyring, raw, spec, key)) is None:
                continue
            values[spec.column.name] = type_coerce(new, JSON if spec.as_json else Text)
            where.append(cast(spec.column, Text) == raw)
        if extra and (
            moved := _move_narrative(keyring, row["raw_fields"], row["narrative"], str(key))
        ):
            values["fields"] = type_coerce(moved[0], JSON)
            values["narrative"] = type_coerce(moved[1], JSON)
            where.append(cast(table.c.fields, Text) == row["raw_fields"])
            if row["narrative"] is not None:
                where.append(cast(table.c.narrative, Text) == row["narrative"])
        count.rows += 1
        if not values:
            continue
        if not write:
            count.stale += len(values)
            continue
        done = await conn.execute(update(table).where(*where).values(values))
        if done.rowcount == 1:
            count.rewritten += len(values)
        else:
            count.stale += len(values)  # changed meanwhile: the next run looks again
    return rows[-1]["id"] if rows else None


def _clear_senders() -> Any:
    conversations = typing.cast(Table, Conversation.__table__)
    return conversations, (
        conversations.c.channel.in_(sorted(HASHED_CHANNELS)),
        ~conversations.c.sender_id.startswith(PREFIX, autoescape=True),
    )


def _bound(column: Column[Any], value: Any, row_key: object) -> Any:
    return typing.cast(RowBound, column.type).bound(value, row_key)


async def _rekey_outbox(conn: AsyncConnection, old: str, new: str) -> None:
    """Outbox keys that spelled a clear id get the hash instead; each payload, bound to its
    key, is opened under the old key and sealed under the new one."""
    outbox = typing.cast(Table, OutboxMessage.__table__)
    kind = typing.cast(RowBound, outbox.c.payload.type)
    stmt = select(outbox.c.id, outbox.c.key, cast(outbox.c.payload, Text).label("raw"))
    found = (await conn.execute(stmt.where(outbox.c.key.startswith(old, autoescape=True)))).all()
    for row in found:
        key = (new + row.key[len(old) :])[:128]
        values: dict[str, Any] = {"key": key}
        stored = json.loads(row.raw) if row.raw else None
        if is_token(stored):
            plain = kind.open(str(stored), row.key, keyring_of(conn.dialect))
            values["payload"] = kind.bound(json.loads(plain), key)
        await conn.execute(
            update(outbox).where(outbox.c.id == row.id, outbox.c.key == row.key).values(values)
        )


async def _hash_senders(
    conn: AsyncConnection,
    senders: SenderIds,
    after: int,
    size: int,
    count: TableCount,
    write: bool,
) -> int | None:
    """Move one batch of conversations kept under a clear platform id to its keyed hash,
    with their cases, claims and the keys that spelled the id (WeChat event ids, outbox)."""
    conversations, clear = _clear_senders()
    stmt = select(conversations.c.id, conversations.c.channel, conversations.c.sender_id)
    rows = (
        await conn.execute(
            stmt.where(*clear, conversations.c.id > after).order_by("id").limit(size)
        )
    ).all()
    for row in rows:
        count.rows += 1
        hashed = senders.sender_id(row.channel, row.sender_id)
        taken = await conn.scalar(
            select(conversations.c.id).where(
                conversations.c.channel == row.channel, conversations.c.sender_id == hashed
            )
        )
        if not write or taken is not None:  # a second conversation: left for staff to merge
            count.stale += 1
            continue
        done = await conn.execute(
            update(conversations)
            .where(conversations.c.id == row.id, conversations.c.sender_id == row.sender_id)
            # The column type encrypts it, bound to the conversation's id.
            .values(
                sender_id=hashed, address=_bound(conversations.c.address, row.sender_id, row.id)
            )
        )
        if done.rowcount != 1:
            count.stale += 1
            continue
        for model in (Case, CaseClaim):
            table = typing.cast(Table, model.__table__)
            await conn.execute(
                update(table)
                .where(table.c.channel == row.channel, table.c.sender_id == row.sender_id)
                .values(sender_id=hashed)
            )
        if row.channel == "wechat":
            inbound = typing.cast(Table, InboundMessage.__table__)
            old = f"ev:{row.sender_id}:"
            await conn.execute(
                update(inbound)
                .where(
                    inbound.c.conversation_id == row.id,
                    inbound.c.channel_message_id.startswith(old, autoescape=True),
                )
                .values(channel_message_id=func.replace(inbound.c.channel_message_id, old, "ev:"))
            )
        topic = f"reply:{row.channel}"
        await _rekey_outbox(conn, prefix(topic, row.sender_id), prefix(topic, hashed))
        count.rewritten += 1
    return rows[-1].id if rows else None


async def rotate(
    engine: AsyncEngine,
    evidence: EvidenceStore | None,
    *,
    senders: SenderIds,
    batch: int = 200,
    write: bool = True,
    progress: Progress | None = None,
    totals: Callable[[dict[str, int]], None] | None = None,
    gate: Callable[[], AbstractAsyncContextManager[None]] | None = None,
) -> Report:
    """Rewrite (or, with ``write=False``, count) every value not under the current key of
    the engine's keyring (and every clear platform id into its hash under ``senders``);
    ``gate`` serialises each batch with the service's SQLite writers."""
    keyring = keyring_of(engine)
    report = Report()
    tables = encrypted_tables()
    async with engine.connect() as conn:
        sizes = {
            t.name: int((await conn.execute(select(func.count()).select_from(t))).scalar_one())
            for t, _ in tables
        }
        _, clear = _clear_senders()
        sizes = {
            SENDERS: int((await conn.execute(select(func.count()).where(*clear))).scalar_one()),
            **sizes,
        }
    names = list(evidence.names()) if evidence is not None else []
    if evidence is not None:
        sizes[EVIDENCE] = len(names)
    if totals:
        totals(sizes)
    # First, so each address written is under the current key and its hash is found.
    count = report.tables.setdefault(SENDERS, TableCount())
    after = 0
    while True:
        async with gate() if gate else nullcontext(), engine.begin() as conn:
            last = await _hash_senders(conn, senders, after, batch, count, write)
        if last is None:
            break
        after = last
        if progress:
            progress(SENDERS, count.rows)
    for table, specs in tables:
        count = report.tables.setdefault(table.name, TableCount())
        after = 0
        while True:
            async with gate() if gate else nullcontext(), engine.begin() as conn:
                last = await _batch(conn, keyring, table, specs, after, batch, count, write)
            if last is None:
                break
            after = last
            if progress:
                progress(table.name, count.rows)
    if evidence is not None:
        count = report.tables.setdefault(EVIDENCE, TableCount())
        for sha256 in names:
            count.rows += 1
            try:
                if not write:
                    count.stale += int(not evidence.is_current(sha256))
                elif await asyncio.to_thread(evidence.reseal, sha256):
                    count.rewritten += 1
            except FileNotFoundError:
                pass  # swept away as an orphan meanwhile
            if progress:
                progress(EVIDENCE, count.rows)
    return report
