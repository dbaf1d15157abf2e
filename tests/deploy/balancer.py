"""Real nginx with deploy/nginx.conf, as the nginx image runs it, for tests on this machine.

The image renders the template into ``conf.d`` under its own main configuration; here a
small main configuration keeps pid, logs and temporary files in the test's directory, and
logs which upstream address answered each request. A self-signed certificate stands in for
the deployment's, and ``NameServer`` for Docker's DNS: one name, one address per instance.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.deploy.files import NGINX_TEMPLATE, render_template

NGINX = shutil.which("nginx", path=os.pathsep.join((os.environ.get("PATH", ""), "/usr/sbin")))
NO_NGINX = "nginx is not installed: `make lb` installs Debian's nginx (and haproxy)"

MAIN_CONF = """\
{user}worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    log_format upstreams '$remote_addr $status $upstream_addr';
    access_log {dir}/access.log upstreams;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/conf.d/*.conf;
}}
"""


def certificate(directory: Path) -> Path:
    """A self-signed certificate for 127.0.0.1 as ``fullchain.pem`` and ``privkey.pem``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "weiquan.test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "fullchain.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "privkey.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return directory


def prepare(directory: Path, values: dict[str, str]) -> Path:
    """The rendered site under ``conf.d`` and a main configuration including it."""
    assert NGINX is not None, NO_NGINX
    conf_d = directory / "conf.d"
    conf_d.mkdir(parents=True, exist_ok=True)
    (conf_d / "default.conf").write_text(
        render_template(NGINX_TEMPLATE.read_text(encoding="utf-8"), values), encoding="utf-8"
    )
    # Run as root, nginx's workers would drop to "nobody", who cannot enter the test's
    # directory; as anyone else they run as that user anyway.
    user = "user root;\n" if os.geteuid() == 0 else ""
    main = directory / "nginx.conf"
    main.write_text(MAIN_CONF.format(user=user, dir=directory), encoding="utf-8")
    return main


def check(directory: Path, values: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``nginx -t`` on the rendered configuration."""
    main = prepare(directory, values)
    return subprocess.run(
        [str(NGINX), "-t", "-p", str(directory), "-c", str(main), "-e", str(directory / "e.log")],
        capture_output=True,
        text=True,
        check=False,
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(directory: Path, values: dict[str, str]) -> Iterator[Path]:
    """nginx serving the rendered configuration until the block ends; yields its access log."""
    main = prepare(directory, values)
    proc = subprocess.Popen(
        [
            str(NGINX),
            "-p",
            str(directory),
            "-c",
            str(main),
            "-e",
            str(directory / "e.log"),
            "-g",
            "daemon off;",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port = int(values["HTTPS_PORT"])
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                errors = (directory / "error.log").read_text(errors="replace")
                raise AssertionError(f"nginx did not start: {errors}")
            time.sleep(0.05)
        yield directory / "access.log"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def client(certs: Path, source: str = "127.0.0.1") -> httpx.Client:
    """An HTTPS client that trusts the test certificate, connecting from ``source``
    (any 127.x.y.z: a distinct client address on the loopback)."""
    context = ssl.create_default_context(cafile=certs / "fullchain.pem")
    transport = httpx.HTTPTransport(verify=context, local_address=source)
    return httpx.Client(transport=transport, timeout=30, trust_env=False)


class NameServer:
    """A DNS server on loopback answering A queries for one name with several addresses, as
    Docker's embedded DNS answers for a service with several replicas."""

    def __init__(self, name: str, addresses: list[str]) -> None:
        self.name = name.lower().rstrip(".")
        self.addresses = addresses
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, name="test-dns", daemon=True)

    def __enter__(self) -> NameServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        while True:
            try:
                query, peer = self._sock.recvfrom(512)
            except OSError:
                return
            self._sock.sendto(self.answer(query), peer)

    def answer(self, query: bytes) -> bytes:
        labels, at = [], 12
        while query[at]:
            labels.append(query[at + 1 : at + 1 + query[at]].decode("ascii").lower())
            at += 1 + query[at]
        qtype = struct.unpack("!H", query[at + 1 : at + 3])[0]
        question = query[12 : at + 5]
        known = ".".join(labels) == self.name
        records = self.addresses if known and qtype == 1 else []
        flags = 0x8180 if known else 0x8183  # a response, recursion available; NXDOMAIN
        header = query[:2] + struct.pack("!HHHHH", flags, 1, len(records), 0, 0)
        answers = b"".join(
            struct.pack("!HHHIH", 0xC00C, 1, 1, 10, 4) + socket.inet_aton(address)
            for address in records
        )
        return header + question + answers
