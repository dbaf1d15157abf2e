"""Staff accounts, bearer tokens, login rate limiting, and who may call what."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.settings import Settings
from bot.staff.models import StaffUser
from tests.bot.backoffice_helpers import PASSWORD, client_for, make_staff, office_app, token_for

WEIQUAN = str(Path(sys.executable).parent / "weiquan")


@pytest.mark.databases("sqlite")
@pytest.mark.argon2_production_cost
async def test_token_for_good_password_and_refusals(settings: Settings) -> None:
    async with office_app(settings) as app, client_for(app) as client:
        await make_staff(app, "li.agent", "agent")
        r = await client.post(
            "/api/v1/auth/token", json={"username": "li.agent", "password": PASSWORD}
        )
        assert r.status_code == 200
        body = r.json()
        assert body["token_type"] == "bearer" and body["expires_in"] == 480 * 60
        me = await client.get(
            "/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"}
        )
        assert me.json() == {
            "username": "li.agent",
            "role": "agent",
            "display_name": "li.agent",
            "office": None,
        }
        wrong = await client.post(
            "/api/v1/auth/token", json={"username": "li.agent", "password": "nope"}
        )
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_credentials"
        nobody = await client.post(
            "/api/v1/auth/token", json={"username": "ghost", "password": PASSWORD}
        )
        assert nobody.status_code == 401
        bad = await client.post("/api/v1/auth/token", json={"username": "li.agent"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "password"]
        forged = await client.get("/api/v1/me", headers={"Authorization": "Bearer forged"})
        assert forged.status_code == 401
        assert (await client.get("/api/v1/me")).status_code == 401
        async with app.state.sessions() as session:
            user = (await session.execute(select(StaffUser))).scalar_one()
        assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash


async def test_login_rate_limited_per_user(settings: Settings) -> None:
    async with office_app(settings, login_max_failures=3) as app, client_for(app) as client:
        await make_staff(app, "wang", "supervisor")
        for _ in range(3):
            r = await client.post(
                "/api/v1/auth/token", json={"username": "wang", "password": "guess-guess"}
            )
            assert r.status_code == 401
        # Even the right password is refused while the account is being guessed at.
        r = await client.post("/api/v1/auth/token", json={"username": "wang", "password": PASSWORD})
        assert r.status_code == 429 and r.json()["retry_after"] == 15 * 60


ENDPOINTS = [
    ("GET", "/api/v1/cases", None),
    ("GET", "/api/v1/cases/TS20261127999999", None),
    ("POST", "/api/v1/cases/TS20261127999999/transitions", {"to": "accepted"}),
    ("POST", "/api/v1/cases/JB20261127999999/reveal", {"reason": "needed for the reward"}),
    ("GET", "/api/v1/cases/TS20261127999999/evidence/" + "0" * 64, None),
    ("GET", "/api/v1/queue", None),
    ("POST", "/api/v1/queue/999999/claim", None),
    ("GET", "/api/v1/dashboard", None),
    ("GET", "/api/v1/backoffice/deliveries", None),
    ("GET", "/api/v1/staff", None),
    (
        "POST",
        "/api/v1/staff",
        {"username": "new.one", "password": "long enough pw", "role": "agent"},
    ),
]
# What each role gets on an unknown resource: 404 means "let through", 403 "refused".
ALLOWED = {
    "agent": {0, 1, 2, 4, 5, 6, 7},
    "supervisor": {0, 1, 2, 3, 4, 5, 6, 7, 8},
    "admin": {9, 10},
}


@pytest.mark.databases("sqlite")
async def test_authorisation_matrix(settings: Settings) -> None:
    async with office_app(settings) as app, client_for(app) as client:
        headers = {}
        for role in ALLOWED:
            await make_staff(app, role, role)
            headers[role] = await token_for(client, role)
        for index, (method, path, body) in enumerate(ENDPOINTS):
            anonymous = await client.request(method, path, json=body)
            assert anonymous.status_code == 401, path
            for role, allowed in ALLOWED.items():
                r = await client.request(method, path, json=body, headers=headers[role])
                if index in allowed:
                    assert r.status_code in {200, 201, 404}, (role, path, r.status_code, r.text)
                else:
                    assert r.status_code == 403, (role, path, r.status_code)
                assert "Traceback" not in r.text


def test_cli_staff_add_reads_password_from_stdin(tmp_path: Path, sqlite_url: str) -> None:
    env = {
        "WEIQUAN_DATA_DIR": str(tmp_path / "var"),
        "WEIQUAN_DATABASE_URL": sqlite_url,
        "PATH": "/usr/bin:/bin",
    }
    ok = subprocess.run(
        [
            sys.executable,
            "-c",
            "from bot.cli.staff import app; app()",
            "add",
            "first.admin",
            "--role",
            "admin",
        ],
        input=PASSWORD + "\n",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert "created admin first.admin" in ok.stdout
    short = subprocess.run(
        [
            sys.executable,
            "-c",
            "from bot.cli.staff import app; app()",
            "add",
            "second",
            "--role",
            "agent",
        ],
        input="short\n",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert short.returncode == 2 and "at least 10" in short.stderr
    role = subprocess.run(
        [
            sys.executable,
            "-c",
            "from bot.cli.staff import app; app()",
            "add",
            "third",
            "--role",
            "boss",
        ],
        input=PASSWORD + "\n",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert role.returncode == 2 and "role must be one of" in role.stderr


@pytest.mark.databases("sqlite")
@pytest.mark.parametrize("name", ["Upper", "a", "with space", "x" * 40])
async def test_bad_usernames_refused(settings: Settings, name: str) -> None:
    from bot.staff.accounts import AccountError, add_staff

    async with office_app(settings) as app, app.state.sessions() as session:
        with pytest.raises(AccountError):
            await add_staff(
                session,
                username=name,
                password=PASSWORD,
                role="agent",
                now=__import__("datetime").datetime.now(__import__("datetime").UTC),
            )


async def test_housekeeping_purges_old_tokens_and_login_attempts(settings: Settings) -> None:
    """Expired tokens and month-old login attempts go; live tokens and recent attempts stay."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import func

    from bot.staff.accounts import purge_expired
    from bot.staff.models import LoginAttempt, StaffToken

    async with office_app(settings) as app, client_for(app) as client:
        await make_staff(app, "wang.agent", "agent")
        live = await token_for(client, "wang.agent")
        await client.post("/api/v1/auth/token", json={"username": "wang.agent", "password": "x"})
        now = datetime.now(UTC)
        async with app.state.sessions() as session, session.begin():
            user = (await session.execute(select(StaffUser))).scalar_one()
            old = now - timedelta(days=40)
            session.add(
                StaffToken(
                    token_hash="0" * 64,
                    user_id=user.id,
                    kind="api",
                    csrf="c",
                    created_at=old,
                    expires_at=old + timedelta(hours=8),
                    revoked=False,
                )
            )
            session.add(LoginAttempt(username="wang.agent", ip="10.0.0.9", succeeded=False, at=old))
        async with app.state.sessions() as session, session.begin():
            tokens, attempts = await purge_expired(session, now=now)
        assert (tokens, attempts) == (1, 1)
        async with app.state.sessions() as session:
            left = (await session.execute(select(func.count()).select_from(StaffToken))).scalar()
            recent = (
                await session.execute(select(func.count()).select_from(LoginAttempt))
            ).scalar()
        assert left == 1 and recent == 2  # the good login and the failed one just now
        me = await client.get("/api/v1/me", headers=live)
        assert me.status_code == 200
