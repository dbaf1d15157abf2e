"""Fingerprinted Rasa NLU training: unchanged data, config and dictionary never retrain.

Runs in the app's environment and drives ``rasa train nlu`` in ``.venv-rasa`` through a
subprocess (Rasa 3.6 needs Python 3.10). The model is named after the fingerprint, so a
model under ``models/`` whose name matches is the model for the current inputs.

Every trained model is also kept in a cache directory by its fingerprint (``.cache/nlu-models``,
or ``WEIQUAN_NLU_CACHE_DIR``), which ``make clean`` leaves alone and CI keeps between runs: a
fresh ``models/`` with unchanged inputs gets its model from there instead of training.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess  # noqa: S404 - we run our own Rasa executable with fixed arguments
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL_PREFIX = "nlu-"
KEEP_MODELS = 3
KEEP_CACHED = 5
CACHE_ENV = "WEIQUAN_NLU_CACHE_DIR"

# What a model depends on. The constraints file stands for the Rasa version and its libraries.
FINGERPRINT_INPUTS: tuple[str, ...] = (
    "config.yml",
    "nlu/data",
    "nlu/dict",
    "nlu/constraints-rasa.txt",
    "nlu/rasa_components.py",
)

_EPOCH = re.compile(r"Epochs:\s+(\d+)%")

Progress = Callable[[str], None]


class TrainingError(RuntimeError):
    """``rasa train nlu`` failed; the message carries the tail of its output."""


@dataclass(frozen=True)
class TrainResult:
    """Where the model is, and whether this call had to train it."""

    model: Path
    fingerprint: str
    trained: bool
    seconds: float


def rasa_env(cache_dir: Path | None = None) -> dict[str, str]:
    """Environment for any Rasa subprocess: quiet TensorFlow, no telemetry, no colour codes.

    Rasa's training cache defaults to ``.rasa/`` in the working directory; keep it with the
    models so the source tree stays clean.
    """
    env = dict(os.environ)
    # config.yml names components of ours (nlu.rasa_components) by module path.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["RASA_CACHE_DIRECTORY"] = str(cache_dir or ROOT / "models" / ".rasa-cache")
    env.update(
        TF_CPP_MIN_LOG_LEVEL="2",
        RASA_TELEMETRY_ENABLED="false",
        PYTHONWARNINGS="ignore",
        TF_ENABLE_ONEDNN_OPTS="0",
        PYTHONUNBUFFERED="1",
        NO_COLOR="1",
        # DIET predicts one message in NumPy (nlu/rasa_components.py): matrices of a few
        # dozen rows, where a second BLAS thread doubles the CPU for ~10 % less wall time
        # and takes a core from the other replica (benchmarks/RESULTS.md).
        OPENBLAS_NUM_THREADS="1",
    )
    return env


def _input_files(root: Path, config: Path) -> Iterator[tuple[str, Path]]:
    for name in FINGERPRINT_INPUTS:
        path = config if name == "config.yml" else root / name
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                yield file.relative_to(root).as_posix(), file
        elif path.is_file():
            yield name, path


def fingerprint(root: Path = ROOT, config: Path | None = None) -> str:
    """SHA-256 over the names and bytes of everything the model is trained from."""
    digest = hashlib.sha256()
    for name, file in _input_files(root, config or root / "config.yml"):
        digest.update(name.encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def model_path(model_dir: Path, fp: str) -> Path:
    return model_dir / f"{MODEL_PREFIX}{fp}.tar.gz"


def find_model(model_dir: Path, root: Path = ROOT) -> Path | None:
    """The model for the current inputs, else the newest model, else None."""
    current = model_path(model_dir, fingerprint(root))
    if current.is_file():
        return current
    models = sorted(model_dir.glob(f"{MODEL_PREFIX}*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None


def rasa_executable(rasa_python: Path) -> list[str]:
    """The command prefix that runs Rasa from its own environment."""
    if not rasa_python.exists():
        raise TrainingError(f"{rasa_python} not found: run `make rasa-venv` first")
    return [str(rasa_python), "-m", "rasa"]


def _prune(model_dir: Path, keep: Path, count: int = KEEP_MODELS) -> None:
    models = sorted(model_dir.glob(f"{MODEL_PREFIX}*.tar.gz"), key=lambda p: p.stat().st_mtime)
    for old in [m for m in models if m != keep][: max(0, len(models) - count)]:
        old.unlink(missing_ok=True)


def cache_dir(root: Path = ROOT) -> Path:
    """Where trained models are kept by fingerprint, outside ``models/``.

    ``WEIQUAN_NLU_CACHE_DIR`` moves it (CI points it at the directory it restores) for this
    project only: a copy of the tree elsewhere keeps its own cache.
    """
    configured = os.environ.get(CACHE_ENV)
    if configured and root.resolve() == ROOT:
        return Path(configured).expanduser().resolve()
    return root.resolve() / ".cache" / "nlu-models"


def _place(source: Path, target: Path) -> None:
    """Put ``source`` at ``target`` whole or not at all: a hard link where possible, else a copy."""
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)
    try:
        os.link(source, partial)
    except OSError:
        shutil.copyfile(source, partial)
    os.replace(partial, target)


def _from_cache(cache: Path, target: Path) -> bool:
    """Restore the model named ``target`` from the cache; False when the cache lacks it."""
    cached = cache / target.name
    if not cached.is_file():
        return False
    _place(cached, target)
    os.utime(cached)  # recently used: pruned last
    return True


def _to_cache(model: Path, cache: Path) -> None:
    """Keep a model in the cache; a cache that cannot be written costs only speed."""
    with contextlib.suppress(OSError):
        cache.mkdir(parents=True, exist_ok=True)
        _place(model, cache / model.name)
        _prune(cache, cache / model.name, KEEP_CACHED)


def _run_rasa_train(
    cmd: list[str],
    root: Path,
    model_dir: Path,
    progress: Progress,
    on_process: Callable[[subprocess.Popen[str]], None] | None = None,
) -> None:
    """Stream Rasa's output, turning tqdm's epoch bar into progress lines."""
    tail: list[str] = []
    last_pct = -1
    with subprocess.Popen(  # noqa: S603 - fixed argument list
        cmd,
        cwd=root,
        env=rasa_env(model_dir / ".rasa-cache"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ) as proc:
        if on_process is not None:
            on_process(proc)
        assert proc.stdout is not None  # noqa: S101 - guaranteed by stdout=PIPE
        buffer = ""
        while chunk := proc.stdout.read(256):
            buffer += chunk
            *parts, buffer = re.split(r"[\r\n]", buffer)
            for line in parts:
                tail = (tail + [line])[-40:]
                if m := _EPOCH.search(line):
                    pct = int(m.group(1))
                    if pct >= last_pct + 10 or (pct == 100 and last_pct != 100):
                        last_pct = pct
                        progress(f"training: {pct}% of epochs")
                elif "Training NLU model" in line or "Finished training component" in line:
                    progress(line.strip()[-120:])
        code = proc.wait()
    if code != 0:
        raise TrainingError(f"rasa train nlu exited with {code}:\n" + "\n".join(tail))


def train(
    *,
    root: Path = ROOT,
    model_dir: Path | None = None,
    rasa_python: Path | None = None,
    config: Path | None = None,
    nlu_data: Path | None = None,
    force: bool = False,
    progress: Progress | None = None,
    on_process: Callable[[subprocess.Popen[str]], None] | None = None,
    cache: Path | None = None,
) -> TrainResult:
    """Return the model for the current inputs, training it only if it does not exist yet.

    A model missing from ``model_dir`` but held in ``cache`` (default ``cache_dir(root)``) is
    taken from there; ``force`` trains regardless.

    A file lock makes concurrent callers (CLI, tests, app start-up) wait for one training
    instead of running several; the model is written under a temporary name and renamed,
    so a reader never sees half a model. ``on_process`` receives the training process, so a
    caller running this in a thread can kill it on shutdown.
    """
    report = progress or (lambda _msg: None)
    model_dir = (model_dir or root / "models").resolve()
    rasa_python = rasa_python or root / ".venv-rasa/bin/python"
    config = (config or root / "config.yml").resolve()
    cache = cache or cache_dir(root)
    fp = fingerprint(root, config)
    target = model_path(model_dir, fp)
    started = time.monotonic()
    if target.is_file() and not force:
        if not (cache / target.name).is_file():
            _to_cache(target, cache)  # a model trained before the cache existed joins it
        return TrainResult(target, fp, trained=False, seconds=0.0)
    model_dir.mkdir(parents=True, exist_ok=True)
    with open(model_dir / ".train.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file() and not force:
            return TrainResult(target, fp, trained=False, seconds=time.monotonic() - started)
        if not force and _from_cache(cache, target):
            _prune(model_dir, target)
            report(f"model {fp} taken from {cache}")
            return TrainResult(target, fp, trained=False, seconds=time.monotonic() - started)
        partial = f"{MODEL_PREFIX}{fp}-partial-{os.getpid()}"  # no dot: Rasa swaps a suffix
        cmd = [
            *rasa_executable(rasa_python),
            "train",
            "nlu",
            "--config",
            str(config),
            "--nlu",
            str(nlu_data or root / "nlu/data"),
            "--out",
            str(model_dir),
            "--fixed-model-name",
            partial,
        ]
        report(f"training model {fp} (this takes a few minutes)")
        _run_rasa_train(cmd, root, model_dir, report, on_process)
        os.replace(model_dir / f"{partial}.tar.gz", target)
        _prune(model_dir, target)
        _to_cache(target, cache)
    seconds = time.monotonic() - started
    report(f"model ready: {target} ({seconds:.0f} s)")
    return TrainResult(target, fp, trained=True, seconds=seconds)


def main() -> None:
    """``python -m nlu.train [--force]`` for Make and CI, without the app's CLI."""
    result = train(force="--force" in sys.argv, progress=lambda msg: print(msg, flush=True))  # noqa: T201
    print(result.model)  # noqa: T201


if __name__ == "__main__":
    main()
