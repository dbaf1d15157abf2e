"""Reply texts users read: every status, validation error, catalogue answer and listing."""

from __future__ import annotations

from datetime import date

import pytest

from bot.knowledge.service import load_knowledge_base
from dialogues.answers import (
    catalogue_reply,
    certificate_reply,
    human_button,
    knowledge_reply,
    listing_reply,
)
from dialogues.knowledge_port import (
    CatalogueAnswer,
    Certificate,
    CertificateCheck,
    CertStatus,
    KnowledgeAnswer,
    Match,
    NumberCheck,
    Requirement,
)
from dialogues.texts import catalogue
from integrations.ccc import sample
from integrations.ccc.catalogue import default_catalogue
from integrations.ccc.numbers import validate
from integrations.ccc.service import CccService

ON = date(2026, 6, 1)


class _Registry:
    def __init__(self) -> None:
        self.records = {c.cert_no: c for c in sample.generate(20)}

    async def get(self, cert_no: str) -> Certificate | None:
        return self.records.get(cert_no)


SERVICE = CccService(_Registry(), today=lambda: ON)


def test_every_ccc_and_knowledge_key_exists_in_both_languages() -> None:
    mine = ("ccc.", "knowledge.")
    zh = {k for k in catalogue("zh") if k.startswith(mine)}
    en = {k for k in catalogue("en") if k.startswith(mine)}
    assert zh == en and len(zh) > 40


@pytest.mark.parametrize(
    ("number", "zh", "en"),
    [
        ("2024010914000001", "状态：有效", "Status: valid"),
        ("2024010914000002", "状态：暂停", "Status: suspended"),
        ("2023010914000003", "状态：撤销", "Status: revoked"),
        ("2022010901000004", "状态：注销", "Status: cancelled"),
        ("2017010701000005", "状态：过期", "Status: expired"),
        ("2019010702000006", "有效期已于2024年4月30日届满", "validity ended on 2024-04-30"),
    ],
)
async def test_every_status_in_both_languages_with_sample_warning(
    number: str, zh: str, en: str
) -> None:
    check = await SERVICE.check_certificate(number)
    assert zh in certificate_reply(check, "zh")
    reply_en = certificate_reply(check, "en")
    assert en in reply_en
    assert "SAMPLE" in reply_en and "cx.cnca.cn" in reply_en


@pytest.mark.parametrize(
    ("typed", "zh", "en"),
    [
        ("2016A10901123456", "有“A”", 'contains "A"'),
        ("201601090112345", "您发来的是15位", "yours has 15"),
        ("20160109011234567", "您发来的是17位", "yours has 17"),
        ("1999010901123456", "“1999”不合理", "1999 is not plausible"),
        ("", "没有看到证书编号", "I don't see a certificate number"),
    ],
)
async def test_every_validation_error_is_explained(typed: str, zh: str, en: str) -> None:
    check = await SERVICE.check_certificate(typed)
    assert zh in certificate_reply(check, "zh")
    assert en in certificate_reply(check, "en")
    assert "SAMPLE" not in certificate_reply(check, "en")


async def test_category_mismatch_is_called_out() -> None:
    check = await SERVICE.check_certificate("2024010914000001", product="插座")
    assert check.category_match is Match.MISMATCH
    assert "不符" in certificate_reply(check, "zh")
    assert "does not fit" in certificate_reply(check, "en")


async def test_not_found_is_not_called_fake_and_mentions_self_declaration() -> None:
    check = await SERVICE.check_certificate("2020010401000123", product="小电机")
    reply = certificate_reply(check, "zh")
    assert "查不到不等于一定是假的" in reply and "sdoc.cnca.cn" in reply
    assert "SAMPLE" not in reply


def test_registry_outage_reply() -> None:
    check = CertificateCheck(
        number=validate("2024010914000001", current_year=2026), on=ON, registry_unavailable=True
    )
    assert "暂时无法查询" in certificate_reply(check, "zh")


def test_power_bank_answers_depend_on_the_date() -> None:
    before = default_catalogue().answer("充电宝", on=date(2024, 7, 1))
    after = default_catalogue().answer("充电宝", on=date(2024, 8, 1))
    assert "还不需要CCC认证" in catalogue_reply(before, "zh")
    assert "2024年8月1日" in catalogue_reply(before, "zh")
    assert "2023年8月1日起已可以申请" in catalogue_reply(before, "zh")
    assert "必须取得3C证书" in catalogue_reply(after, "zh")
    assert "does not need CCC yet" in catalogue_reply(before, "en")


@pytest.mark.parametrize(
    ("product", "zh", "en"),
    [
        ("小电机", "自我声明", "self-declaration"),
        ("电动车头盔", "说法不一致", "Sources disagree"),
        ("口红", "不属于CCC", "outside CCC"),
        ("宇宙飞船", "没有找到", "not in our catalogue"),
        ("电动车", "GB 17761-2024", "GB 17761-2024"),
    ],
)
def test_catalogue_replies(product: str, zh: str, en: str) -> None:
    answer = default_catalogue().answer(product, on=ON)
    assert zh in catalogue_reply(answer, "zh")
    assert en in catalogue_reply(answer, "en")


async def test_listing_reply_has_verdict_steps_and_sample_warning() -> None:
    check = await SERVICE.check_listing("充电宝 10000mAh 3C证书 2024010914000002")
    reply = listing_reply(check, "zh")
    assert "商品类型：移动电源" in reply and "状态：暂停" in reply
    assert "结论：证书编号有问题" in reply and "举报" in reply and "退一赔三" in reply
    assert "SAMPLE" in reply
    assert "Next steps:" in listing_reply(check, "en")


async def test_listing_without_number_asks_for_it() -> None:
    check = await SERVICE.check_listing("超薄充电宝 包邮")
    assert "没有找到3C证书编号" in listing_reply(check, "zh")
    assert "ask the seller" in listing_reply(check, "en")


def test_knowledge_reply_and_dont_know() -> None:
    answer = KnowledgeAnswer(
        query="q",
        found=True,
        entry_id="x",
        title={"zh": "标题", "en": "Title"},
        body={"zh": "正文", "en": "Body"},
        source="《消费者权益保护法》第五十五条",
    )
    assert knowledge_reply(answer, "zh") == "标题\n正文\n出处：《消费者权益保护法》第五十五条"
    unknown = KnowledgeAnswer(query="q", found=False, offer_human=True)
    assert "转人工" in knowledge_reply(unknown, "zh")
    assert "staff member" in knowledge_reply(unknown, "en")
    assert human_button("en")["payload"] == "/human"


def test_dataclasses_need_no_infrastructure() -> None:
    check = CertificateCheck(number=NumberCheck(raw="", normalized=""), on=ON)
    assert not check.found and not check.is_sample
    answer = CatalogueAnswer(query="x", on=ON, requirement=Requirement.UNKNOWN)
    assert answer.name("en") == "x"
    assert (
        CertStatus.parse("有效") is CertStatus.VALID
        and CertStatus.parse("Expired") is CertStatus.EXPIRED
    )


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_users_see_official_citations_not_maintainer_notes(lang: str) -> None:
    base = await load_knowledge_base()  # the index every app in the process shares
    for entry in base.entries:
        answer = base.ask(entry.title["zh"])
        if not answer.found:
            continue
        reply = knowledge_reply(answer, lang)
        assert "FACTS" not in reply and "UNCONFIRMED" not in reply, reply
        assert answer.cite[lang] in reply
    for product in ("充电宝", "插线板", "儿童座椅", "口红"):
        reply = catalogue_reply(await SERVICE.ccc_required(product), lang)
        assert "FACTS" not in reply and "UNCONFIRMED" not in reply, reply
