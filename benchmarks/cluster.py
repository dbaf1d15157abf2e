"""Several ``weiquan serve`` processes on one PostgreSQL database behind a real load balancer.

Shared by the scale tests (tests/scale) and the load benchmark (``chat_load.py --instances``):
each instance is a separate process with its own data directory, as on separate hosts, and the
same personal-data key, secret key and database. The balancer is Debian's nginx or HAProxy on
loopback, round-robin, and names the instance that answered in an ``X-Upstream`` header.
A private PostgreSQL cluster (Debian's initdb and pg_ctl in a temporary directory) can be
started for work that restarts the database.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx

WEIQUAN = str(Path(sys.executable).parent / "weiquan")
PG_BIN = Path(os.environ.get("WEIQUAN_PG_BIN", "/usr/lib/postgresql/15/bin"))
UPSTREAM_HEADER = "X-Upstream"
Balancer = Literal["nginx", "haproxy"]
BALANCERS: dict[str, str] = {"nginx": "/usr/sbin/nginx", "haproxy": "/usr/sbin/haproxy"}


class ClusterError(RuntimeError):
    """A process of the cluster did not start; the message carries the end of its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, chars: int = 3000) -> str:
    with contextlib.suppress(OSError):
        return path.read_text(errors="replace")[-chars:]
    return ""


def wait_until_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        if proc.poll() is not None:
            raise ClusterError(f"{url}: exited {proc.returncode}:\n{tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise ClusterError(f"{url}: not healthy after {within:g} s:\n{tail(log)}")
        time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes] | None, grace: float = 15.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---- databases -----------------------------------------------------------------------------
def _admin(admin_url: str, sql: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(admin_url)

    async def run() -> None:
        conn = await asyncpg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            database=url.database,
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@contextlib.contextmanager
def fresh_database(admin_url: str, prefix: str = "weiquan_scale") -> Iterator[str]:
    """A new, empty database on the server of ``admin_url``; dropped (connections and all) after."""
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _admin(admin_url, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class PrivatePostgres:
    """A PostgreSQL cluster of its own (trust auth, loopback, a free port) that may be
    restarted or stopped without touching the machine's shared server. PostgreSQL refuses to
    run as root, so under root the cluster belongs to, and runs as, the ``postgres`` user."""

    def __init__(self, *, max_connections: int = 200) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="weiquan-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.max_connections = max_connections

    @property
    def admin_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def pid(self) -> int:
        """The postmaster's process id: its tree is this server's whole CPU."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        # No login session (runuser's or su's would start one): the server stays in this
        # process's session and keeps its niceness.
        user = "postgres" if os.geteuid() == 0 else None
        done = subprocess.run(
            args, capture_output=True, text=True, check=False, user=user, group=user,
            extra_groups=[] if user else None,
        )  # fmt: skip
        if done.returncode != 0:
            raise ClusterError(f"{' '.join(args)}: {done.stdout}{done.stderr}\n{tail(self.log)}")
        return done

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            str(PG_BIN / "initdb"),
            "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--no-locale", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            f"-c max_connections={self.max_connections}"
        )
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                  "-o", options, "-w", "-t", "60", "start")  # fmt: skip

    def stop(self, mode: Literal["smart", "fast", "immediate"] = "fast") -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, mode: Literal["fast", "immediate"] = "fast", down: float = 0.0) -> None:
        """Stop (``immediate`` is a crash: recovery replays the log) and start again after
        ``down`` seconds."""
        self.stop(mode)
        time.sleep(down)
        self.start()

    def __enter__(self) -> PrivatePostgres:
        try:
            self.init()
            self.start()
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(ClusterError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


# ---- the app instances ---------------------------------------------------------------------
def new_pii_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def instance_env(database_url: str, data_dir: Path, shared: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEIQUAN_")}
    env.update(
        WEIQUAN_ENVIRONMENT="test",
        WEIQUAN_DATABASE_URL=database_url,
        WEIQUAN_DATA_DIR=str(data_dir),
        WEIQUAN_NLU_MANAGE="false",
        WEIQUAN_LOG_LEVEL="warning",
        # Every client of a test or benchmark comes from 127.0.0.1: the per-address limit
        # stays on (its cost is part of the work) but out of reach.
        WEIQUAN_RATE_LIMIT_ADDRESS_PER_MINUTE="1000000000",
        WEIQUAN_RATE_LIMIT_ADDRESS_BURST="1000000000",
    )
    env.update(shared)
    return env


@dataclass
class Instance:
    name: str
    port: int
    env: dict[str, str]
    log: Path
    workers: int = 1
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> subprocess.Popen[bytes]:
        if self.proc is None:
            raise ClusterError(f"{self.name} was never started")
        return self.proc

    @property
    def pid(self) -> int:
        return self.running.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def spawn(self) -> None:
        cmd = [WEIQUAN, "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.workers > 1:
            cmd += ["--workers", str(self.workers)]
        # Appended: a restarted instance keeps what it logged before.
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def wait(self, within: float = 60.0) -> None:
        wait_until_healthy(self.url, self.running, self.log, within)

    def kill(self) -> None:
        """``kill -9``: no shutdown, no lifespan exit, open transactions cut off."""
        os.kill(self.pid, signal.SIGKILL)
        self.running.wait()

    def stop(self) -> None:
        stop(self.proc)


# ---- the balancer --------------------------------------------------------------------------
def nginx_config(work: Path, port: int, upstreams: list[Instance]) -> str:
    servers = "\n".join(
        f"    server 127.0.0.1:{i.port} max_fails=1 fail_timeout=2s;" for i in upstreams
    )
    # Workers of a root master run as nobody unless told otherwise; their temp paths are here.
    user = "user root root;\n" if os.geteuid() == 0 else ""
    return f"""{user}worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/balancer.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {work}/body;
  proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fastcgi;
  uwsgi_temp_path {work}/uwsgi;
  scgi_temp_path {work}/scgi;
  upstream weiquan {{
{servers}
    keepalive 64;
    # Idle connections to the instances are closed here before uvicorn closes them (its
    # keep-alive timeout is 5 s): a request sent on one the instance is closing at that
    # moment would come back as a 502, and nginx does not retry a POST.
    keepalive_timeout 4s;
  }}
  server {{
    listen 127.0.0.1:{port};
    client_max_body_size 12m;
    location / {{
      proxy_pass http://weiquan;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_connect_timeout 2s;
      proxy_read_timeout 60s;
      add_header {UPSTREAM_HEADER} $upstream_addr always;
    }}
  }}
}}
"""


def haproxy_config(work: Path, port: int, upstreams: list[Instance]) -> str:
    servers = "\n".join(
        f"  server {i.name} 127.0.0.1:{i.port} check inter 500ms fall 2 rise 1" for i in upstreams
    )
    return f"""global
  maxconn 4096
  pidfile {work}/haproxy.pid
defaults
  mode http
  option forwardfor
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  retries 2
  option redispatch
frontend weiquan
  bind 127.0.0.1:{port}
  default_backend instances
backend instances
  balance roundrobin
  option httpchk GET /healthz
  http-response set-header {UPSTREAM_HEADER} %[srv_name]
{servers}
"""


@dataclass
class LoadBalancer:
    kind: Balancer
    work: Path
    upstreams: list[Instance]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.work / "balancer.log"

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise ClusterError("the balancer was never started")
        return self.proc.pid

    def start(self) -> None:
        binary = BALANCERS[self.kind]
        if not Path(binary).exists():
            raise ClusterError(
                f"{binary} is missing: install Debian's {self.kind} (apt-get install {self.kind})"
            )
        self.work.mkdir(parents=True, exist_ok=True)
        config = self.work / f"{self.kind}.conf"
        if self.kind == "nginx":
            config.write_text(nginx_config(self.work, self.port, self.upstreams))
            cmd = [binary, "-p", str(self.work), "-c", str(config)]
        else:
            config.write_text(haproxy_config(self.work, self.port, self.upstreams))
            cmd = [binary, "-db", "-f", str(config)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        wait_until_healthy(self.url, self.proc, self.log, 30.0)

    def stop(self) -> None:
        stop(self.proc)


# ---- the whole --------------------------------------------------------------------------------
class Cluster:
    """``weiquan db upgrade`` once, then N instances and the balancer; all stopped on exit."""

    def __init__(
        self,
        database_url: str,
        work: Path,
        *,
        instances: int = 3,
        balancer: Balancer = "nginx",
        workers: int = 1,
        env: dict[str, str] | None = None,
        instance_env_extra: list[dict[str, str]] | None = None,
    ) -> None:
        self.database_url = database_url
        self.work = work
        shared = {
            "WEIQUAN_PII_KEY": new_pii_key(),
            "WEIQUAN_SECRET_KEY": f"cluster-secret-{uuid.uuid4().hex}",
            **(env or {}),
        }
        extra = instance_env_extra or [{} for _ in range(instances)]
        self.instances = [
            Instance(
                name=f"w{n}",
                port=free_port(),
                env={**instance_env(database_url, work / f"w{n}" / "var", shared), **extra[n]},
                log=work / f"w{n}.log",
                workers=workers,
            )
            for n in range(instances)
        ]
        self.balancer = LoadBalancer(balancer, work / "balancer", self.instances)

    @property
    def url(self) -> str:
        return self.balancer.url

    @property
    def env(self) -> dict[str, str]:
        """The environment of the CLI against this cluster's database (e.g. ``weiquan staff``)."""
        return self.instances[0].env

    def served_by(self, headers: httpx.Headers) -> str | None:
        """The instance that answered, from the balancer's header (the last one tried)."""
        value = headers.get(UPSTREAM_HEADER, "").split(",")[-1].strip()
        for instance in self.instances:
            if value in (instance.name, f"127.0.0.1:{instance.port}"):
                return instance.name
        return None

    def log_sizes(self) -> dict[str, int]:
        """Where each instance's log ends now: ``logs(since=…)`` reads what came after."""
        return {i.name: i.log.stat().st_size if i.log.exists() else 0 for i in self.instances}

    def logs(self, since: dict[str, int] | None = None) -> str:
        parts = []
        for i in self.instances:
            with contextlib.suppress(OSError), i.log.open("rb") as log:
                log.seek((since or {}).get(i.name, 0))
                parts.append(f"== {i.name}\n{log.read().decode(errors='replace')}")
        return "\n".join(parts)

    def start(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [WEIQUAN, "db", "upgrade"], env=self.env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise ClusterError(f"weiquan db upgrade failed:\n{done.stdout}{done.stderr}")
        for instance in self.instances:
            instance.spawn()
        for instance in self.instances:
            instance.wait()
        self.balancer.start()

    def stop(self) -> None:
        self.balancer.stop()
        running = [i.proc for i in self.instances if i.proc is not None and i.proc.poll() is None]
        for proc in running:
            proc.terminate()
        for proc in running:
            stop(proc)

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
