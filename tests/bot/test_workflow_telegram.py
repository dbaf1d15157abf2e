"""Case notices and staff replies reach a Telegram user through the real Telegram delivery."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.app import create_app
from bot.settings import Settings
from bot.staff.extension import BackofficeExtension
from tests.bot.backoffice_helpers import (
    Clock,
    client_for,
    make_staff,
    office_settings,
    submit_case,
    token_for,
)
from tests.integrations.telegram_double import SECRET, BotApiDouble, running_double

pytestmark = pytest.mark.filterwarnings(
    "ignore:Deprecated since version v22.2:telegram.warnings.PTBDeprecationWarning"
)


@pytest.fixture
def double() -> Iterator[BotApiDouble]:
    with running_double() as double:
        yield double


async def test_transition_notice_arrives_in_telegram(
    sqlite_settings: Settings, double: BotApiDouble
) -> None:
    from integrations.telegram import TelegramExtension, TelegramSettings

    telegram = TelegramSettings(
        token=double.token,
        secret=SECRET,
        base_url=double.base_url,
        base_file_url=double.base_file_url,
    )
    clock = Clock()
    office = BackofficeExtension(clock=clock, run_jobs=False)
    app = create_app(
        office_settings(sqlite_settings).model_copy(update={"telegram": telegram}),
        extensions=[TelegramExtension(), office],
        migrate=False,
        run_outbox=False,
    )
    async with app.router.lifespan_context(app), client_for(app) as client:
        app.state.outbox.clock = clock
        await make_staff(app, "li", "agent")
        h = await token_for(client, "li")
        case_no = await submit_case(app, at=clock.at, channel="telegram", sender="424242")
        r = await client.post(
            f"/api/v1/cases/{case_no}/transitions", json={"to": "accepted"}, headers=h
        )
        assert r.status_code == 200
        while await app.state.outbox.run_once():  # every due row, a user's in order
            pass
    [sent] = double.sent(424242)
    assert sent.params["text"].startswith(f"您的投诉 {case_no} 已受理")
