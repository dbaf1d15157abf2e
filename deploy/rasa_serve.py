"""``rasa run`` for a container: the model for the current training data, on every interface,
with the token the app sends (``WEIQUAN_NLU_TOKEN``).

The command and environment are those of ``nlu.server.RasaSupervisor``, which runs the
replicas ``weiquan serve`` manages itself; here one container is one replica, and the app
lists every replica's URL in ``WEIQUAN_NLU_URL``. Runs with the Rasa environment's Python.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlu.train import find_model, rasa_env, rasa_executable  # noqa: E402

# The thread caps nlu.server.RasaSupervisor sets (nlu.server itself needs the app's libraries).
TF_THREAD_VARIABLES = ("TF_INTRA_OP_PARALLELISM_THREADS", "TF_INTER_OP_PARALLELISM_THREADS")


def command(model: Path, token: str, port: str) -> list[str]:
    return [
        *rasa_executable(Path(sys.executable)),
        "run",
        "--enable-api",
        # One argument: a token starting with "-" would otherwise be read as an option.
        f"--auth-token={token}",
        "--interface",
        "0.0.0.0",  # noqa: S104 - a container's server is reached through its network
        "--port",
        port,
        "--model",
        str(model),
        "--response-timeout",
        "30",
    ]


def main() -> None:
    token = os.environ.get("WEIQUAN_NLU_TOKEN", "").strip()
    if not token:
        sys.exit("WEIQUAN_NLU_TOKEN must be set: the API would otherwise be open to anyone")
    model_dir = Path(os.environ.get("RASA_MODEL_DIR") or ROOT / "models")
    model = find_model(model_dir, ROOT)
    if model is None:
        sys.exit(f"no model under {model_dir}: the image trains one when it is built")
    env = rasa_env(model_dir / ".rasa-cache")
    threads = os.environ.get("RASA_TF_THREADS", "").strip()
    if threads:
        env.update(dict.fromkeys(TF_THREAD_VARIABLES, threads))
    argv = command(model, token, os.environ.get("RASA_PORT", "5005"))
    os.chdir(ROOT)
    print(f"serving {model.name} on port {argv[argv.index('--port') + 1]}", flush=True)  # noqa: T201
    os.execve(argv[0], argv, env)  # noqa: S606 - our own Rasa, fixed arguments


if __name__ == "__main__":
    main()
