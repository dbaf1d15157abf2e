"""``weiquan nlu train|parse|eval``: the Rasa model from the command line.

Registered by ``app.add_typer(nlu.app, name="nlu")``. Rasa runs in .venv-rasa; these
commands drive it through nlu.train (subprocess) and nlu.server / nlu.client (HTTP).
"""

from __future__ import annotations

import asyncio
import io
import json
import subprocess  # noqa: S404 - runs our own Rasa executable
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from bot.settings import NluSettings, Settings
from nlu.client import NluClient, StaticEndpoint, rasa_session
from nlu.evaluation import VALUE_TYPES, evaluate, load_examples
from nlu.replicas import RasaReplicas
from nlu.runtime import open_nlu
from nlu.server import RasaSupervisor
from nlu.train import ROOT, TrainingError, rasa_env, rasa_executable, train

# What config.yml's RegexEntityExtractor is for (nlu/data/regexes.yml); its scores on the
# other types are zero by design and would only clutter the summary.
REGEX_TYPES = frozenset({"cert_no", "case_id", "phone", "id_number"})

app = typer.Typer(help="Train, run and evaluate the Rasa NLU model.", no_args_is_help=True)


def _say(message: str) -> None:
    typer.echo(message, err=True)


def _train(settings: NluSettings, force: bool = False) -> Path:
    try:
        result = train(
            model_dir=settings.model_dir,
            rasa_python=settings.rasa_python,
            force=force,
            progress=_say,
        )
    except TrainingError as exc:
        _say(str(exc))
        raise typer.Exit(1) from exc
    if not result.trained:
        _say(f"model is up to date ({result.fingerprint})")
    return result.model


@app.command("train")
def train_cmd(
    force: bool = typer.Option(False, "--force", help="Retrain even if the inputs are unchanged"),
) -> None:
    """Train the model unless one for the current data, config and dictionary exists."""
    typer.echo(_train(Settings().nlu, force))


def _now(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def _parse_stream(settings: Settings, now_arg: str | None, wait: float) -> None:
    # Lines are parsed one at a time, so a second replica would only cost memory and start-up.
    nlu = settings.nlu.model_copy(update={"replicas": 1})
    log_file = settings.data_dir / "log" / "rasa.log"
    async with httpx.AsyncClient(trust_env=False) as http:
        if not nlu.url and nlu.manage:
            try:
                _train(nlu)
            except typer.Exit:
                _say("no Rasa model: answering with the rule fallback")
                nlu = nlu.model_copy(update={"manage": False})
        async with open_nlu(nlu, http, log_file=log_file, train_missing=False) as client:
            if not nlu.url and nlu.manage:
                _say("starting Rasa…")
                sup = client.endpoint
                if isinstance(sup, RasaReplicas) and not await sup.wait_ready(wait):
                    _say(f"Rasa not ready after {wait:.0f} s; using the rule fallback")
            # Bad bytes become U+FFFD and only "\n" ends a line: a stray "\r" is content.
            stdin, stdout = sys.stdin, sys.stdout
            if isinstance(stdin, io.TextIOWrapper):
                stdin.reconfigure(encoding="utf-8", errors="replace", newline="\n")
            if isinstance(stdout, io.TextIOWrapper):
                stdout.reconfigure(encoding="utf-8")
            for line in stdin:
                text = line.rstrip("\r\n")
                parse = await client.parse(text, _now(now_arg))
                stdout.write(json.dumps(parse.as_dict(), ensure_ascii=False) + "\n")
                stdout.flush()


@app.command("parse")
def parse_cmd(
    now: str | None = typer.Option(None, help="Message time (ISO 8601) for relative dates"),
    wait: float = typer.Option(120.0, help="Seconds to wait for a self-started Rasa"),
) -> None:
    """UTF-8 lines on stdin → one JSON object per line on stdout.

    Uses WEIQUAN_NLU_URL when set, else starts Rasa itself (training first if needed).
    """
    asyncio.run(_parse_stream(Settings(), now, wait))


def _rasa_test(settings: NluSettings, model: Path, split: Path, out: Path) -> None:
    cmd = [
        *rasa_executable(settings.rasa_python),
        "test",
        "nlu",
        "--nlu",
        str(split),
        "--model",
        str(model),
        "--out",
        str(out),
    ]
    _say("running rasa test nlu…")
    done = subprocess.run(  # noqa: S603 - fixed argument list
        cmd,
        cwd=ROOT,
        env=rasa_env(settings.model_dir / ".rasa-cache"),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        _say(done.stdout[-3000:] + done.stderr[-3000:])
        raise typer.Exit(1)


def _rasa_summary(out: Path) -> dict[str, Any]:
    intents = json.loads((out / "intent_report.json").read_text(encoding="utf-8"))
    summary: dict[str, Any] = {
        "intent_accuracy": round(intents["accuracy"], 4),
        "intent_macro_f1": round(intents["macro avg"]["f1-score"], 4),
        "entity_f1": {},
    }
    for report in sorted(out.glob("*Extractor_report.json")) + sorted(
        out.glob("*DIETClassifier_report.json")  # Rasa's or nlu.rasa_components' LeanDIET…
    ):
        data = json.loads(report.read_text(encoding="utf-8"))
        extractor = report.name.removesuffix("_report.json")
        summary["entity_f1"][extractor] = {
            name: round(row["f1-score"], 4)
            for name, row in data.items()
            if isinstance(row, dict)
            and row.get("support")
            and name != "no_entity"
            and (extractor != "RegexEntityExtractor" or name in REGEX_TYPES)
        }
    return summary


async def _value_scores(settings: NluSettings, model: Path, split: Path) -> dict[str, Any]:
    """Score the split through the app's client: on WEIQUAN_NLU_URL if set, else a new server."""
    examples = load_examples(split)
    async with httpx.AsyncClient(trust_env=False) as http:
        if settings.url:
            endpoint = StaticEndpoint(settings.url, settings.token)
            client = NluClient(http, endpoint, timeout=10.0, cache_size=0)
            return (await evaluate(client.parse, examples, datetime.now(UTC))).as_dict()
        sup = RasaSupervisor(rasa_python=settings.rasa_python, model=model, cwd=ROOT)
        await sup.start(wait=True)
        try:
            async with rasa_session() as session:
                client = NluClient(http, sup, timeout=10.0, cache_size=0, session=session)
                scores = await evaluate(client.parse, examples, datetime.now(UTC))
        finally:
            await sup.stop()
    return scores.as_dict()


@app.command("eval")
def eval_cmd(
    split: Annotated[
        Path | None, typer.Option(help="Held-out examples (default nlu/test/)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Where reports go (default reports/nlu/)")
    ] = None,
) -> None:
    """``rasa test nlu`` on the held-out split plus value accuracy through the app's client."""
    settings = Settings().nlu
    split = split or ROOT / "nlu/test"
    out = out or Path("reports/nlu")
    model = _train(settings)
    out.mkdir(parents=True, exist_ok=True)
    _rasa_test(settings, model, split, out.resolve())
    summary = _rasa_summary(out)
    summary["model"] = model.name
    summary["app"] = asyncio.run(_value_scores(settings, model, split))
    (out / "summary.json").write_text(
        json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    app_scores = summary["app"]
    typer.echo(f"intent accuracy (Rasa)   {summary['intent_accuracy']:.3f}")
    typer.echo(f"intent macro F1 (Rasa)   {summary['intent_macro_f1']:.3f}")
    typer.echo(f"intent accuracy (client) {app_scores['intent_accuracy']:.3f}")
    for name in VALUE_TYPES:
        row = app_scores["value_accuracy"].get(name)
        if row:
            typer.echo(f"value accuracy {name:<9} {row['accuracy']:.3f} (n={row['n']})")
    for extractor, scores in summary["entity_f1"].items():
        typer.echo(
            f"entity F1 {extractor}: " + ", ".join(f"{k} {v:.2f}" for k, v in scores.items())
        )
    typer.echo(f"reports in {out}/ (intent_confusion_matrix.png, summary.json)")
