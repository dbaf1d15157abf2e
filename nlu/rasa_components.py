"""Rasa pipeline components of our own: Rasa's results for less CPU per parse.

A served parse spends most of its CPU outside the arithmetic it needs. In one Rasa process
(session-3 py-spy; session-4 CPU clocks): DIET's TensorFlow graph ~65 % of a parse's CPU,
mostly scheduling a few hundred small kernels over TensorFlow's threads (its CRF decoder is
a Keras RNN, a while loop); joining the featurizers' sparse matrices with scipy's ``hstack``
and ``CountVectorizer.transform`` much of the rest. These components remove that overhead
and nothing else: the model sees the same numbers and returns the same parses
(``tests/nlu/test_rasa_components.py`` compares them with Rasa's own on the held-out split).
Figures: benchmarks/RESULTS.md, "NLU (Rasa)".

Rasa (Python 3.10, ``.venv-rasa``) imports this module by the path in ``config.yml``, with
the project root on ``sys.path`` (``nlu.train.rasa_env``): it imports nothing from the app.
Written against Rasa 3.6.21 / TensorFlow 2.12 as pinned in ``nlu/constraints-rasa.txt``;
``DIETForward`` reads DIET's private layer attributes and ``GraphCall`` a private TensorFlow
attribute (``ConcreteFunction._inference_function``), so re-run that test when the pins
move.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Dict, List, Optional, Text, Tuple, Type

import numpy as np
import scipy.sparse
import scipy.special
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
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.utils.tensorflow.constants import (
    COSINE,
    ENTITY_RECOGNITION,
    FEATURIZERS,
    INTENT_CLASSIFICATION,
    KEY_RELATIVE_ATTENTION,
    LEARNING_RATE,
    MODEL_CONFIDENCE,
    NUM_TRANSFORMER_LAYERS,
    RUN_EAGERLY,
    SENTENCE,
    SEQUENCE,
    SEQUENCE_LENGTH,
    SIMILARITY_TYPE,
    SOFTMAX,
    UNIDIRECTIONAL_ENCODER,
    VALUE_RELATIVE_ATTENTION,
)
from rasa.utils.tensorflow.data_generator import RasaBatchDataGenerator
from rasa.utils.tensorflow.model_data import RasaModelData
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
    """DIET predicting one message in NumPy (``DIETForward``) where its options allow,
    otherwise by calling its traced graph directly (``GraphCall``), traced only when first
    needed; and loaded without tracing a training step (``load``)."""

    _graph_call: Optional[GraphCall] = None
    _forward: Optional[DIETForward] = None
    _forward_checked = False

    @classmethod
    def load(
        cls,
        model_file_name: Text,
        model_data_example: RasaModelData,
        predict_data_example: Optional[RasaModelData] = None,
        finetune_mode: bool = False,
        *args: Any,
        **kwargs: Any,
    ) -> RasaModel:
        """``RasaModel.load`` with its one weight-building training step run eagerly.

        Rasa builds the variables by fitting one example with a traced training step, then
        overwrites them from the checkpoint; tracing DIET's training graph is most of a
        Rasa process's start (~15 s of ~30 s on two cores). One eager step creates the same
        variables (the checkpoint restores them by object path) in a fraction of that.
        Fine-tuning keeps Rasa's own load.
        """
        if finetune_mode:
            return super().load(
                model_file_name,
                model_data_example,
                predict_data_example,
                finetune_mode,
                *args,
                **kwargs,
            )
        model = cls(*args, **kwargs)
        config = kwargs.get("config", {})
        model.compile(
            optimizer=tf.keras.optimizers.Adam(config.get(LEARNING_RATE, 0.001)),
            run_eagerly=True,
        )
        model.fit(RasaBatchDataGenerator(model_data_example, batch_size=1), verbose=False)
        model.run_eagerly = config.get(RUN_EAGERLY)  # as Rasa's load leaves it
        model.load_weights(model_file_name)
        if predict_data_example:
            model.run_inference(predict_data_example)
        return model

    def _rasa_predict(self, batch_in: Tuple[np.ndarray, ...]) -> Dict[Text, Any]:
        if not self._forward_checked:
            # Set once (Keras tracks attribute writes, so not per call as Rasa does).
            self._training = False
            if not self.prepared_for_prediction:
                self.prepare_for_predict()
                self.prepared_for_prediction = True
            if DIETForward.supports(self):
                self._forward = DIETForward(self)
            self._forward_checked = True
        outputs = self._forward.predict(batch_in) if self._forward is not None else None
        if outputs is None:
            outputs = self._graph(batch_in)(batch_in)
        if DIAGNOSTIC_DATA in outputs:
            outputs[DIAGNOSTIC_DATA] = self._empty_lists_to_none_in_dict(outputs[DIAGNOSTIC_DATA])
        return outputs

    def _graph(self, batch_in: Tuple[np.ndarray, ...]) -> GraphCall:
        if self._graph_call is None:
            if self._tf_predict_step is None:
                self._tf_predict_step = tf.function(
                    self.predict_step, input_signature=self._dynamic_signature(batch_in)
                )
            self._graph_call = GraphCall(self._tf_predict_step.get_concrete_function())
        return self._graph_call


_SQRT_HALF = np.float32(np.sqrt(0.5))


def _gelu(x: np.ndarray) -> np.ndarray:
    """``tf.nn.gelu`` (exact, erf-based), in float32."""
    return x * (np.float32(0.5) * (np.float32(1.0) + scipy.special.erf(x * _SQRT_HALF)))


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Keras ``LayerNormalization(epsilon=1e-6)`` over the last axis."""
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(variance + np.float32(1e-6)) * gamma + beta


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


class _Dense:
    """A Keras Dense / Rasa RandomlyConnectedDense at inference: the kernel as trained
    (masked where Rasa masks it), the bias if any, the activation if gelu."""

    def __init__(self, layer: Any, gelu: bool = False) -> None:
        kernel = layer.kernel.numpy()
        mask = getattr(layer, "kernel_mask", None)
        if mask is not None and getattr(layer, "density", 1.0) < 1.0:
            kernel = kernel * mask.numpy()
        self.kernel = np.ascontiguousarray(kernel, dtype=np.float32)
        self.bias = None if layer.bias is None else layer.bias.numpy().astype(np.float32)
        self.gelu = gelu

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = x @ self.kernel
        if self.bias is not None:
            y += self.bias
        return _gelu(y) if self.gelu else y


class DIETForward:
    """DIET's prediction for one message, in NumPy on the calling thread.

    The same arithmetic as ``DIET.batch_predict`` under the options this project trains
    with (sparse text features only, a bidirectional transformer without relative
    attention, softmax confidences, one entity CRF), read from the trained layers'
    weights. For one short message TensorFlow spends most of its time scheduling a few
    hundred small kernels (the CRF is a Keras RNN: a while loop) across its thread pools;
    here the same work is ~60 NumPy calls. ``supports`` says whether a model's options are
    these. ``predict_features`` takes one message's sequence and sentence matrices
    (``LeanDIETClassifier._predict``); ``predict`` takes the batch ``_rasa_predict`` gets,
    or returns None for one it does not handle (more than one message), which then goes to
    the graph. Both return what the traced graph returns.
    """

    def __init__(self, model: DIET) -> None:
        sequence_layer = model._tf_layers[f"sequence_layer.{TEXT}"]._tf_layers
        combining = sequence_layer["feature_combining"]._tf_layers
        self._to_dense = {
            kind: _Dense(combining[f"sparse_dense.{kind}"]._tf_layers["sparse_to_dense"])
            for kind in (SEQUENCE, SENTENCE)
        }
        self._ffnn = [
            _Dense(layer, gelu=True)
            for layer in sequence_layer["ffnn"]._ffn_layers
            if isinstance(layer, tf.keras.layers.Dense)
        ]
        encoder = sequence_layer["transformer"]
        self._units = encoder.units
        self._embedding = _Dense(encoder._embedding)
        self._blocks = []
        for block in encoder._enc_layers:
            attention = block._mha
            ln2, hidden, _, out, _ = block._ffn_layers
            projections = [
                _Dense(attention._query_dense_layer),
                _Dense(attention._key_dense_layer),
                _Dense(attention._value_dense_layer),
            ]
            self._blocks.append(
                (
                    (block._layer_norm.gamma.numpy(), block._layer_norm.beta.numpy()),
                    attention.num_heads,
                    # Query, key and value in one product (Rasa's have no bias).
                    np.concatenate([p.kernel for p in projections], axis=1),
                    _Dense(attention._output_dense_layer),
                    (ln2.gamma.numpy(), ln2.beta.numpy()),
                    _Dense(hidden, gelu=True),
                    _Dense(out),
                )
            )
        self._final_norm = (encoder._layer_norm.gamma.numpy(), encoder._layer_norm.beta.numpy())
        self._angles = encoder._angles.astype(np.float32)
        self._positions = np.zeros((0, self._units), dtype=np.float32)
        self._embed_text = _Dense(model._tf_layers[f"embed.{TEXT}"]._dense)
        self._labels = np.asarray(model.all_labels_embed, dtype=np.float32)
        self._cosine = model.config[SIMILARITY_TYPE] == COSINE
        self._signature = [
            (sub_key, signature.is_sparse)
            for sub_key, signatures in model.predict_data_signature[TEXT].items()
            for signature in signatures
        ]
        self._entities = model.config[ENTITY_RECOGNITION] and bool(model._entity_tag_specs)
        if self._entities:
            name = model._entity_tag_specs[0].tag_name
            self._entity_logits = _Dense(model._tf_layers[f"embed.{name}.logits"]._dense)
            self._transitions = model._tf_layers[f"crf.{name}"].transition_params.numpy()
            self._entity_name = name

    @staticmethod
    def supports(model: DIET) -> bool:
        config = model.config
        signature = model.predict_data_signature.get(TEXT, {})
        kinds = {
            sub_key: [(s.is_sparse, s.number_of_dimensions) for s in signatures]
            for sub_key, signatures in signature.items()
        }
        layers = config[NUM_TRANSFORMER_LAYERS]
        return (
            set(model.predict_data_signature) == {TEXT}
            and kinds.get(SEQUENCE) == [(True, 3)]
            and kinds.get(SENTENCE) == [(True, 3)]
            and kinds.get(SEQUENCE_LENGTH) == [(False, 1)]
            and set(kinds) <= {SEQUENCE, SENTENCE, SEQUENCE_LENGTH, "mask"}
            and (layers.get(TEXT) if isinstance(layers, dict) else layers) > 0
            and not config[KEY_RELATIVE_ATTENTION]
            and not config[VALUE_RELATIVE_ATTENTION]
            and not config[UNIDIRECTIONAL_ENCODER]
            and config[MODEL_CONFIDENCE] == SOFTMAX
            and config[INTENT_CLASSIFICATION]
            and len(model._entity_tag_specs) <= 1
            and all(spec.num_tags > 0 for spec in model._entity_tag_specs)
            and not any(
                projection.use_bias
                for block in model._tf_layers[f"sequence_layer.{TEXT}"]
                ._tf_layers["transformer"]
                ._enc_layers
                for projection in (
                    block._mha._query_dense_layer,
                    block._mha._key_dense_layer,
                    block._mha._value_dense_layer,
                )
            )
            and "unify_dims_before_seq_sent_concat.sequence"
            not in model._tf_layers[f"sequence_layer.{TEXT}"]
            ._tf_layers["feature_combining"]
            ._tf_layers
        )

    def predict(self, batch_in: Tuple[np.ndarray, ...]) -> Optional[Dict[Text, Any]]:
        """What the traced graph returns for a ``_rasa_predict`` batch of one message."""
        features: Dict[Text, Any] = {}
        index = 0
        for sub_key, is_sparse in self._signature:
            if is_sparse:
                features[sub_key] = batch_in[index : index + 3]
                index += 3
            else:
                features[sub_key] = batch_in[index]
                index += 1
        lengths = features[SEQUENCE_LENGTH]
        if len(lengths) != 1:
            return None
        (seq_at, seq_values, _), (sent_at, sent_values, _) = features[SEQUENCE], features[SENTENCE]
        return self._predict(
            int(lengths[0]),
            (seq_at[:, 1], seq_at[:, 2], seq_values),
            (sent_at[:, 2], sent_values),
        )

    def predict_features(
        self, sequence: scipy.sparse.coo_matrix, sentence: scipy.sparse.coo_matrix
    ) -> Dict[Text, Any]:
        """The same, from the message's two sparse matrices (tokens × features, 1 ×
        features): the arrays Rasa would batch, without the batch."""
        return self._predict(
            sequence.shape[0],
            (sequence.row, sequence.col, sequence.data),
            (sentence.col, sentence.data),
        )

    def _predict(
        self,
        length: int,
        sequence: Tuple[np.ndarray, np.ndarray, np.ndarray],
        sentence: Tuple[np.ndarray, np.ndarray],
    ) -> Dict[Text, Any]:
        # Token-level features, then the sentence's features as one more position.
        x = np.empty((length + 1, self._to_dense[SEQUENCE].kernel.shape[1]), dtype=np.float32)
        x[:length] = self._sparse_dense(*sequence, length, self._to_dense[SEQUENCE])
        columns, values = sentence
        x[length:] = self._sparse_dense(
            np.zeros(len(values), dtype=np.int64), columns, values, 1, self._to_dense[SENTENCE]
        )
        for layer in self._ffnn:
            x = layer(x)
        text, attention = self._encode(x)
        outputs: Dict[Text, Any] = {
            DIAGNOSTIC_DATA: {
                "attention_weights": attention[np.newaxis],
                "text_transformed": text[np.newaxis],
            }
        }
        sentence_vector = self._embed_text(text[length])
        labels = self._labels
        if self._cosine:
            sentence_vector = sentence_vector / np.sqrt(
                max(np.sum(sentence_vector * sentence_vector), 1e-12)
            )
            labels = labels / np.sqrt(
                np.maximum(np.sum(labels * labels, axis=-1, keepdims=True), 1e-12)
            )
        outputs["i_scores"] = _softmax(labels @ sentence_vector)[np.newaxis]
        if self._entities:
            ids, scores = self._crf_decode(self._entity_logits(text), length)
            outputs[f"e_{self._entity_name}_ids"] = ids[np.newaxis]
            outputs[f"e_{self._entity_name}_scores"] = scores[np.newaxis]
        return outputs

    @staticmethod
    def _sparse_dense(
        rows: np.ndarray, columns: np.ndarray, values: np.ndarray, count: int, dense: _Dense
    ) -> np.ndarray:
        """``DenseForSparse``: the sparse rows times the kernel, plus the bias."""
        picked = np.zeros((count, len(values)), dtype=np.float32)
        picked[rows, np.arange(len(values))] = values
        return picked @ dense.kernel[columns] + dense.bias

    def _position_encoding(self, length: int) -> np.ndarray:
        if len(self._positions) < length:
            size = max(length, 2 * len(self._positions), 64)
            angles = np.arange(size, dtype=np.float32)[:, np.newaxis] * self._angles
            encoding = np.empty_like(angles)
            encoding[:, 0::2] = np.sin(angles[:, 0::2])
            encoding[:, 1::2] = np.cos(angles[:, 1::2])
            self._positions = encoding
        return self._positions[:length]

    def _encode(self, x: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Rasa's TransformerEncoder, then the gelu RasaSequenceLayer applies to it."""
        positions = len(x)
        x = self._embedding(x) * np.float32(np.sqrt(self._units))
        x += self._position_encoding(positions)
        weights = []
        for ln1, heads, qkv, out, ln2, hidden, back in self._blocks:
            normed = _layer_norm(x, *ln1)
            depth = self._units // heads
            q, k, v = (normed @ qkv).reshape(positions, 3, heads, depth).transpose(1, 2, 0, 3)
            attention = _softmax((q @ k.transpose(0, 2, 1)) / np.float32(np.sqrt(depth)))
            weights.append(attention)
            mixed = (attention @ v).transpose(1, 0, 2).reshape(positions, self._units)
            x = x + out(mixed)
            x = x + back(hidden(_layer_norm(x, *ln2)))
        return _gelu(_layer_norm(x, *self._final_norm)), np.stack(weights)

    def _crf_decode(self, potentials: np.ndarray, length: int) -> Tuple[np.ndarray, np.ndarray]:
        """``rasa.utils.tensorflow.crf.crf_decode`` plus ``CRF.call``'s padding mask, for
        one sequence of ``length`` real positions (``potentials`` has one more: the
        sentence position, which is masked out)."""
        positions = len(potentials)
        ids = np.zeros(positions, dtype=np.int32)
        confidences = np.zeros(positions, dtype=np.float32)
        if length == 0:
            return ids, confidences
        transitions = self._transitions
        state = potentials[0]
        pointers = []
        step_scores = []
        for t in range(1, length):
            scores = state[:, np.newaxis] + transitions
            pointers.append(scores.argmax(axis=0))
            step_scores.append(_softmax(scores, axis=0).max(axis=0))
            state = potentials[t] + scores.max(axis=0)
        tag = int(state.argmax())
        tags = [tag]
        confidence = [float(_softmax(state).max())]
        # Rasa's backward pass carries the gathered score, cast to an index, as the state
        # of its score scan: reproduced as is.
        score_state = float(tag)
        for pointer, score in zip(reversed(pointers), reversed(step_scores), strict=True):
            tag = int(pointer[tag])
            tags.append(tag)
            score_state = float(score[int(score_state)])
            confidence.append(score_state)
        ids[:length] = tags[::-1]
        confidences[:length] = confidence[::-1]
        return ids, confidences


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

    def _predict(self, message: Message) -> Optional[Dict[Text, Any]]:
        """Rasa's ``_predict``, but a message whose text has one sparse matrix per feature
        type (``SparseFeatureJoiner``'s) and no dense ones goes to the NumPy forward pass
        directly: the same arrays without building RasaModelData (deep copies, fake
        features), Rasa's data generator and a batch around them."""
        forward = self.model._forward if self.model is not None else None
        if forward is not None:
            features = _text_matrices(message, self.component_config[FEATURIZERS])
            if features is not None:
                outputs = forward.predict_features(*features)
                outputs[DIAGNOSTIC_DATA] = self.model._empty_lists_to_none_in_dict(
                    outputs[DIAGNOSTIC_DATA]
                )
                return outputs
        return super()._predict(message)


def _text_matrices(
    message: Message, featurizers: List[Text]
) -> Optional[Tuple[scipy.sparse.coo_matrix, scipy.sparse.coo_matrix]]:
    """The text's sequence and sentence matrices when there is exactly one sparse matrix
    of each and no dense features, picked by the filters ``Message.get_sparse_features`` /
    ``get_dense_features`` use (without their deep copies); otherwise None."""
    sequence, sentence = message._filter_sparse_features(TEXT, featurizers)
    if len(sequence) != 1 or len(sentence) != 1:
        return None
    if any(message._filter_dense_features(TEXT, featurizers)):
        return None
    return sequence[0].features.tocoo(), sentence[0].features.tocoo()


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
