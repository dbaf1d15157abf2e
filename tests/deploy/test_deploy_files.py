"""The deployment files (deploy/) read as Docker, Compose and nginx read them: what they
name exists in the project, and nginx accepts its configuration. No container runtime needed."""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.settings import Settings
from tests.bot.test_settings import read_variables
from tests.deploy import balancer
from tests.deploy.files import (
    COMPOSE,
    DEPLOY,
    NGINX_TEMPLATE,
    ROOT,
    Dockerfile,
    compose,
    dockerignored,
    environment,
    required_variables,
    template_variables,
    with_defaults,
)

APP = Dockerfile.read(DEPLOY / "app.Dockerfile")
RASA = Dockerfile.read(DEPLOY / "rasa.Dockerfile")
APP_SERVICES = ("migrate", "app")


def settings_variables() -> set[str]:
    """Every ``WEIQUAN_*`` variable a settings model of the app reads."""
    return read_variables(Settings)


def rasa_services() -> list[str]:
    return sorted(name for name in compose()["services"] if name.startswith("rasa-"))


def test_compose_has_every_part_of_the_deployment() -> None:
    services = compose()["services"]
    assert {"postgres", "migrate", "app", "nginx"} <= set(services)
    assert len(rasa_services()) >= 2
    app = services["app"]
    assert int(with_defaults(str(app["deploy"]["replicas"]))) >= 2
    # Migrations once, before any instance, and the instances only if they succeeded.
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    # Replicas share the port: only nginx is published.
    assert [name for name, service in services.items() if service.get("ports")] == ["nginx"]


def test_every_weiquan_variable_compose_sets_is_a_setting() -> None:
    known = settings_variables()
    services = compose()["services"]
    set_here = {
        name
        for service in services
        for name in environment(service)
        if name.startswith("WEIQUAN_") and service not in ("postgres", "nginx")
    }
    assert set_here, "compose sets the app's settings"
    assert set_here - known == set()
    image = {name for name in APP.env() if name.startswith("WEIQUAN_")}
    assert image - known == set()
    example = set(re.findall(r"^#? ?(WEIQUAN_\w+)=", (DEPLOY / "env.example").read_text(), re.M))
    assert example - known == set()


def test_every_variable_compose_requires_is_in_the_example_env_file() -> None:
    example = (DEPLOY / "env.example").read_text()
    required = required_variables(COMPOSE.read_text())
    assert {"POSTGRES_PASSWORD", "WEIQUAN_SECRET_KEY", "WEIQUAN_NLU_TOKEN"} <= required
    for name in required:
        assert re.search(rf"^{name}=$", example, re.M), f"{name} missing from env.example"


def test_every_app_instance_is_configured_alike_for_sharing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services = compose()["services"]
    for name in APP_SERVICES:
        # The settings each instance builds from its environment, as the process does (the
        # secrets compose requires given stand-in values).
        for variable in [v for v in os.environ if v.startswith("WEIQUAN_")]:
            monkeypatch.delenv(variable)
        env = {k: with_defaults(v) for k, v in environment(name).items()}
        env |= {"WEIQUAN_SECRET_KEY": "x" * 32, "WEIQUAN_SESSION_SECRET": "y" * 32}
        for variable, value in env.items():
            if variable.startswith("WEIQUAN_") and value:
                monkeypatch.setenv(variable, value)
        settings = Settings()
        assert settings.environment == "production"
        assert not settings.is_sqlite, "several machines need one PostgreSQL"
        # Evidence: one volume, mounted where the data dir is, on every instance.
        assert f"weiquan-data:{settings.data_dir}" in services[name]["volumes"]
        # The personal-data key: the same secret file on every instance.
        assert settings.security.pii_key_file is not None
        secret = settings.security.pii_key_file.name
        assert settings.security.pii_key_file == Path("/run/secrets") / secret
        assert secret in services[name]["secrets"] and secret in compose()["secrets"]
        # Rasa: every server compose runs, on the port its image serves.
        assert settings.nlu.url == ",".join(f"http://{r}:5005" for r in rasa_services())
        assert settings.nlu.manage is False
    assert "RASA_PORT=5005" in " ".join(RASA.all("ENV"))
    for rasa in rasa_services():
        assert "WEIQUAN_NLU_TOKEN" in environment(rasa)


def test_the_app_trusts_forwarded_addresses_from_nginx_only() -> None:
    """Rate limits and claim limits count by client address: X-Forwarded-For must be believed
    from nginx, and from nothing else."""
    nginx = compose()["services"]["nginx"]["networks"]["backend"]["ipv4_address"]
    for name in APP_SERVICES:
        assert environment(name)["FORWARDED_ALLOW_IPS"] == nginx
    subnet = compose()["networks"]["backend"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(with_defaults(nginx)) in ipaddress.ip_network(with_defaults(subnet))


@pytest.mark.parametrize("dockerfile", [APP, RASA], ids=lambda d: d.path.name)
def test_dockerfiles_copy_what_exists_and_the_context_keeps(dockerfile: Dockerfile) -> None:
    sources = dockerfile.copy_sources()
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), f"{dockerfile.path.name}: COPY {source}: not in the repo"
        assert not dockerignored(source), f"{dockerfile.path.name}: {source} is .dockerignored"


def test_the_build_context_leaves_out_secrets_environments_and_local_data() -> None:
    for path in (
        "deploy/.env",
        "deploy/secrets/pii.key",
        "deploy/certs/privkey.pem",
        ".git/config",
        ".venv/bin/python",
        ".venv-rasa/bin/python",
        "var/pii.key",
        "var/weiquan.sqlite3",
        "models/nlu-0123456789abcdef.tar.gz",
        "bot/__pycache__/app.cpython-311.pyc",
    ):
        assert dockerignored(path), path
    for path in ("deploy/.env", "deploy/secrets/pii.key", "deploy/certs/privkey.pem"):
        ignored = (DEPLOY / ".gitignore").read_text().split()
        assert any(Path(path).relative_to("deploy").parts[0] in rule for rule in ignored), path


def _runs(args: list[str]) -> None:
    """``weiquan ARGS`` names a real command with options it has (parsed, not run)."""
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, f"weiquan {' '.join(args)}: {result.output}"


def test_the_images_and_services_run_real_commands() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    entry = APP.exec_form("ENTRYPOINT")
    assert entry == ["weiquan"] and "weiquan" in scripts
    assert APP.exec_form("CMD") == ["serve"]
    _runs(APP.exec_form("CMD"))
    for name in APP_SERVICES:
        command = [with_defaults(word) for word in compose()["services"][name]["command"]]
        _runs(command)
    entry = RASA.exec_form("ENTRYPOINT")
    assert entry[0] == ".venv-rasa/bin/python" and (ROOT / entry[1]).is_file()
    assert "deploy/rasa_serve.py" in RASA.copy_sources()


async def test_the_app_listens_on_every_interface_and_checks_a_real_route(
    tmp_path: Path,
) -> None:
    import httpx

    from bot.app import create_app

    env = APP.env()
    assert env["WEIQUAN_HOST"] == "0.0.0.0"  # noqa: S104 - the container is reached from outside
    assert RASA.all("USER") == ["weiquan"] and APP.all("USER") == ["weiquan"]
    health = APP.all("HEALTHCHECK")[-1]
    path = re.search(r"\$\{WEIQUAN_PORT\}(/\w+)", health)
    assert path is not None
    assert path.group(1) == "/healthz"
    transport = httpx.ASGITransport(app=create_app(Settings(data_dir=tmp_path)))
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        assert (await http.get(path.group(1))).status_code == 200


def test_nginx_template_variables_are_all_set_by_compose() -> None:
    wanted = template_variables(NGINX_TEMPLATE.read_text())
    given = set(environment("nginx"))
    assert wanted == given
    volumes = compose()["services"]["nginx"]["volumes"]
    assert "./nginx.conf:/etc/nginx/templates/default.conf.template:ro" in volumes


def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    if balancer.NGINX is None:
        pytest.skip(balancer.NO_NGINX)
    values = environment("nginx")
    # Everything as compose renders it, but the certificate directory, which is the
    # deployment's own: nginx -t loads the certificate, so it needs one.
    values["TLS_DIR"] = str(balancer.certificate(tmp_path / "certs"))
    result = balancer.check(tmp_path / "nginx", values)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
