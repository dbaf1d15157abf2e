"""``weiquan cases``: list and show cases, for people (tables) and scripts (``--json``).

``show`` prints personal data, so it leaves an audit row naming the OS user (or ``--as``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases import case_as_dict, get_case, list_cases
from bot.db.engine import engine_from_settings, make_sessionmaker
from bot.settings import Settings
from bot.staff import audit, labels

app = typer.Typer(help="Cases (complaints TS…, reports JB…).", no_args_is_help=True)
T = TypeVar("T")


def run_with_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def runner() -> T:
        engine = engine_from_settings(Settings())
        try:
            async with make_sessionmaker(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(runner())


@app.command("list")
def list_cmd(
    kind: str | None = typer.Option(None, help="complaint or report"),
    status: str | None = typer.Option(None, help="e.g. submitted"),
    limit: int = typer.Option(50, min=1, max=10000),
    as_json: bool = typer.Option(False, "--json", help="JSON lines for scripts"),
) -> None:
    """The newest cases first."""
    cases = run_with_session(lambda s: list_cases(s, kind=kind, status=status, limit=limit))
    rows = [case_as_dict(c) for c in cases]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{len(rows)} case(s)")
    for column in ("编号", "类型", "状态", "提交时间", "受理截止", "平台", "商家/对象", "品类"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["case_no"],
            labels.kind(row["kind"]),
            labels.status(row["status"]),
            row["submitted_at"][:19],
            row["decision_due"] or "",
            row["platform"] or "",
            labels.target(row["kind"], row["merchant"], row["fields"]),
            labels.category(row["kind"], row["fields"]),
        )
    Console().print(table)


async def shown(session: AsyncSession, case_no: str, actor: str) -> dict[str, Any] | None:
    """The case as ``show`` prints it; its personal fields are audited in the same commit."""
    async with session.begin():
        case = await get_case(session, case_no)
        if case is None:
            return None
        data = case_as_dict(case, with_details=True)
        if data["personal"]:
            audit.record(
                session,
                actor=actor,
                action="cli_case_show",
                case_no=case.case_no,
                conversation_id=case.conversation_id,
                detail={"fields": sorted(data["personal"])},
            )
    return data


@app.command("show")
def show_cmd(
    case_no: str = typer.Argument(..., help="e.g. TS20261127000042"),
    as_json: bool = typer.Option(False, "--json", help="JSON for scripts"),
    as_name: str | None = typer.Option(
        None, "--as", help="who reads this, for the audit log (default: OS user)"
    ),
) -> None:
    """Every field of one case, its evidence and its timeline (personal data is audited)."""
    data = run_with_session(lambda s: shown(s, case_no, audit.os_actor(as_name)))
    if data is None:
        typer.echo(f"没有找到案件 {case_no}", err=True)
        raise typer.Exit(code=1)
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    console = Console()
    table = Table(
        title=f"{data['case_no']}（{labels.kind(data['kind'])} · {labels.status(data['status'])}）",
        show_header=False,
    )
    table.add_column("项目", style="bold")
    table.add_column("内容")
    table.add_row("提交时间", data["submitted_at"])
    table.add_row("受理截止", data["decision_due"] or "")
    table.add_row("渠道", f"{labels.channel(data['channel'])} / {data['sender_id']}")
    for slot, value in {**data["fields"], **data["personal"]}.items():
        table.add_row(
            labels.field_name(data["kind"], slot), labels.field_value(data["kind"], slot, value)
        )
    table.add_row("证据", f"{len(data['evidence'])} 件")
    console.print(table)
    for item in data["evidence"]:
        console.print(f"  · {item['content_type']} {item['size']} B sha256={item['sha256']}")
    console.print("[bold]时间线[/bold]")
    for event in data["events"]:
        console.print(
            f"  · {event['at'][:19]} {labels.event(event['kind'])} ({labels.actor(event['actor'])}) "
            f"{event['detail']}"
        )
