"""Training is fingerprinted: same inputs, same model; any change to them, a new one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nlu.train import (
    FINGERPRINT_INPUTS,
    ROOT,
    TrainingError,
    find_model,
    fingerprint,
    model_path,
    train,
)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in FINGERPRINT_INPUTS:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name)
        else:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, tmp_path / name)
    return tmp_path


def test_fingerprint_is_stable_and_tracks_every_input(tree: Path) -> None:
    base = fingerprint(tree)
    assert base == fingerprint(tree) == fingerprint(ROOT)
    seen = {base}
    for change in [
        lambda: (tree / "config.yml").write_text((tree / "config.yml").read_text() + "\n# x\n"),
        lambda: (tree / "nlu/data/greet.yml").write_text(
            (tree / "nlu/data/greet.yml").read_text() + "    - 你好哇\n"
        ),
        lambda: (tree / "nlu/dict/extra.txt").write_text("罗马仕 500 nz\n"),
        lambda: (tree / "nlu/constraints-rasa.txt").write_text("rasa==3.6.21\n"),
    ]:
        change()
        fp = fingerprint(tree)
        assert fp not in seen
        seen.add(fp)


def test_test_split_is_not_a_training_input(tree: Path) -> None:
    before = fingerprint(tree)
    (tree / "nlu/test").mkdir(parents=True, exist_ok=True)
    (tree / "nlu/test/more.yml").write_text("version: '3.1'\n")
    assert fingerprint(tree) == before


def test_existing_model_is_reused_without_running_rasa(tree: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    model = model_path(models, fingerprint(tree))
    model.write_bytes(b"model")
    result = train(root=tree, model_dir=models, rasa_python=tmp_path / "no-such-python")
    assert (result.model, result.trained) == (model, False)
    assert find_model(models, tree) == model


@pytest.mark.slow
def test_repository_model_matches_current_inputs(rasa_model: Path) -> None:
    assert rasa_model.name == f"nlu-{fingerprint()}.tar.gz"
    assert rasa_model.stat().st_size > 100_000
    again = train()
    assert again.trained is False and again.model == rasa_model


def test_a_fresh_model_directory_takes_the_model_from_the_cache(tree: Path, tmp_path: Path) -> None:
    first, fresh, cache = tmp_path / "models", tmp_path / "after-clean", tmp_path / "cache"
    first.mkdir()
    model_path(first, fingerprint(tree)).write_bytes(b"model")
    no_rasa = tmp_path / "no-such-python"
    train(root=tree, model_dir=first, rasa_python=no_rasa, cache=cache)
    result = train(root=tree, model_dir=fresh, rasa_python=no_rasa, cache=cache)
    assert (result.model, result.trained) == (model_path(fresh, fingerprint(tree)), False)
    assert result.model.read_bytes() == b"model"
    (tree / "config.yml").write_text((tree / "config.yml").read_text() + "\n# changed\n")
    with pytest.raises(TrainingError, match="not found"):
        train(root=tree, model_dir=fresh, rasa_python=no_rasa, cache=cache)
