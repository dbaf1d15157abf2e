"""Evidence files are encrypted on disk with a key of their own; staff downloads decrypt them,
the same picture is stored once, files from before encryption still open, and a file moved
or altered on disk refuses to open."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import filetype
import pytest

from bot.crypto import UndecryptableValue, new_key_text
from bot.evidence import MAGIC
from bot.settings import SecuritySettings, Settings
from tests.bot.backoffice_helpers import client_for, make_staff, office_app, token_for
from tests.bot.test_api_console import login
from tests.bot.test_complaint_flow import HAPPY
from tests.factories import chat_for, png_bytes, run

pytestmark = pytest.mark.databases("sqlite")

KEY = new_key_text()


def stored_files(app: Any) -> list[Path]:
    root: Path = app.state.evidence.root
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def file_complaint(app: Any, photo: bytes) -> str:
    chat = chat_for(app)
    await run(chat, HAPPY[:13])
    await chat.photo(photo)
    await chat.say("/done")
    await run(chat, HAPPY[14:])
    await chat.say("/confirm")
    case_no: str = chat.last[0].custom["case_no"]
    return case_no


async def test_files_are_encrypted_and_staff_downloads_decrypt(settings: Settings) -> None:
    photo = png_bytes(seed=11, size=16)
    keyed = settings.model_copy(update={"security": SecuritySettings(pii_key=KEY)})
    async with office_app(keyed) as app, client_for(app) as client:
        first = await file_complaint(app, photo)
        second = await file_complaint(app, photo)  # another person, the same picture
        [path] = stored_files(app)  # content-addressed: stored once
        sha = path.name
        stored = path.read_bytes()
        clear = app.state.evidence.read(sha)
        assert hashlib.sha256(clear).hexdigest() == sha
        assert stored.startswith(MAGIC) and filetype.guess(stored) is None
        assert clear not in stored and clear[8:40] not in stored
        assert b"\x89PNG" not in stored and b"IDAT" not in stored

        await make_staff(app, "li", "agent")
        h = await token_for(client, "li")
        for case_no in (first, second):
            r = await client.get(f"/api/v1/cases/{case_no}/evidence/{sha}", headers=h)
            assert r.status_code == 200 and r.content == clear
            assert r.headers["content-type"] == "image/png"

        await login(client, "li")
        r = await client.get(f"/console/cases/{first}/evidence/{sha}?download=1")
        assert r.status_code == 200 and r.content == clear
        assert r.headers["content-disposition"].startswith("attachment;")


async def test_clear_files_from_before_still_open_and_tampering_is_refused(
    settings: Settings,
) -> None:
    keyed = settings.model_copy(update={"security": SecuritySettings(pii_key=KEY)})
    async with office_app(keyed) as app, client_for(app) as client:
        store = app.state.evidence
        legacy = png_bytes(seed=21, size=16)
        case_no = await file_complaint(app, legacy)
        [path] = stored_files(app)
        clear = store.read(path.name)
        path.write_bytes(clear)  # as a file written before encryption existed
        await make_staff(app, "li", "agent")
        h = await token_for(client, "li")
        r = await client.get(f"/api/v1/cases/{case_no}/evidence/{path.name}", headers=h)
        assert r.status_code == 200 and r.content == clear
        assert store.reseal(path.name) and path.read_bytes().startswith(MAGIC)
        assert store.read(path.name) == clear and not store.reseal(path.name)

        other = (await store.save_image(png_bytes(seed=22, size=16))).sha256
        # A sealed file copied over another name (content-addressing would hide the swap).
        store.path_for(path.name).write_bytes(store.path_for(other).read_bytes())
        with pytest.raises(UndecryptableValue, match="does not belong here"):
            store.read(path.name)
        sealed = bytearray(store.path_for(other).read_bytes())
        sealed[-20] ^= 1  # one flipped bit in the picture
        store.path_for(other).write_bytes(bytes(sealed))
        with pytest.raises(UndecryptableValue, match="altered"):
            store.read(other)
