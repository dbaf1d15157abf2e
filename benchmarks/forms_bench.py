"""Form understanding: scripted conversations checked on the cases they file.

    .venv/bin/python benchmarks/forms_bench.py [--engine rules|rasa|both] [--only NAME]
                                               [--model models/nlu-….tar.gz] [-v]
                                               [--startup-timeout SECONDS]

Each conversation of ``benchmarks/form_conversations.yml`` is played on the real engine
(``tests/dialogues/engine_double.EngineChat``: the engine, the rule book, an in-memory office)
with rule understanding, or with the app's NLU client over a real Rasa process on the current
model (``--engine rasa``; the model is trained first if it is not cached). A simulated user
answers whatever is asked from the conversation's answers; the conversation is right when the
case it files holds exactly the expected fields and personal fields. Prints, per engine, the
share exactly right and the average number of turns to a filed case, and each wrong case.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlu.types import Parse  # noqa: E402
from tests.dialogues.engine_double import EngineChat  # noqa: E402

DATA = ROOT / "benchmarks" / "form_conversations.yml"
MAX_TURNS = 45
Understand = Callable[[str, datetime], Awaitable[Parse]]


@dataclass
class Outcome:
    name: str
    right: bool
    turns: int
    detail: str = ""


def load() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    return data["defaults"], data["conversations"]


def expected(defaults: dict[str, Any], convo: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    base = defaults[convo["flow"]]
    out = []
    for part in ("fields", "personal"):
        merged = {**base[part], **(convo.get("expect") or {}).get(part, {})}
        out.append({k: v for k, v in merged.items() if v is not None})
    return tuple(out)


async def play(
    defaults: dict[str, Any], convo: dict[str, Any], understand: Understand | None
) -> Outcome:
    """One conversation: its opening, then an answer to each question until a case is filed."""
    chat = EngineChat(locale=convo.get("locale"), understand=understand)
    answers = {**defaults[convo["flow"]]["answers"], **(convo.get("answers") or {})}
    at = {slot: list(said) for slot, said in (convo.get("at") or {}).items()}
    turns = 0
    for said in convo.get("open") or [f"/{convo['flow']}"]:
        await chat.say(said)
        turns += 1
    while not chat.office.cases and turns < MAX_TURNS:
        asked = chat.awaiting
        if asked is None:
            return Outcome(convo["name"], False, turns, f"no question open: {chat.text!r}")
        said = at[asked].pop(0) if at.get(asked) else answers.get(asked)
        if said is None:
            return Outcome(convo["name"], False, turns, f"asked {asked!r}: {chat.text!r}")
        await chat.say(str(said))
        turns += 1
    if not chat.office.cases:
        return Outcome(convo["name"], False, turns, "no case filed")
    case = chat.office.cases[-1]
    fields, personal = expected(defaults, convo)
    got = (dict(case.fields), dict(case.personal))
    if got == (fields, personal) and case.kind == convo["flow"]:
        return Outcome(convo["name"], True, turns)
    diff = {
        k: (got[i].get(k), want.get(k))
        for i, want in enumerate((fields, personal))
        for k in set(got[i]) | set(want)
        if got[i].get(k) != want.get(k)
    }
    return Outcome(convo["name"], False, turns, f"stored vs expected: {diff}")


async def run(understand: Understand | None, only: str | None) -> list[Outcome]:
    defaults, conversations = load()
    chosen = [c for c in conversations if only is None or only in c["name"]]
    return [await play(defaults, c, understand) for c in chosen]


async def with_rasa(only: str | None, model: Path | None, startup: float) -> list[Outcome]:
    """The app's NLU client over one Rasa process on ``model`` (default: the current one,
    trained if it is not cached)."""
    import httpx

    from nlu.client import NluClient, rasa_session
    from nlu.server import RasaSupervisor
    from nlu.train import train

    model = model or train(progress=lambda m: print(m, file=sys.stderr)).model
    sup = RasaSupervisor(
        rasa_python=ROOT / ".venv-rasa/bin/python", model=model, cwd=ROOT, startup_timeout=startup
    )
    try:
        # Inside the try: a Rasa that does not get ready in time is stopped, not left running.
        await sup.start(wait=True)
        async with httpx.AsyncClient(trust_env=False) as http, rasa_session() as session:
            client = NluClient(http, sup, timeout=30.0, cache_size=0, session=session)
            outcomes = await run(client.parse, only)
            if client.status().get("engine") != "rasa":
                raise RuntimeError(f"Rasa did not answer: {client.status()}")
            return outcomes
    finally:
        await sup.stop()


def report(engine: str, outcomes: list[Outcome], verbose: bool) -> None:
    right = [o for o in outcomes if o.right]
    turns = [o.turns for o in right]
    share = 100 * len(right) / max(1, len(outcomes))
    average = sum(turns) / max(1, len(turns))
    print(f"| {engine} | {len(outcomes)} | {len(right)} | {share:.1f} % | {average:.1f} |")
    for o in outcomes:
        if not o.right or verbose:
            print(f"  {'ok ' if o.right else 'BAD'} {o.name} ({o.turns} turns) {o.detail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engine", choices=["rules", "rasa", "both"], default="rules")
    parser.add_argument("--only", help="conversations whose name contains this")
    parser.add_argument("--model", type=Path, help="a trained Rasa model (.tar.gz)")
    parser.add_argument(
        "--startup-timeout", type=float, default=600.0, help="seconds Rasa may take to load"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    print("| understanding | conversations | exactly right | share | turns to a filed case |")
    print("|---|---|---|---|---|")
    if args.engine in ("rules", "both"):
        report("rules", asyncio.run(run(None, args.only)), args.verbose)
    if args.engine in ("rasa", "both"):
        report(
            "Rasa",
            asyncio.run(with_rasa(args.only, args.model, args.startup_timeout)),
            args.verbose,
        )


if __name__ == "__main__":
    main()
