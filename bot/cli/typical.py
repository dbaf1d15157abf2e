"""``weiquan cases typical``: publish, list and withdraw typical cases (典型案例) from scripts.

The same checks as the console (category, lengths, no personal data); each change is
audited under the operating-system user (or ``--as NAME``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.cases import run_with_session
from bot.knowledge import cases
from bot.staff import audit

app = typer.Typer(help="Typical cases (典型案例) shown to consumers in chat.", no_args_is_help=True)
AsName = Annotated[
    str | None, typer.Option("--as", help="who runs this, for the audit log (default: OS user)")
]


@app.command("publish")
def publish_cmd(
    category: Annotated[str, typer.Option(help="e.g. chargers, shoes (see `categories`)")],
    title_zh: Annotated[str, typer.Option("--title-zh")],
    title_en: Annotated[str, typer.Option("--title-en")],
    summary_zh: Annotated[str, typer.Option("--summary-zh")],
    summary_en: Annotated[str, typer.Option("--summary-en")],
    as_name: AsName = None,
) -> None:
    """Publish an anonymised case summary; prints its id."""
    draft = cases.Draft(category, title_zh, title_en, summary_zh, summary_en)
    actor = audit.os_actor(as_name)

    async def work(session: AsyncSession) -> int:
        now = datetime.now(UTC)
        async with session.begin():
            row = cases.publish(session, draft, by=actor.removeprefix("cli:")[:32], now=now)
            await session.flush()
            audit.record(
                session,
                actor=actor,
                action="typical_case_published",
                target=f"typical_case:{row.id}",
                detail={"category": row.category, "title": row.title_zh},
                now=now,
            )
            return row.id

    try:
        typer.echo(run_with_session(work))
    except cases.CaseRefused as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command("withdraw")
def withdraw_cmd(case_id: int, as_name: AsName = None) -> None:
    """Hide a published case from the chat (the row and its history stay)."""
    actor = audit.os_actor(as_name)

    async def work(session: AsyncSession) -> bool:
        now = datetime.now(UTC)
        async with session.begin():
            done = await cases.withdraw(
                session, case_id, by=actor.removeprefix("cli:")[:32], now=now
            )
            if done:
                audit.record(
                    session,
                    actor=actor,
                    action="typical_case_withdrawn",
                    target=f"typical_case:{case_id}",
                    now=now,
                )
            return done

    if not run_with_session(work):
        typer.echo(f"error: no published case {case_id}", err=True)
        raise typer.Exit(2)


@app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json", help="JSON for scripts")) -> None:
    """Every case, newest first, live and withdrawn."""
    rows = run_with_session(lambda s: cases.listing(s))
    data = [
        {
            "id": r.id,
            "category": r.category,
            "title_zh": r.title_zh,
            "title_en": r.title_en,
            "summary_zh": r.summary_zh,
            "summary_en": r.summary_en,
            "published_at": r.published_at.isoformat(),
            "published_by": r.published_by,
            "withdrawn": r.withdrawn_at is not None,
        }
        for r in rows
    ]
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{len(data)} typical case(s)")
    for column in ("id", "类别", "标题", "发布时间", "状态"):
        table.add_column(column)
    for row in data:
        table.add_row(
            str(row["id"]),
            str(row["category"]),
            str(row["title_zh"]),
            str(row["published_at"])[:19],
            "已撤下" if row["withdrawn"] else "已发布",
        )
    Console().print(table)


@app.command("categories")
def categories_cmd() -> None:
    """The category keys a case may be filed under."""
    for key, label in cases.categories().items():
        typer.echo(f"{key}\t{label['zh']}\t{label['en']}")
