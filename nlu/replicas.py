"""Several local Rasa server processes behind one ``NluClient``.

Rasa 3.6 answers one parse at a time per process, and its Sanic server cannot run more than
one worker without a Redis lock store, so parses that arrive together queue. Capacity comes
from independent ``rasa run`` processes instead: one ``RasaSupervisor`` each, on its own
loopback port, all with one auth token; the client sends every parse to the ready replica
with the fewest parses in flight.

Replicas start one after the other: the second model load begins once the first replica
answers, so the first parse comes as early as with one process and two loads never fight
for the CPU. With several replicas each one's TensorFlow gets ``cores // count`` threads
(one each on a 2-core machine), so they do not oversubscribe the cores. Each replica is a
full model in memory, about 1.3 GB resident.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from nlu.client import Replica
from nlu.server import RasaSupervisor, free_port


def cores() -> int:
    """CPUs this process may run on (the affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def default_tf_threads(count: int) -> int | None:
    """TensorFlow threads per replica: its own default for one, a fair share for several."""
    return None if count <= 1 else max(1, cores() // count)


def replica_log(log_file: Path | None, index: int) -> Path | None:
    """``rasa.log`` for the first replica, ``rasa-2.log``, ``rasa-3.log`` … for the others."""
    if log_file is None or index == 0:
        return log_file
    return log_file.with_name(f"{log_file.stem}-{index + 1}{log_file.suffix}")


class RasaReplicas:
    """Owns ``count`` RasaSupervisors; implements the client's ``RasaEndpoint`` protocol.

    ``ready`` once any replica answers; ``replicas()`` lists them all with their readiness.
    """

    def __init__(
        self,
        *,
        rasa_python: Path,
        model: Path,
        count: int = 2,
        host: str = "127.0.0.1",
        token: str | None = None,
        startup_timeout: float = 180.0,
        backoff: tuple[float, float] = (1.0, 30.0),
        log_file: Path | None = None,
        cwd: Path | None = None,
        health_interval: float = 10.0,
        tf_threads: int | None = None,
    ) -> None:
        if count < 1:
            raise ValueError(f"at least one Rasa replica is needed, not {count}")
        self.model = model
        self.startup_timeout = startup_timeout
        self.tf_threads = tf_threads if tf_threads is not None else default_tf_threads(count)
        self._token = token or secrets.token_urlsafe(24)
        self._task: asyncio.Task[None] | None = None
        ports: list[int] = []
        while len(ports) < count:  # the OS may hand out the same free port twice in a row
            port = free_port(host)
            if port not in ports:
                ports.append(port)
        self.supervisors = [
            RasaSupervisor(
                rasa_python=rasa_python,
                model=model,
                host=host,
                port=port,
                token=self._token,
                startup_timeout=startup_timeout,
                backoff=backoff,
                log_file=replica_log(log_file, i),
                cwd=cwd,
                health_interval=health_interval,
                tf_threads=self.tf_threads,
            )
            for i, port in enumerate(ports)
        ]

    # -- RasaEndpoint ---------------------------------------------------------------
    @property
    def url(self) -> str:
        """The first ready replica (the first replica while none is)."""
        for sup in self.supervisors:
            if sup.ready:
                return sup.url
        return self.supervisors[0].url

    @property
    def urls(self) -> list[str]:
        return [sup.url for sup in self.supervisors]

    @property
    def token(self) -> str:
        return self._token

    @property
    def ready(self) -> bool:
        return any(sup.ready for sup in self.supervisors)

    @property
    def all_ready(self) -> bool:
        return all(sup.ready for sup in self.supervisors)

    @property
    def ready_count(self) -> int:
        return sum(sup.ready for sup in self.supervisors)

    @property
    def state(self) -> str:
        """``ready`` if any replica is; else the state of the first one that is not stopped."""
        if self.ready:
            return "ready"
        for sup in self.supervisors:
            if sup.state != "stopped":
                return sup.state
        return "stopped"

    def replicas(self) -> list[Replica]:
        return [r for sup in self.supervisors for r in sup.replicas()]

    @property
    def pids(self) -> list[int]:
        return [pid for sup in self.supervisors if (pid := sup.pid) is not None]

    # -- lifecycle ------------------------------------------------------------------
    async def start(self, *, wait: bool = False) -> None:
        """Start the replicas one after another; with ``wait`` return once the first parses."""
        if self._task is None or self._task.done():
            if not self.model.is_file():
                raise FileNotFoundError(f"no Rasa model at {self.model}: run `weiquan nlu train`")
            self._task = asyncio.create_task(self._start_in_turn(), name="rasa-replicas")
        if wait and not await self.wait_ready(self.startup_timeout):
            raise TimeoutError(f"Rasa not ready after {self.startup_timeout:.0f} s ({self.state})")

    async def _start_in_turn(self) -> None:
        last = len(self.supervisors) - 1
        for i, sup in enumerate(self.supervisors):
            await sup.start()
            if i < last:
                # A replica that never comes up is retried by its own supervisor; do not
                # hold the others back for longer than one start-up allowance.
                await sup.wait_ready(self.startup_timeout)

    async def wait_ready(self, seconds: float) -> bool:
        """True once any replica answers, False if ``seconds`` pass first."""
        return await self._wait(seconds, lambda: self.ready)

    async def wait_all_ready(self, seconds: float) -> bool:
        """True once every replica answers, False if ``seconds`` pass first."""
        return await self._wait(seconds, lambda: self.all_ready)

    async def _wait(self, seconds: float, done: Callable[[], bool]) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not done():
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def stop(self) -> None:
        """Stop starting more replicas, then stop every one (in parallel)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await asyncio.gather(*(sup.stop() for sup in self.supervisors))

    async def __aenter__(self) -> RasaReplicas:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
