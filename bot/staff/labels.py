"""What staff read for a stored value: the label from the flows and texts, never the key.

Cases keep keys (``counterfeit_brand``, ``online_shop``, ``telegram``) so rules and scripts
can match them; every staff view (console, dashboard, exports, the command line) shows them
through here, in Chinese or English, from the same texts the consumer saw.
"""

from __future__ import annotations

from typing import Any

from dialogues.flows import all_flows
from dialogues.texts import has, t

# Case facts set at submission rather than asked.
OTHER_FIELDS = {"identity_code": {"zh": "身份代码（匿名举报人领奖用）", "en": "Identity code"}}
CHANNELS = {
    "wechat": {"zh": "微信", "en": "WeChat"},
    "telegram": {"zh": "Telegram", "en": "Telegram"},
    "rest": {"zh": "网页", "en": "Web"},
}
EVENTS = {
    "submitted": {"zh": "提交", "en": "Submitted"},
    "transition": {"zh": "状态变更", "en": "Status changed"},
    "extended": {"zh": "核查期限延长", "en": "Verification extended"},
    "paused": {"zh": "暂停计时", "en": "Clock paused"},
    "reporter_notified": {"zh": "已告知举报人", "en": "Reporter told"},
    "forwarded": {"zh": "移送", "en": "Forwarded"},
    "report_merged_in": {"zh": "合并入后来的举报", "en": "Later report merged in"},
    "merged": {"zh": "并入先登记的举报", "en": "Merged into an earlier report"},
    "evidence_added": {"zh": "补充证据", "en": "Evidence added"},
}


def kind(value: str, lang: str = "zh") -> str:
    return t(lang, f"flow.{value}") if has(lang, f"flow.{value}") else value


def status(value: str, lang: str = "zh") -> str:
    key = f"status.label.{value}"
    return t(lang, key) if has(lang, key) else value


def channel(value: str, lang: str = "zh") -> str:
    return CHANNELS.get(value, {}).get(lang, value)


def event(value: str, lang: str = "zh") -> str:
    return EVENTS.get(value, {}).get(lang, value)


def actor(value: str, lang: str = "zh") -> str:
    """Who acted: the consumer by their channel (``telegram:user``), staff by name."""
    if value.endswith(":user"):
        where = channel(value.removesuffix(":user"), lang)
        return f"消费者（{where}）" if lang == "zh" else f"Consumer ({where})"
    return value


def field_name(case_kind: str, slot: str, lang: str = "zh") -> str:
    """The question's own label (``field.product`` → 商品)."""
    flow = all_flows().get(case_kind)
    if flow is not None and flow.has_step(slot):
        return t(lang, flow.step(slot).label)
    return OTHER_FIELDS.get(slot, {}).get(lang, slot)


def field_value(case_kind: str, slot: str, value: Any, lang: str = "zh") -> str:
    """A stored answer as the consumer's summary showed it: choices by their label, yes/no
    in words; free text (and an "other" answer typed in) as given."""
    if value is None or value == "":
        return "—"
    flow = all_flows().get(case_kind)
    step = flow.step(slot) if flow is not None and flow.has_step(slot) else None
    if isinstance(value, bool):
        return t(lang, "value.yes" if value else "value.no")
    if isinstance(value, list):
        return "、".join(_choice(f"{slot}.{v}", v, lang) for v in value) or "—"
    if step is not None and step.type == "secret":
        return t(lang, "value.secret_set")
    if step is not None and step.type == "choice" and step.labelled and value in step.choices:
        return _choice(f"{case_kind}.{slot}.{value}", value, lang)
    return str(value)


def _choice(key: str, value: Any, lang: str) -> str:
    return t(lang, key) if has(lang, key) else str(value)


def category_key(case_kind: str, fields: dict[str, Any]) -> str:
    """The stored category: the violation of a report, the product of a complaint."""
    value = fields.get("violation") if case_kind == "report" else fields.get("product")
    return str(value or "")


def category(case_kind: str, fields: dict[str, Any], lang: str = "zh") -> str:
    slot = "violation" if case_kind == "report" else "product"
    value = fields.get(slot)
    if not value:
        return ""
    return field_value(case_kind, slot, value, lang)


def target(case_kind: str, merchant: str | None, fields: dict[str, Any]) -> str:
    """Who the case is about: the complaint's merchant, the report's target (被举报对象)."""
    return str(merchant or fields.get("merchant") or fields.get("target_name") or "")
