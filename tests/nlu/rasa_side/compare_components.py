"""Run in .venv-rasa: parse texts with nlu.rasa_components, then with Rasa's own methods.

Loads one model, parses every text (stdin, one per line) twice: as served (our components),
then with each component's work handed back to Rasa's class (CountVectorizer.transform,
no joiner so DIET hstacks itself, TensorFlow's graph through tf.function's own call) on the
model loaded again by Rasa's own load (its traced training step). Also reports whether the
two loads hold the same DIET variables.
Prints one JSON document: the parse pairs; per text, whether the featurizers' matrices
were identical; and DIET's raw outputs message by message against the traced graph's for
the batch Rasa builds from the message (both what was served, from the message's matrices,
and DIETForward's answer to that batch): how many messages took the direct path, the
largest difference per float output, and the integer outputs (entity tag ids) that differ.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from typing import Any

import numpy as np
from rasa.core.agent import load_agent
from rasa.nlu.classifiers.diet_classifier import DIET, DIETClassifier
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import (
    CountVectorsFeaturizer,
)
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.utils.log_utils import configure_structlog
from rasa.utils.tensorflow.models import RasaModel
from rasa.utils.train_utils import create_data_generators

from nlu.rasa_components import (
    LeanCountVectorsFeaturizer,
    LeanDIET,
    LeanDIETClassifier,
    SparseFeatureJoiner,
    _text_matrices,
)


def _summary(parse: dict) -> dict:
    return {
        "intent": parse["intent"]["name"],
        "confidence": parse["intent"]["confidence"],
        "ranking": [(r["name"], r["confidence"]) for r in parse.get("intent_ranking", [])],
        "entities": [
            (e["entity"], e["start"], e["end"], e["value"], e.get("confidence_entity"))
            for e in parse["entities"]
        ],
    }


def _same_matrices(featurizers: list, tokenizer: object, text: str) -> bool:
    """Our featurizers' matrices for the text's real tokens equal sklearn's, entry for entry."""
    message = Message(data={TEXT: text})
    tokenizer.process([message])  # type: ignore[attr-defined]
    for featurizer in featurizers:
        tokens = [featurizer._get_processed_message_tokens_by_attribute(message, TEXT)]
        ours = featurizer._create_features(TEXT, tokens)
        theirs = CountVectorsFeaturizer._create_features(featurizer, TEXT, tokens)
        for a, b in zip(ours[0] + ours[1], theirs[0] + theirs[1], strict=True):
            if (a is None) != (b is None):
                return False
            if a is not None and (
                a.shape != b.shape
                or a.dtype != b.dtype
                or a.row.tolist() != b.row.tolist()
                or a.col.tolist() != b.col.tolist()
                or a.data.tolist() != b.data.tolist()
            ):
                return False
    return True


def _compare_outputs(a: Any, b: Any, path: str, report: dict) -> None:
    """Walks two DIET output dicts; records float differences and integer mismatches."""
    if isinstance(a, dict) or isinstance(b, dict):
        if not (isinstance(a, dict) and isinstance(b, dict)) or set(a) != set(b):
            report["structure"].append(path)
            return
        for key in a:
            _compare_outputs(a[key], b[key], f"{path}/{key}", report)
        return
    x, y = np.asarray(a), np.asarray(b)
    if x.shape != y.shape or x.dtype != y.dtype:
        report["structure"].append(f"{path}: {x.shape} {x.dtype} vs {y.shape} {y.dtype}")
    elif x.dtype.kind in "iub":
        if not np.array_equal(x, y):
            report["integers_differ"].append(path)
    elif x.size:
        worst = float(np.max(np.abs(x.astype(np.float64) - y)))
        report["max_difference"][path] = max(report["max_difference"].get(path, 0.0), worst)


def _diet(nodes: Any) -> Any:
    return next(n._component.model for n in nodes if isinstance(n._component, LeanDIETClassifier))  # noqa: SLF001


def _same_weights(ours: list, theirs: list) -> dict:
    """Every variable of the two loaded models: same names, same values."""
    return {
        "count": len(ours),
        "names_equal": [w.name for w in ours] == [w.name for w in theirs],
        "values_differ": [
            a.name
            for a, b in zip(ours, theirs, strict=False)
            if not np.array_equal(a.numpy(), b.numpy())
        ],
    }


def _graph_answer(component: LeanDIETClassifier, message: Message) -> Any:
    """What the traced graph returns for the message, batched the way Rasa batches it,
    and what DIETForward returns from that same batch."""
    model_data = component._create_model_data([message], training=False)  # noqa: SLF001
    if model_data.is_empty():
        return None, None
    generator, _ = create_data_generators(model_data, batch_sizes=1, epochs=1, shuffle=False)
    batch = next(iter(generator))[0]
    model = component.model
    return model._graph(batch)(batch), model._forward.predict(batch)  # noqa: SLF001


def _diet_outputs(records: list) -> dict:
    """Each DIET answer as served against the graph's, and DIETForward's answer to Rasa's
    batch against the graph's too."""
    report: dict = {
        "answered": 0,
        "numpy_answered": 0,
        "structure": [],
        "integers_differ": [],
        "max_difference": {},
    }
    for served, graph, from_batch in records:
        if served is None:
            continue
        report["answered"] += 1
        report["numpy_answered"] += from_batch is not None
        _compare_outputs(served, graph, "", report)
        _compare_outputs(from_batch, graph, "", report)
    return report


async def main(model: str) -> None:
    configure_structlog(logging.WARNING)
    texts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    agent = await load_agent(model_path=model)
    if not agent.is_ready():  # load_agent logs a failed load and returns an empty agent
        raise SystemExit(f"could not load the model {model}")
    records: list = []
    served = LeanDIETClassifier._predict
    predict_fast: list[bool] = []

    def recording(self: LeanDIETClassifier, message: Message) -> Any:
        fast = self.model._forward is not None and _text_matrices(message, []) is not None  # noqa: SLF001
        predict_fast.append(fast)
        answer = served(self, message)
        records.append(
            (answer, *_graph_answer(self, message)) if answer is not None else (None,) * 3
        )
        return answer

    LeanDIETClassifier._predict = recording  # type: ignore[method-assign]
    ours = [_summary(await agent.parse_message(t)) for t in texts]
    LeanDIETClassifier._predict = served  # type: ignore[method-assign]
    diet_outputs = _diet_outputs(records)
    diet_outputs["messages"] = len(records)
    diet_outputs["fast_path"] = sum(predict_fast)

    nodes = agent.processor.graph_runner._instantiated_nodes.values()  # noqa: SLF001
    components = [n._component for n in nodes if n._component is not None]  # noqa: SLF001
    featurizers = [c for c in components if isinstance(c, LeanCountVectorsFeaturizer)]
    tokenizer = next(c for c in components if isinstance(c, Tokenizer))
    kinds = sorted({type(c).__name__ for c in components})
    same_matrices = [_same_matrices(featurizers, tokenizer, t) for t in texts]

    # Rasa's own methods back in place, and the model loaded again by Rasa's own load
    # (a traced training step, where LeanDIET.load runs one eagerly).
    LeanDIET._rasa_predict = DIET._rasa_predict  # type: ignore[method-assign]
    LeanDIETClassifier._predict = DIETClassifier._predict  # type: ignore[method-assign]
    LeanDIET.load = classmethod(RasaModel.load.__func__)  # type: ignore[assignment,attr-defined]
    LeanCountVectorsFeaturizer._create_features = CountVectorsFeaturizer._create_features  # type: ignore[method-assign]
    stock = await load_agent(model_path=model)
    stock_nodes = stock.processor.graph_runner._instantiated_nodes.values()  # noqa: SLF001
    for node in stock_nodes:  # a graph node holds the method it runs, looked up when built
        if isinstance(node._component, SparseFeatureJoiner):  # noqa: SLF001
            node._fn = lambda component, messages: messages  # noqa: SLF001
    theirs = [_summary(await stock.parse_message(t)) for t in texts]
    weights = _same_weights(_diet(nodes).weights, _diet(stock_nodes).weights)
    print(
        json.dumps(
            {
                "components": kinds,
                "ours": ours,
                "theirs": theirs,
                "same_matrices": same_matrices,
                "diet_outputs": diet_outputs,
                "weights": weights,
            }
        )
    )


asyncio.run(main(sys.argv[1]))
