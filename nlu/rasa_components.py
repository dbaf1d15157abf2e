"""Rasa pipeline components of our own: Rasa's results for less CPU per parse.

A served parse spends most of its time in Python around DIET's small TensorFlow graph, not
in the graph (py-spy on one Rasa process: the graph's own kernels ~8 % of a parse; joining
the featurizers' sparse matrices with scipy's ``hstack`` ~20 %; ``tf.function``'s per-call
argument handling and output packing ~25 %; ``CountVectorizer.transform`` ~14 %). These
components remove that overhead and nothing else: the model sees the same numbers and
returns the same parses (``tests/nlu/test_rasa_components.py`` compares them with Rasa's
own on the held-out split). Figures: benchmarks/RESULTS.md, "NLU (Rasa)".

Rasa (Python 3.10, ``.venv-rasa``) imports this module by the path in ``config.yml``, with
the project root on ``sys.path`` (``nlu.train.rasa_env``): it imports nothing from the app.
Written against Rasa 3.6.21 / TensorFlow 2.12 as pinned in ``nlu/constraints-rasa.txt``;
``GraphCall`` uses a private TensorFlow attribute (``ConcreteFunction._inference_function``),
so re-run that test when the pins move.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Dict, List, Optional, Text, Tuple, Type

import numpy as np
import scipy.sparse
import tensorflow as tf
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.diet_classifier import DIET, DIETClassifier
from rasa.nlu.constants import DENSE_FEATURIZABLE_ATTRIBUTES
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import (
    CountVectorsFeaturizer,
)
from rasa.shared.constants import DIAGNOSTIC_DATA
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.utils.tensorflow.models import RasaModel
from tensorflow.python.eager import context


def join_sparse(matrices: List[scipy.sparse.spmatrix]) -> scipy.sparse.coo_matrix:
    """``scipy.sparse.hstack`` of matrices with the same rows, in one pass (hstack goes
    through ``bmat`` and re-validates every block: ~0.25 ms a call, several per parse)."""
    blocks = [m.tocoo() for m in matrices]
    offsets = np.cumsum([0] + [b.shape[1] for b in blocks])
    return scipy.sparse.coo_matrix(
        (
            np.concatenate([b.data for b in blocks]),
            (
                np.concatenate([b.row for b in blocks]),
                np.concatenate([b.col + off for b, off in zip(blocks, offsets[:-1], strict=True)]),
            ),
        ),
        shape=(blocks[0].shape[0], int(offsets[-1])),
    )


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SparseFeatureJoiner(GraphComponent):
    """Joins each message's sparse features of one attribute and type into one matrix.

    DIET joins them itself on every parse (``Message.get_sparse_features``), in the order
    the featurizers added them; doing it here, once, in that same order, gives DIET the
    identical input with a single matrix to copy. Goes after the last sparse featurizer,
    before a DIET that reads every featurizer (its default; a ``featurizers`` list would not
    match the joined feature's origin).
    """

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SparseFeatureJoiner:
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            groups: Dict[Tuple[Text, Text], List[Features]] = {}
            for feature in message.features:
                if feature.is_sparse():
                    groups.setdefault((feature.attribute, feature.type), []).append(feature)
            for (attribute, kind), parts in groups.items():
                if len(parts) < 2:
                    continue
                origins: List[Text] = []
                for part in parts:
                    origins += part.origin if isinstance(part.origin, list) else [part.origin]
                joined = Features(
                    join_sparse([part.features for part in parts]), kind, attribute, origins
                )
                joined_ids = {id(part) for part in parts}
                message.features = [f for f in message.features if id(f) not in joined_ids]
                message.features.append(joined)
        return messages


class LeanDIET(DIET):
    """DIET whose prediction calls its traced graph directly (see ``GraphCall``)."""

    _graph_call: Optional[GraphCall] = None

    def _rasa_predict(self, batch_in: Tuple[np.ndarray, ...]) -> Dict[Text, Any]:
        call = self._graph_call
        if call is None:
            if not self.prepared_for_prediction:
                self.prepare_for_predict()
                self.prepared_for_prediction = True
            if self._tf_predict_step is None:
                self._tf_predict_step = tf.function(
                    self.predict_step, input_signature=self._dynamic_signature(batch_in)
                )
            call = GraphCall(self._tf_predict_step.get_concrete_function())
            # Set once (Keras tracks attribute writes, so not per call as Rasa does).
            self._training = False
            self._graph_call = call
        outputs = call(batch_in)
        if DIAGNOSTIC_DATA in outputs:
            outputs[DIAGNOSTIC_DATA] = self._empty_lists_to_none_in_dict(outputs[DIAGNOSTIC_DATA])
        return outputs


class GraphCall:
    """A traced TensorFlow function called with flat tensors, answering in plain Python.

    What ``tf.function.__call__`` plus Keras' ``sync_to_numpy_or_python_type`` return, without
    their per-call work: re-deriving the input signature of ~20 arrays, packing the outputs
    into tracked dict wrappers, then mapping them to NumPy. Outputs are rebuilt from the
    traced structure (dicts, lists, tuples, None) in ``tf.nest``'s order (dict keys sorted);
    0-d results become Python scalars, as Keras does. Uses TensorFlow 2.12's private
    ``ConcreteFunction._inference_function`` (pinned in nlu/constraints-rasa.txt).
    """

    def __init__(self, concrete: Any) -> None:
        self._function = concrete._inference_function
        self._captured = list(concrete.captured_inputs)
        self._structure = concrete.structured_outputs

    def __call__(self, batch_in: Tuple[np.ndarray, ...]) -> Any:
        inputs = [tf.convert_to_tensor(array) for array in batch_in]
        flat = self._function.call(context.context(), inputs + self._captured)
        return _rebuild(self._structure, iter(flat))


def _rebuild(template: Any, values: Iterator[Any]) -> Any:
    if template is None:
        return None
    if isinstance(template, Mapping):
        built = {key: _rebuild(template[key], values) for key in sorted(template)}
        return {key: built[key] for key in template}
    if isinstance(template, (list, tuple)):
        items = [_rebuild(item, values) for item in template]
        return tuple(items) if isinstance(template, tuple) else items
    value = next(values).numpy()
    return value.item() if value.ndim == 0 else value


@DefaultV1Recipe.register(
    [
        DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER,
        DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR,
    ],
    is_trainable=True,
)
class LeanDIETClassifier(DIETClassifier):
    """Rasa's DIETClassifier (same options, training and weights) predicting via LeanDIET."""

    @staticmethod
    def model_class() -> Type[RasaModel]:
        return LeanDIET


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class LeanCountVectorsFeaturizer(CountVectorsFeaturizer):
    """Rasa's CountVectorsFeaturizer (same options, training and vocabulary) with the
    per-message counting done directly on the fitted vocabulary instead of through
    ``CountVectorizer.transform`` (whose validation and CSR round trips dominate for one
    short message). Same matrices: counts per token, columns sorted, sklearn's dtype."""

    def _create_features(
        self, attribute: Text, all_tokens: List[List[Text]]
    ) -> Tuple[List[Optional[scipy.sparse.spmatrix]], List[Optional[scipy.sparse.spmatrix]]]:
        vectorizer = self.vectorizers.get(attribute) if self.vectorizers else None
        if vectorizer is None or vectorizer.binary:
            return super()._create_features(attribute, all_tokens)
        analyze = vectorizer.build_analyzer()
        sequences: List[Optional[scipy.sparse.spmatrix]] = []
        sentences: List[Optional[scipy.sparse.spmatrix]] = []
        for tokens in all_tokens:
            if not tokens:
                sequences.append(None)
                sentences.append(None)
                continue
            sequences.append(_count(vectorizer, analyze, tokens))
            sentences.append(
                _count(vectorizer, analyze, [" ".join(tokens)])
                if attribute in DENSE_FEATURIZABLE_ATTRIBUTES
                else None
            )
        return sequences, sentences


def _count(vectorizer: Any, analyze: Any, documents: List[Text]) -> scipy.sparse.coo_matrix:
    """What ``vectorizer.transform(documents).sorted_indices().tocoo()`` returns."""
    vocabulary: Dict[Text, int] = vectorizer.vocabulary_
    rows: List[int] = []
    columns: List[int] = []
    counts: List[int] = []
    for row, document in enumerate(documents):
        found: Dict[int, int] = {}
        for term in analyze(document):
            column = vocabulary.get(term)
            if column is not None:
                found[column] = found.get(column, 0) + 1
        for column in sorted(found):
            rows.append(row)
            columns.append(column)
            counts.append(found[column])
    return scipy.sparse.coo_matrix(
        (
            np.asarray(counts, dtype=vectorizer.dtype),
            (np.asarray(rows, dtype=np.int32), np.asarray(columns, dtype=np.int32)),
        ),
        shape=(len(documents), len(vocabulary)),
    )
