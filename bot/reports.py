"""Report specifics: the normalised target that finds duplicates, and the reward checklist."""

from __future__ import annotations

import re
import secrets
import unicodedata
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.db.models import Case
from nlu.datafile import read_yaml

RULES = Path(__file__).parent / "rules" / "reports.yml"
# Host labels are at most 63 characters and few: bounded, a long run of letters or dots is
# read a constant number of times from each position instead of to its end.
_URL = re.compile(r"(?:https?://)?(?:[\w-]{1,63}\.){1,10}[a-z]{2,}(?:/[^\s，。]*)?", re.I)
_NOISE = re.compile(r"[\W_]+", re.UNICODE)
# Shop-identifying query parameters (Taobao/Tmall shop and item ids and the like).
_ID_PARAMS = ("shop_id", "shopid", "id", "item_id", "user_id", "seller_id")


@cache
def rules() -> dict[str, Any]:
    return dict(read_yaml(RULES))


def name_key(name: str | None) -> str | None:
    """Width, case, spaces and punctuation folded: 「某某 数码店」 == 某某数码店."""
    if not name:
        return None
    folded = _NOISE.sub("", unicodedata.normalize("NFKC", name).casefold())
    return folded[:200] or None


def link_key(text: str | None) -> str | None:
    """A store link without scheme, ``www.``/``m.``, tracking parameters or trailing slash."""
    if not text:
        return None
    match = _URL.search(unicodedata.normalize("NFKC", text))
    if match is None:
        return None
    raw = match.group(0)
    parts = urlsplit(raw if "://" in raw else f"https://{raw}")
    host = re.sub(r"^(www|m)\.", "", parts.hostname or "")
    params = sorted(p for p in parts.query.split("&") if p.split("=", 1)[0].lower() in _ID_PARAMS)
    key = host + parts.path.rstrip("/") + ("?" + "&".join(params) if params else "")
    return key.lower()[:300] or None


def is_open(case: Case) -> bool:
    """Whether a report is still being worked (``open_statuses``): one that may be merged
    into, or merged."""
    return case.status in rules()["open_statuses"]


def _open_reports(now: datetime) -> list[Any]:
    window = timedelta(days=int(rules()["duplicate_window"]["calendar_days"]))
    return [
        Case.kind == "report",
        Case.status.in_(rules()["open_statuses"]),
        Case.submitted_at >= now - window,
        Case.duplicate_of_id.is_(None),
    ]


def find_duplicate(
    session: Session,
    *,
    name: str | None,
    link: str | None,
    now: datetime,
    uscc: str | None = None,
    region: str | None = None,
) -> Case | None:
    """The earliest open report on the same business within the window, if any.

    The same business is the same credit code, the same store link, or the same name in the
    same county: a name alone is shared by shops all over the country (two 华为专卖店 in two
    cities are two sellers), so it merges only where the region is known and equal.
    """
    same = [
        c
        for c in (
            Case.respondent_uscc == uscc if uscc else None,
            Case.target_link_key == link if link else None,
            (Case.target_name_key == name) & (Case.region_code == region)
            if name and region
            else None,
        )
        if c is not None
    ]
    if not same:
        return None
    stmt = select(Case).where(*_open_reports(now), or_(*same)).order_by(Case.id).limit(1)
    return session.execute(stmt).scalar_one_or_none()


# Letters and digits that cannot be misread for one another (no 0/O, 1/I/L).
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def wants_anonymous_reward(fields: dict[str, Any]) -> bool:
    return fields.get("identity") == "anonymous" and bool(fields.get("reward"))


def new_identity_code() -> str:
    """An anonymous reporter's identity code (国市监稽规〔2021〕4号): ``NM`` + 8 random
    characters, about 40 bits, shown to the reporter and to staff, never guessable."""
    return "NM" + "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))


def similar_elsewhere(
    session: Session, *, name: str | None, region: str | None, now: datetime, limit: int = 5
) -> list[str]:
    """Open reports naming a shop of the same name whose region differs or is unknown: for
    staff to judge (a merge across regions is proposed, never made)."""
    if not name:
        return []
    stmt = (
        select(Case.case_no)
        .where(*_open_reports(now), Case.target_name_key == name)
        .order_by(Case.id)
        .limit(limit)
    )
    if region:
        stmt = stmt.where((Case.region_code.is_(None)) | (Case.region_code != region))
    return list(session.execute(stmt).scalars())


def reward_checklist(
    fields: dict[str, Any], personal: dict[str, Any], evidence_count: int
) -> dict[str, Any]:
    """Each reward condition as met / not_met / staff (judged by staff on the facts).

    An anonymous reporter is identifiable by the identity code and the report password, with
    the identity proved at payout; a consumer's own purchase is flagged for staff, not
    excluded (FACTS §2)."""
    identified = all(personal.get(k) for k in ("name", "id_number", "phone")) or bool(
        fields.get("identity_code") and personal.get("report_password")
    )
    target = (
        len(str(fields.get("target_name") or "")) >= 2
        and len(str(fields.get("target_location") or "")) >= 2
    )
    return {
        "reward_requested": bool(fields.get("reward")),
        "identified_reporter": "met" if identified else "not_met",
        "specific_target": "met" if target else "not_met",
        # Whether a photo is *key* evidence is a judgement; no photo is plainly not met.
        "key_evidence": "staff" if evidence_count else "not_met",
        # Major means a crime or a heavy penalty, thresholds set by each province.
        "major_violation": "staff",
        "own_dispute": bool(fields.get("own_dispute")),
        "identity_code": fields.get("identity_code"),
    }
