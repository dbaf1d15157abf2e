"""Watching a CCC certificate from chat (关注这个证书 / watch this certificate).

After a certificate check the answer offers a button, and the next message may say
"关注这个证书" / "watch this certificate"; "关注证书 2021…" / "watch certificate 2021…" works at
any time. A watch is one of the sender's subscriptions (topic ``certificate``): "我的订阅" lists
it and "退订" drops it. The pipeline applies ``WatchCertificate`` (``bot/watchers.py``) with
the registry status the sender was shown; a later registry import that changes it tells them.
"""

from __future__ import annotations

from typing import Any

from dialogues.actions import Pending, Subscriptions, Topic, WatchCertificate
from dialogues.knowledge_port import CertificateCheck, CertStatus
from dialogues.model import Button, Reply, Turn
from dialogues.ports import Ports
from dialogues.state import ConversationState, Expect
from dialogues.subscriptions import MAX_SUBSCRIPTIONS, ask_consent
from dialogues.texts import t

WATCH_PAYLOAD = "/watch:"
# What the follow-up to a check expects (``Expect.answer``).
EXPECT = "ccc_watch"
_TRIM = " \t\r\n。！!.,，?？:：\"'“”"
# Said right after a check: the certificate just checked.
_THIS = frozenset(
    {
        "关注这个证书",
        "关注此证书",
        "关注该证书",
        "关注这张证书",
        "关注证书",
        "关注它",
        "关注",
        "watch this certificate",
        "watch the certificate",
        "watch certificate",
        "watch this",
        "watch it",
        "watch",
    }
)
# Said with a number, at any time.
_WITH_NUMBER = ("关注证书", "关注", "watch certificate", "watch")


def offer(check: CertificateCheck, lang: str) -> tuple[Button, Expect] | None:
    """The button under a found certificate, and what the next message may say about it."""
    if check.certificate is None:
        return None
    number = check.certificate.cert_no
    return (
        Button(t(lang, "watch.button"), f"{WATCH_PAYLOAD}{number}"),
        Expect(EXPECT, {"cert_no": number}),
    )


def _folded(text: str) -> str:
    return text.strip(_TRIM).casefold()


async def follow_up(turn: Turn, ports: Ports, data: dict[str, Any]) -> list[Reply] | None:
    """ "关注这个证书" right after a check; None (route as usual) for anything else."""
    if turn.kind != "text" or _folded(turn.text) not in _THIS:
        return None
    return await watch(str(data.get("cert_no", "")), turn, ports)


async def route(turn: Turn, text: str, ports: Ports) -> list[Reply] | None:
    """The ``/watch:`` button, or "关注证书 <number>"; None when the text is neither."""
    if turn.kind not in {"text", "button"} or len(text) > 80:
        return None
    if text.startswith(WATCH_PAYLOAD):
        return await watch(text.removeprefix(WATCH_PAYLOAD), turn, ports)
    folded = _folded(text)
    if folded in _THIS:
        return [Reply(t(turn.lang, "watch.which"))]
    for prefix in _WITH_NUMBER:
        if folded.startswith(prefix):
            rest = folded.removeprefix(prefix).strip(_TRIM)
            if rest and sum(ch.isdigit() for ch in rest) >= 8:
                return await watch(rest, turn, ports)
            return None
    return None


async def watch(number: str, turn: Turn, ports: Ports) -> list[Reply]:
    """Look the number up (the watcher starts from the status it has now) and watch it."""
    lang = turn.lang
    if ports.knowledge is None or not number or len(number) > 40:
        return [Reply(t(lang, "watch.which"))]
    check = await ports.knowledge.check_certificate(number, on=turn.now.date())
    if check.registry_unavailable:
        return [Reply(t(lang, "ccc.unavailable"))]
    if check.certificate is None:
        return [Reply(t(lang, "watch.not_found", number=check.number.normalized or number))]
    cert_no = check.certificate.cert_no
    shown = check.certificate.status

    def then(receipt: Subscriptions, state: ConversationState) -> list[Reply]:
        topic = Topic("certificate", cert_no)
        mine = [Button(t(lang, "alerts.button.mine"), "/subscriptions")]
        if receipt.changed:
            text = t(lang, "watch.watching", number=cert_no, status=status_label(shown, lang))
            # On WeChat a notice may come after the 48-hour window: as an alert's would.
            return [Reply(text, mine), *([ask_consent(lang)] if receipt.consent is False else [])]
        if topic in receipt.current:
            return [Reply(t(lang, "watch.already", number=cert_no), mine)]
        return [Reply(t(lang, "alerts.too_many", max=MAX_SUBSCRIPTIONS))]

    return [Pending(WatchCertificate(cert_no, shown.value, lang), then)]


def status_label(status: CertStatus | str, lang: str) -> str:
    """The registry's word for a status: 有效/暂停/撤销/注销/过期, or the English name."""
    try:
        value = CertStatus(status)
    except ValueError:
        return str(status)
    return value.zh if lang == "zh" else value.value
