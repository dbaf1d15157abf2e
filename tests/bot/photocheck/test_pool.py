"""The photo pool's limits: a burst of photos gets "busy", a stuck photo a timeout, and
neither blocks the event loop or loses the worker for the next photo."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.photocheck.errors import Busy, PhotoError, ReadTimeout, Unreadable
from bot.photocheck.pool import OcrPool
from tests.bot.photocheck import pool_helpers

ROOT = Path(__file__).resolve().parents[3]


def pid_of(reading: object) -> str:
    return reading.lines[0].text  # type: ignore[attr-defined, no-any-return]


async def test_full_queue_answers_busy_at_once_and_the_queued_photo_is_read() -> None:
    pool = OcrPool(workers=1, queue=1, timeout=30, recognise=pool_helpers.slow, prepare=None)
    try:
        reading = asyncio.create_task(pool.read(b"1.5"))
        queued = asyncio.create_task(pool.read(b"0"))
        await asyncio.sleep(0.05)
        assert pool.waiting == 1
        with pytest.raises(Busy, match="busy, try again in a minute"):
            await pool.read(b"0")
        assert (await reading).lines and (await queued).lines
        assert pool.waiting == 0
        await pool.read(b"0")  # room again once the burst is over
    finally:
        await pool.close()


async def test_stuck_photo_times_out_and_the_next_photo_gets_a_fresh_worker() -> None:
    pool = OcrPool(workers=1, queue=2, timeout=1.5, recognise=pool_helpers.slow, prepare=None)
    try:
        first = pid_of(await pool.read(b"0"))
        with pytest.raises(ReadTimeout):
            await pool.read(b"60")
        second = pid_of(await pool.read(b"0"))
        assert second != first  # the stuck worker was killed, not left running
    finally:
        await pool.close()


async def test_worker_start_has_its_own_limit_apart_from_the_photos() -> None:
    pool = OcrPool(workers=1, queue=2, timeout=1.0, startup=60, recognise=pool_helpers.slow,
                   prepare=pool_helpers.slow_start)  # fmt: skip
    try:
        assert pid_of(await pool.read(b"0"))  # 2 s to start, not held against the 1 s photo
    finally:
        await pool.close()
    stuck = OcrPool(workers=1, timeout=30, startup=0.5, recognise=pool_helpers.slow,
                    prepare=pool_helpers.slow_start)  # fmt: skip
    with pytest.raises(ReadTimeout):
        await stuck.read(b"0")
    await stuck.close()
    broken = OcrPool(workers=1, recognise=pool_helpers.slow, prepare=pool_helpers.broken_start)
    with pytest.raises(PhotoError, match="models missing"):
        await broken.read(b"0")
    await broken.close()


async def test_event_loop_keeps_answering_while_photos_are_read() -> None:
    pool = OcrPool(workers=1, queue=4, timeout=30, recognise=pool_helpers.slow, prepare=None)
    try:
        photos = asyncio.gather(*(pool.read(b"0.5") for _ in range(3)))
        ticks = 0
        while not photos.done():
            await asyncio.sleep(0.01)
            ticks += 1
        await photos
        assert ticks > 50  # ~1.5 s of reading: the loop kept turning throughout
    finally:
        await pool.close()


async def test_unreadable_and_failing_photos_keep_the_worker() -> None:
    pool = OcrPool(workers=1, queue=2, timeout=30, recognise=pool_helpers.picky, prepare=None)
    try:
        first = pid_of(await pool.read(b"ok"))
        with pytest.raises(Unreadable):
            await pool.read(b"not a picture")
        with pytest.raises(PhotoError, match="a bug"):
            await pool.read(b"bug")
        assert pid_of(await pool.read(b"ok")) == first
    finally:
        await pool.close()


async def test_cancelled_read_does_not_hand_its_late_answer_to_the_next_photo() -> None:
    pool = OcrPool(workers=1, queue=2, timeout=30, recognise=pool_helpers.slow, prepare=None)
    try:
        await pool.read(b"0")
        task = asyncio.create_task(pool.read(b"1"))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        reading = await pool.read(b"0")
        assert reading.lines[0].text.startswith("pid ")
    finally:
        await pool.close()


def test_importing_the_app_loads_no_ocr() -> None:
    """A bot that never sees a photo pays nothing: no onnxruntime, OpenCV or models."""
    code = (
        "import sys, bot.app, bot.photocheck, bot.photocheck.pool, bot.photocheck.verdict;"
        "heavy = {'onnxruntime', 'cv2', 'rapidocr_onnxruntime', 'zxingcpp'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120,
        cwd=ROOT, env=env,
    )  # fmt: skip
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("workers", [0])
def test_pool_refuses_nonsense_limits(workers: int) -> None:
    with pytest.raises(ValueError):
        OcrPool(workers=workers)
