"""The trained model on the held-out split (nlu/test/, never trained on), through the client."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest
import pytest_asyncio

from nlu.client import NluClient, rasa_session
from nlu.evaluation import VALUE_TYPES, Scores, evaluate, load_examples
from nlu.server import RasaSupervisor
from nlu.train import ROOT
from nlu.types import INTENTS
from tests.nlu.conftest import NOW

pytestmark = pytest.mark.slow
session_loop = pytest.mark.asyncio(loop_scope="session")

SPLIT = ROOT / "nlu" / "test"


def test_split_covers_every_intent_and_is_held_out() -> None:
    held_out = load_examples(SPLIT)
    training = {e.text for e in load_examples(ROOT / "nlu" / "data")}
    per_intent = Counter(e.intent for e in held_out)
    assert set(per_intent) == set(INTENTS)
    assert min(per_intent.values()) >= 15
    assert not [e.text for e in held_out if e.text in training]
    per_value = Counter(g.entity for e in held_out for g in e.entities)
    assert all(per_value[t] >= 10 for t in VALUE_TYPES), per_value


def test_training_data_has_40_examples_per_intent() -> None:
    per_intent = Counter(e.intent for e in load_examples(ROOT / "nlu" / "data"))
    assert set(per_intent) == set(INTENTS)
    assert min(per_intent.values()) >= 40, per_intent


# Session-wide: tests of other modules may run between these (they share the Rasa server's
# process), and a module-scoped score would be computed again after them (about a minute).
@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def split_scores(rasa_server: RasaSupervisor) -> Scores:
    async with httpx.AsyncClient(trust_env=False) as http, rasa_session() as session:
        client = NluClient(http, rasa_server, timeout=10.0, cache_size=0, session=session)
        scores = await evaluate(client.parse, load_examples(SPLIT), NOW)
    assert client.status()["engine"] == "rasa"
    return scores


@session_loop
async def test_intent_accuracy_on_held_out_split(split_scores: Scores) -> None:
    assert split_scores.intent_accuracy >= 0.92, split_scores.as_dict()["confusions"]


@session_loop
@pytest.mark.parametrize("entity", VALUE_TYPES)
async def test_value_accuracy_on_held_out_split(split_scores: Scores, entity: str) -> None:
    misses = [m for m in split_scores.misses if any(x.startswith(entity) for x in m["missed"])]
    assert split_scores.value_accuracy(entity) >= 0.95, misses
