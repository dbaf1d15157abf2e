"""Run and watch a local ``rasa run --enable-api`` process for the app.

Rasa 3.6 lives in its own Python 3.10 environment, so the app starts it as a child process
on loopback with a random auth token, reports ``starting`` until the model answers a parse
(tens of seconds; the client uses the rule fallback meanwhile), restarts it with back-off if
it dies, and stops it with the app. ``state`` is one of: stopped, starting, ready,
restarting, failed (cannot even spawn it; retried with back-off).

``tf_threads`` caps TensorFlow's thread pools in the child, so several replicas on a small
machine (nlu.replicas.RasaReplicas) do not each try to use every core.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import time
from pathlib import Path
from typing import IO, Any

import httpx

from nlu.client import Replica
from nlu.train import TrainingError, rasa_env, rasa_executable

log = logging.getLogger(__name__)

# Read by rasa/utils/tensorflow/environment.py (names in rasa/constants.py) at start-up.
TF_THREAD_VARIABLES = ("TF_INTRA_OP_PARALLELISM_THREADS", "TF_INTER_OP_PARALLELISM_THREADS")


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class RasaSupervisor:
    """Owns one Rasa server process; implements the client's ``RasaEndpoint`` protocol."""

    def __init__(
        self,
        *,
        rasa_python: Path,
        model: Path,
        host: str = "127.0.0.1",
        port: int | None = None,
        token: str | None = None,
        startup_timeout: float = 180.0,
        backoff: tuple[float, float] = (1.0, 30.0),
        log_file: Path | None = None,
        cwd: Path | None = None,
        health_interval: float = 10.0,
        tf_threads: int | None = None,
    ) -> None:
        self.rasa_python = rasa_python
        self.model = model
        self.host = host
        self.port = port or free_port(host)
        self._token = token or secrets.token_urlsafe(24)
        self.startup_timeout = startup_timeout
        self._backoff_min, self._backoff_max = backoff
        self.log_file = log_file
        self.cwd = cwd
        self.health_interval = health_interval
        self.tf_threads = tf_threads
        self.restarts = 0
        self.started_at: float | None = None
        self.ready_after: float | None = None
        self._state = "stopped"
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._stopping = False

    # -- RasaEndpoint ---------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def token(self) -> str:
        return self._token

    @property
    def ready(self) -> bool:
        return self._state == "ready"

    @property
    def state(self) -> str:
        return self._state

    def replicas(self) -> list[Replica]:
        return [Replica(self.url, self._token, self.ready)]

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.returncode is None else None

    # -- lifecycle ------------------------------------------------------------------
    async def start(self, *, wait: bool = False) -> None:
        """Start the process and its watcher; with ``wait`` return only once it parses."""
        if self._task is None or self._task.done():
            if not self.model.is_file():
                raise FileNotFoundError(f"no Rasa model at {self.model}: run `weiquan nlu train`")
            self._stopping = False
            self._task = asyncio.create_task(self._supervise(), name="rasa-supervisor")
        if wait and not await self.wait_ready(self.startup_timeout):
            raise TimeoutError(f"Rasa not ready after {self.startup_timeout:.0f} s ({self._state})")

    async def wait_ready(self, seconds: float) -> bool:
        """True once the model answers, False if ``seconds`` pass first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), seconds)
        return self.ready

    async def stop(self) -> None:
        """Terminate Rasa (SIGTERM, then SIGKILL after 10 s) and the watcher."""
        self._stopping = True
        await self._terminate()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._terminate()  # a process spawned while we were cancelling the watcher
        self._state = "stopped"
        self._ready.clear()

    async def __aenter__(self) -> RasaSupervisor:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- internals ------------------------------------------------------------------
    def command(self) -> list[str]:
        return [
            *rasa_executable(self.rasa_python),
            "run",
            "--enable-api",
            # One argument: a random token may start with "-", which argparse reads as an option.
            f"--auth-token={self._token}",
            "--interface",
            self.host,
            "--port",
            str(self.port),
            "--model",
            str(self.model),
            "--response-timeout",
            "30",
        ]

    def environment(self) -> dict[str, str]:
        """The child's environment: ``rasa_env()`` plus the TensorFlow thread caps."""
        env = rasa_env()
        if self.tf_threads is not None:
            env.update(dict.fromkeys(TF_THREAD_VARIABLES, str(self.tf_threads)))
        return env

    async def _spawn(self) -> asyncio.subprocess.Process:
        out: IO[Any] | int = asyncio.subprocess.DEVNULL
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            out = await asyncio.to_thread(self.log_file.open, "ab")
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.command(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                env=self.environment(),
                cwd=self.cwd,
                start_new_session=True,  # its own process group, so stop() reaches every child
            )
        finally:
            if not isinstance(out, int):
                out.close()
        log.info("rasa started pid=%s port=%s model=%s", proc.pid, self.port, self.model.name)
        return proc

    async def _probe(self, http: httpx.AsyncClient) -> bool:
        try:
            r = await http.post(
                f"{self.url}/model/parse", params={"token": self._token}, json={"text": "你好"}
            )
        except httpx.HTTPError:
            return False
        return r.status_code == 200 and "intent" in r.json()

    async def _wait_until_up(
        self, proc: asyncio.subprocess.Process, http: httpx.AsyncClient
    ) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline and proc.returncode is None:
            if await self._probe(http):
                return True
            await asyncio.sleep(0.25)
        return False

    async def _supervise(self) -> None:
        failures = 0
        async with httpx.AsyncClient(timeout=5.0, trust_env=False) as http:
            while not self._stopping:
                self._state = "starting" if self.restarts == 0 else "restarting"
                self.started_at = time.monotonic()
                try:
                    self._proc = await self._spawn()
                except (OSError, TrainingError) as exc:  # e.g. .venv-rasa removed: keep trying
                    log.error("cannot start rasa: %s", exc)
                    self._state = "failed"
                    failures += 1
                    await asyncio.sleep(min(self._backoff_max, self._backoff_min * 2**failures))
                    continue
                if await self._wait_until_up(self._proc, http):
                    self.ready_after = time.monotonic() - self.started_at
                    self._state, failures = "ready", 0
                    self._ready.set()
                    log.info("rasa ready after %.1f s", self.ready_after)
                    await self._watch(self._proc, http)
                else:
                    await self._terminate()
                self._ready.clear()
                if self._stopping:
                    break
                failures += 1
                self.restarts += 1
                pause = min(self._backoff_max, self._backoff_min * 2 ** (failures - 1))
                self._state = "restarting"
                log.warning(
                    "rasa exited (code %s); restarting in %.0f s", self._proc.returncode, pause
                )
                await asyncio.sleep(pause)

    async def _watch(self, proc: asyncio.subprocess.Process, http: httpx.AsyncClient) -> None:
        """Return when the process exits; kill it if it stops answering (hung, not dead)."""
        misses = 0
        while proc.returncode is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), self.health_interval)
                return
            misses = 0 if await self._probe(http) else misses + 1
            if misses >= 3:
                log.warning("rasa stopped answering; killing pid %s", proc.pid)
                await self._terminate()

    async def _terminate(self) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), grace)
                return
