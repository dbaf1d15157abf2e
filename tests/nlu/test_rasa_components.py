"""Our Rasa components (nlu/rasa_components.py) parse as Rasa's own classes would.

They exist only to cut CPU per parse; a difference in any intent, ranking or entity on the
held-out split (or on hostile input) would mean they changed the model's answers. The
comparison runs inside .venv-rasa on the suite's trained model: every text is parsed as
served, then again with each component's work handed back to Rasa's class, on the model
loaded a second time by Rasa's own load.

The featurizers and the joiner are exact. DIET's NumPy forward pass does TensorFlow's
arithmetic in another order (BLAS sums, erf, exp), so its floats may differ in the last
bits of float32: confidences are compared to 1e-5, tag ids and every intent, ranking and
entity exactly.
"""

from __future__ import annotations

import json
import subprocess  # noqa: S404 - runs our own script in the Rasa environment
from pathlib import Path

import pytest

from nlu.evaluation import load_examples
from nlu.train import ROOT, rasa_env
from tests.nlu.conftest import RASA_PYTHON

pytestmark = [pytest.mark.slow, pytest.mark.heavy]

SCRIPT = Path(__file__).parent / "rasa_side" / "compare_components.py"
ODD_TEXTS = [
    "iPhone15 Pro Max 在拼多多买的 是假货吗??",
    "ＣＣＣ证书编号２０２４０１０１２３４５６７８９",
    "😡😡😡",
    "Ｈｅｌｌｏ，我要投诉 TS20261127000042",
    "качество ужасное",
    "退一赔三" * 400,
]


def test_components_parse_like_rasas_own(rasa_model: Path) -> None:
    texts = [e.text.replace("\n", " ") for e in load_examples(ROOT / "nlu" / "test")]
    texts += ODD_TEXTS
    run = subprocess.run(  # noqa: S603
        [str(RASA_PYTHON), str(SCRIPT), str(rasa_model)],
        input="\n".join(texts),
        capture_output=True,
        text=True,
        env=rasa_env(),
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])

    # The served model really runs our classes (config.yml names them).
    assert {"LeanCountVectorsFeaturizer", "SparseFeatureJoiner", "LeanDIETClassifier"} <= set(
        result["components"]
    )
    # DIET answered every parse in NumPy straight from the message's matrices (and from
    # Rasa's batch of them), with TensorFlow's numbers.
    diet = result["diet_outputs"]
    assert diet["messages"] >= len(texts) - 1  # a text with no tokens skips DIET
    assert diet["answered"] == diet["numpy_answered"] == diet["fast_path"] == diet["messages"]
    assert diet["structure"] == []
    assert diet["integers_differ"] == []
    assert set(diet["max_difference"]) == {
        "/i_scores",
        "/e_entity_scores",
        "/diagnostic_data/attention_weights",
        "/diagnostic_data/text_transformed",
    }
    assert max(diet["max_difference"].values()) < 1e-4, diet["max_difference"]

    # LeanDIET.load (one eager training step) restores exactly what Rasa's load does.
    weights = result["weights"]
    assert weights["count"] > 50 and weights["names_equal"], weights
    assert weights["values_differ"] == []

    ours, theirs = result["ours"], result["theirs"]
    assert len(ours) == len(theirs) == len(texts)
    assert [t for t, same in zip(texts, result["same_matrices"], strict=True) if not same] == []
    for text, a, b in zip(texts, ours, theirs, strict=True):
        assert a["intent"] == b["intent"], text
        assert a["confidence"] == pytest.approx(b["confidence"], abs=1e-5), text
        assert [name for name, _ in a["ranking"]] == [name for name, _ in b["ranking"]], text
        assert [e[:4] for e in a["entities"]] == [e[:4] for e in b["entities"]], text
        assert [e[4] for e in a["entities"]] == pytest.approx(
            [e[4] for e in b["entities"]], abs=1e-5
        ), text
