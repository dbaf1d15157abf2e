"""Uploads: photos are stored without EXIF/XMP/text metadata, and uploads that never reach a
case are cleaned up (row and file) after the configured time."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from PIL import Image, PngImagePlugin
from sqlalchemy import select

from bot.db.engine import engine_from_settings, make_sessionmaker
from bot.db.models import Evidence
from bot.evidence import EvidenceStore
from bot.housekeeping import sweep_orphan_evidence
from bot.photos import strip_metadata
from tests.bot.backoffice_helpers import submit_case
from tests.factories import chat_for, png_bytes

pytestmark = pytest.mark.databases("sqlite")

UPLOAD = "/webhooks/rest/upload"
GPS = 0x8825
ORIENTATION = 0x0112


def jpeg_with_gps() -> bytes:
    """A 40x20 photo, left half red and right half blue, EXIF saying "rotate 90° clockwise"
    and where it was taken."""
    image = Image.new("RGB", (40, 20), (220, 0, 0))
    image.paste((0, 0, 220), (20, 0, 40, 20))
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[0x010F] = "PhoneMaker"
    exif[0x013B] = "Zhang San"
    exif[GPS] = {1: "N", 2: (39.0, 54.0, 27.0), 3: "E", 4: (116.0, 23.0, 17.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=95)
    return out.getvalue()


def png_with_text() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Zhang San")
    info.add_text("Comment", "Home: Chaoyang Road 1", zip=True)
    info.add_itxt("Location", "39.9075,116.3972")
    out = io.BytesIO()
    Image.new("RGBA", (8, 8), (10, 20, 30, 128)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


async def stored_rows(app: FastAPI) -> list[Evidence]:
    async with app.state.sessions() as session:
        return list((await session.execute(select(Evidence).order_by(Evidence.id))).scalars())


async def test_a_photo_is_stored_without_its_gps(client: Any, app: FastAPI) -> None:
    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS)
    r = await client.post(
        UPLOAD, data={"sender": "u1"}, files={"file": ("IMG_0001.jpg", original, "image/jpeg")}
    )
    assert r.status_code == 200, r.text
    (row,) = await stored_rows(app)
    stored = app.state.evidence.read(row.sha256)
    # The SHA-256 names the stored (cleaned) copy, and its size is that copy's.
    assert hashlib.sha256(stored).hexdigest() == row.sha256 != hashlib.sha256(original).hexdigest()
    assert row.size == len(stored)
    assert r.json()[0]["text"].count(row.sha256[:12]) == 1
    image = Image.open(io.BytesIO(stored))
    assert image.format == "JPEG"
    assert not image.getexif()
    assert b"Exif" not in stored and b"Zhang San" not in stored and b"PhoneMaker" not in stored
    # The rotation is in the pixels now: standing upright, red on top, blue below.
    assert image.size == (20, 40)
    red, blue = image.getpixel((10, 5)), image.getpixel((10, 35))
    assert red[0] > 180 > red[2] and blue[2] > 180 > blue[0]


async def test_a_png_loses_its_text_chunks(client: Any, app: FastAPI) -> None:
    original = png_with_text()
    assert b"Zhang San" in original
    r = await client.post(
        UPLOAD, data={"sender": "u2"}, files={"file": ("a.png", original, "image/png")}
    )
    assert r.status_code == 200, r.text
    (row,) = await stored_rows(app)
    stored = app.state.evidence.read(row.sha256)
    for chunk in (b"tEXt", b"zTXt", b"iTXt", b"Zhang", b"116.39"):
        assert chunk not in stored
    image = Image.open(io.BytesIO(stored))
    assert image.mode == "RGBA" and image.getpixel((3, 3)) == (10, 20, 30, 128)


async def test_a_photo_without_metadata_is_stored_byte_for_byte(client: Any, app: FastAPI) -> None:
    original = png_bytes(7)
    r = await client.post(
        UPLOAD, data={"sender": "u3"}, files={"file": ("a.png", original, "image/png")}
    )
    assert r.status_code == 200
    (row,) = await stored_rows(app)
    assert row.sha256 == hashlib.sha256(original).hexdigest()
    assert app.state.evidence.read(row.sha256) == original


def test_webp_and_animated_gif_lose_exif_xmp_and_comments() -> None:
    frames = [Image.new("RGB", (12, 12), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    gif = io.BytesIO()
    frames[0].save(
        gif,
        "GIF",
        save_all=True,
        append_images=frames[1:],
        duration=[50, 60, 70],
        loop=0,
        comment=b"taken at home",
    )
    clean = strip_metadata(gif.getvalue(), "image/gif")
    assert b"taken at home" not in clean
    animation = Image.open(io.BytesIO(clean))
    assert animation.n_frames == 3
    shown = []
    for n in range(3):
        animation.seek(n)
        shown.append((animation.convert("RGB").getpixel((0, 0)), animation.info["duration"]))
    assert shown == [((255, 0, 0), 50), ((0, 255, 0), 60), ((0, 0, 255), 70)]

    exif = Image.Exif()
    exif[GPS] = {1: "N", 2: (39.0, 54.0, 27.0)}
    webp = io.BytesIO()
    frames[0].save(webp, "WEBP", exif=exif, xmp=b"<x:xmpmeta>home</x:xmpmeta>")
    assert b"EXIF" in webp.getvalue()
    clean = strip_metadata(webp.getvalue(), "image/webp")
    assert b"EXIF" not in clean and b"xmpmeta" not in clean
    assert Image.open(io.BytesIO(clean)).size == (12, 12)


async def test_an_absurdly_large_picture_is_refused(client: Any, app: FastAPI) -> None:
    big = io.BytesIO()
    Image.new("L", (9000, 8000)).save(big, "PNG")
    assert len(big.getvalue()) < 1024 * 1024
    r = await client.post(
        UPLOAD, data={"sender": "u4"}, files={"file": ("a.png", big.getvalue(), "image/png")}
    )
    assert r.status_code == 415
    assert r.json()["error"] == "not_an_image"
    assert await stored_rows(app) == []


# ---- orphan uploads ---------------------------------------------------------------------

HOURS = 72


def age_files(app: FastAPI, shas: list[str], at: datetime) -> None:
    """Files written back then (the rows already carry their own times)."""
    for sha in shas:
        os.utime(app.state.evidence.path_for(sha), (at.timestamp(), at.timestamp()))


def sha_of(seed: int) -> str:
    return hashlib.sha256(png_bytes(seed)).hexdigest()


@pytest.mark.databases("sqlite", "postgres")
async def test_orphan_uploads_are_deleted_after_the_limit(app: FastAPI) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    old = now - timedelta(hours=HOURS + 5)
    # Photos sent outside any form: rows with no case.
    stray = chat_for(app, sender="stray", now=old)
    await stray.photo(seed=1)  # an orphan past the limit: row and file go
    await stray.photo(seed=4)  # past the limit, but the same photo is kept by another row
    recent = chat_for(app, sender="recent", now=now - timedelta(hours=HOURS - 1))
    await recent.photo(seed=2)  # an orphan within the limit: stays
    owner = chat_for(app, sender="owner", now=old)
    await owner.photo(seed=3)
    await owner.photo(seed=4)
    case_no = await submit_case(app, channel="rest", sender="owner", at=old)
    await owner.say(f"/attach:{case_no}")
    assert case_no in owner.text
    age_files(app, [sha_of(n) for n in (1, 2, 3, 4)], old)
    before = {(r.sha256, r.case_id is not None) for r in await stored_rows(app)}
    assert len(before) == 5

    # Two instances (each its own engine and store) sweep the same database and directory at once.
    other = engine_from_settings(app.state.settings)
    try:
        swept = await asyncio.gather(
            sweep_orphan_evidence(
                app.state.sessions, app.state.evidence, now=now, older_than=timedelta(hours=HOURS)
            ),
            sweep_orphan_evidence(
                make_sessionmaker(other),
                EvidenceStore(app.state.settings.evidence_dir, app.state.evidence.keyring),
                now=now,
                older_than=timedelta(hours=HOURS),
            ),
        )
    finally:
        await other.dispose()

    after = {(r.sha256, r.case_id is not None) for r in await stored_rows(app)}
    assert after == {(sha_of(2), False), (sha_of(3), True), (sha_of(4), True)}
    assert (sum(s.rows for s in swept), sum(s.files for s in swept)) == (2, 1)
    store = app.state.evidence
    assert not store.path_for(sha_of(1)).exists()
    for seed in (2, 3, 4):
        assert store.read(sha_of(seed)) == png_bytes(seed)
    # Nothing is left aside, and the next sweep finds nothing to do.
    assert not [p for p in store.root.glob("??/??/*") if p.name.startswith(".")]
    again = await sweep_orphan_evidence(
        app.state.sessions, app.state.evidence, now=now, older_than=timedelta(hours=HOURS)
    )
    assert (again.rows, again.files) == (0, 0)


@pytest.mark.databases("sqlite", "postgres")
async def test_a_photo_sent_again_keeps_its_file_for_the_new_row(app: FastAPI) -> None:
    """The sweep never removes a file that an upload has just stored (or found) again."""
    now = datetime.now(UTC)
    old = now - timedelta(hours=HOURS + 5)
    await chat_for(app, sender="first", now=old).photo(seed=5)
    age_files(app, [sha_of(5)], old)
    # The same photo arrives again and is stored; its row is not written yet.
    await app.state.evidence.save_image(png_bytes(5))
    swept = await sweep_orphan_evidence(
        app.state.sessions, app.state.evidence, now=now, older_than=timedelta(hours=HOURS)
    )
    assert (swept.rows, swept.files) == (1, 0)
    assert app.state.evidence.read(sha_of(5)) == png_bytes(5)


@pytest.mark.databases("sqlite", "postgres")
async def test_every_running_app_sweeps(app: FastAPI) -> None:
    """The sweep is a task of the app itself (each instance runs one), not a separate job."""
    assert "evidence-housekeeping" in {t.get_name() for t in asyncio.all_tasks()}


@pytest.mark.parametrize("hours", [1.0, 72.0])
def test_the_orphan_limit_is_a_setting(
    hours: float, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.settings import Settings

    monkeypatch.setenv("WEIQUAN_EVIDENCE_ORPHAN_HOURS", str(hours))
    assert Settings(data_dir=tmp_path).chat.evidence_orphan_hours == hours


# ---- HEIC: metadata items blanked in place ----------------------------------------------

PICTURE = b"\x00\x00\x00\x18(HEVC coded picture, not decoded here)" * 4
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><exif:GPSLatitude>39,54.45N</exif:GPSLatitude></x:xmpmeta>'


def box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full(kind: bytes, version: int, *parts: bytes) -> bytes:
    return box(kind, bytes([version, 0, 0, 0]), *parts)


def infe(item_id: int, kind: bytes, content_type: bytes = b"") -> bytes:
    extra = content_type + b"\0" if content_type else b""
    return full(b"infe", 2, struct.pack(">HH4s", item_id, 0, kind), b"\0" + extra)


def heic(*, xmp_in_idat: bool = False, method: int = 0) -> tuple[bytes, bytes]:
    """A HEIC file laid out as phones write it (picture, EXIF with GPS and XMP items located by
    ``iloc`` version 1) and its EXIF payload."""
    exif = Image.Exif()
    exif[GPS] = {1: "N", 2: (39.0, 54.0, 27.0), 3: "E", 4: (116.0, 23.0, 17.0)}
    exif[0x010F] = "PhoneMaker"
    exif_item = struct.pack(">I", 6) + exif.tobytes()
    ftyp = box(b"ftyp", b"heic", struct.pack(">I", 0), b"mif1heic")
    iinf = full(
        b"iinf",
        0,
        struct.pack(">H", 3),
        infe(1, b"hvc1"),
        infe(2, b"Exif"),
        infe(3, b"mime", b"application/rdf+xml"),
    )
    idat = box(b"idat", XMP) if xmp_in_idat else b""

    def iloc(offsets: list[int]) -> bytes:
        items = b""
        lengths = [len(PICTURE), len(exif_item), len(XMP)]
        for n, (offset, length) in enumerate(zip(offsets, lengths, strict=True), start=1):
            how = (1 if xmp_in_idat and n == 3 else 0) or (method if n == 2 else 0)
            items += struct.pack(">HHHHII", n, how, 0, 1, offset, length)
        return full(b"iloc", 1, bytes([0x44, 0x00]), struct.pack(">H", 3), items)

    def layout(offsets: list[int]) -> bytes:
        meta = full(
            b"meta", 0, full(b"hdlr", 0, b"\0" * 4, b"pict", b"\0" * 13), iinf, iloc(offsets), idat
        )
        return ftyp + meta

    head = len(layout([0, 0, 0])) + 8
    offsets = [
        head,
        head + len(PICTURE),
        0 if xmp_in_idat else head + len(PICTURE) + len(exif_item),
    ]
    mdat = box(b"mdat", PICTURE, exif_item, b"" if xmp_in_idat else XMP)
    return layout(offsets) + mdat, exif_item


@pytest.mark.parametrize("xmp_in_idat", [False, True])
async def test_a_heic_photo_keeps_its_picture_and_loses_exif_and_xmp(
    client: Any, app: FastAPI, xmp_in_idat: bool
) -> None:
    original, exif_item = heic(xmp_in_idat=xmp_in_idat)
    assert exif_item in original and XMP in original
    r = await client.post(
        UPLOAD, data={"sender": "iphone"}, files={"file": ("IMG.HEIC", original, "image/heic")}
    )
    assert r.status_code == 200, r.text
    (row,) = await stored_rows(app)
    assert row.content_type == "image/heic"
    stored = app.state.evidence.read(row.sha256)
    assert len(stored) == len(original) and PICTURE in stored
    assert exif_item not in stored and b"PhoneMaker" not in stored and b"GPSLatitude" not in stored
    # Only the metadata bytes changed, to zeros.
    changed = [n for n, (a, b) in enumerate(zip(original, stored, strict=True)) if a != b]
    assert changed and all(stored[n] == 0 for n in changed)
    assert len(changed) <= len(exif_item) + len(XMP)


def test_a_heic_layout_we_cannot_follow_is_stored_as_sent() -> None:
    original, _ = heic(method=2)
    assert strip_metadata(original, "image/heic") == original
