"""Every pattern that may see user text runs in linear time, proved by attacking it with itself.

The patterns are discovered (module-level ``re.Pattern`` objects in nlu, integrations,
dialogues and bot, the tables compiled from YAML, and the regexes in data files) and must
match the inventory below, so a new extractor cannot slip in untested. Each one is fed
strings built from its own structure: long runs of what its repeats accept, its literals
interleaved, then a character that breaks the match. A call gets a generous CPU budget at
the longest accepted message, and four times the text must not cost much more than four
times the time.
"""

from __future__ import annotations

import gc
import importlib
import inspect
import pkgutil
import re
import string
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import cache, partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

# The regex engine's own parser: attacks are built from a pattern's parsed structure.
sre: Any = importlib.import_module("re._constants")
sre_parse: Any = importlib.import_module("re._parser")

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("nlu", "integrations", "dialogues", "bot")
# Rasa components run only inside the Rasa environment (Python 3.10 + rasa); Alembic
# scripts only under Alembic. Neither sees chat text.
NOT_IMPORTABLE_HERE = ("nlu.rasa_components", "bot.migrations")
MAX_CHARS = 4000  # settings.max_text_chars, the longest message the channels accept
LADDER = (125, 250, 500, 1000, 2000, MAX_CHARS)
BUDGET = 0.2  # seconds of CPU for one call on MAX_CHARS characters
GROWTH = 8.0  # 4x the text may cost at most 8x the time (linear: 4x, quadratic: 16x)
MEASURABLE = 0.005  # below this a ratio is timer noise
# Four quarter-length runs are compared from here up: a run of about a millisecond varies by
# half on a busy machine (seen: 0.7 ms and 1.3 ms for one linear pattern). A pattern slow
# enough to matter (tens of ms at full length) is still judged on its own times.
FLOOR = MEASURABLE / 4
NOW = datetime(2026, 11, 27, 12, tzinfo=ZoneInfo("Asia/Shanghai"))

# Every pattern, by where it lives. A new one fails test_inventory_is_complete until it is
# listed here (and so timed); one that is gone fails it until it is removed.
INVENTORY = frozenset(
    {
        # modules
        "bot.business.identity._ADDRESS_LABEL",
        "bot.business.offices.KEY",
        "bot.business.offices.PREFIX",
        "bot.console.pages.OFFICE",
        "bot.knowledge.base._WORD",
        "bot.alerts.CERT_NO",
        "bot.alerts.SPLIT",
        "bot.alerts.URL",
        "bot.knowledge.cases.PERSONAL['case_number']",
        "bot.knowledge.cases.PERSONAL['email']",
        "bot.knowledge.cases.PERSONAL['id_number']",
        "bot.knowledge.cases.PERSONAL['phone']",
        "bot.photocheck.fields._CERT_KEY",
        "bot.photocheck.fields._COSMETICS",
        "bot.photocheck.fields._DRUG",
        "bot.photocheck.fields._KEY",
        "bot.photocheck.fields._LICENCE_KEY",
        "bot.photocheck.fields._LISTING_WORDS",
        "bot.photocheck.fields._MARK",
        "bot.photocheck.fields._NAMEPLATE_WORDS",
        "bot.photocheck.fields._NEXT_KEY",
        "bot.photocheck.fields._PACKAGING_WORDS",
        "bot.photocheck.fields._SC",
        "bot.photocheck.matching._COMPANY_NOISE",
        "bot.photocheck.matching._MODEL_NOISE",
        "bot.photocheck.matching._RANGE_SPLIT",
        "bot.photocheck.matching._TRAILING_NOTE",
        "bot.reports._NOISE",
        "bot.reports._URL",
        "bot.staff.accounts.USERNAME",
        "dialogues.credit._CUE",
        "dialogues.credit._VERB_FIRST",
        "dialogues.engine.QUESTION_CUE",
        "dialogues.listing.CUES['platform']",
        "dialogues.listing.CUES['price']",
        "dialogues.listing.CUES['sales']",
        "dialogues.listing.CUES['shop']",
        "dialogues.listing.CUES['specs']",
        "dialogues.listing.NARRATIVE",
        "dialogues.listing.SHOP",
        "dialogues.listing.STRONG",
        "dialogues.listing.SUFFIXES",
        "dialogues.listing.URL",
        "dialogues.photo.DIGITS",
        "dialogues.form_reading._ADDRESS",
        "dialogues.form_reading._BARE_ORDER",
        "dialogues.form_reading._CLAUSE",
        "dialogues.form_reading._CONTENT",
        "dialogues.form_reading._FILLER",
        "dialogues.form_reading._STARTER",
        "dialogues.slots._HAN_NAME",
        "dialogues.slots._LATIN_NAME",
        "dialogues.slots._NAME_CUE",
        "dialogues.status.NUMBERISH",
        "integrations.ccc.listing._KEYWORD",
        "integrations.ccc.numbers._CANDIDATE",
        "integrations.ccc.numbers._SEPARATORS",
        "integrations.credit.reader._COMPACT_DATE",
        "integrations.credit.reader._DATE",
        "integrations.telegram.settings.SECRET_TOKEN",
        "integrations.telegram.split._BOUNDARIES[0]",
        "integrations.telegram.split._BOUNDARIES[1]",
        "integrations.telegram.split._BOUNDARIES[2]",
        "integrations.telegram.split._BOUNDARIES[3]",
        "integrations.telegram.split._BOUNDARIES[4]",
        "integrations.wechat.xmlcodec._DTD",
        "nlu.dates._EN_MONTH_DAY",
        "nlu.dates._EN_RELATIVE",
        "nlu.dates._PATTERNS[0]",
        "nlu.dates._PATTERNS[10]",
        "nlu.dates._PATTERNS[1]",
        "nlu.dates._PATTERNS[2]",
        "nlu.dates._PATTERNS[3]",
        "nlu.dates._PATTERNS[4]",
        "nlu.dates._PATTERNS[5]",
        "nlu.dates._PATTERNS[6]",
        "nlu.dates._PATTERNS[7]",
        "nlu.dates._PATTERNS[8]",
        "nlu.dates._PATTERNS[9]",
        "nlu.dates._SHORT_DATE_CUE",
        "nlu.evaluation._ANNOTATION",
        "nlu.fields._CLAIM_CUE",
        "nlu.fields._CORRECTION",
        "nlu.fields._HAN",
        "nlu.fields._LATIN_WORD",
        "nlu.fields._LEAD_FIRST",
        "nlu.fields._LEAD_LAST",
        "nlu.fields._MERCHANT",
        "nlu.fields._MODEL",
        "nlu.fields._UNKNOWN",
        "nlu.fields._URL",
        "nlu.identifiers._CASE_ID",
        "nlu.identifiers._CERT12",
        "nlu.identifiers._CERT16",
        "nlu.identifiers._CERT_CUE",
        "nlu.identifiers._ID_NUMBER",
        "nlu.identifiers._ID_SEPARATORS",
        "nlu.identifiers._INTERNATIONAL",
        "nlu.identifiers._LOCAL",
        "nlu.identifiers._MOBILE",
        "nlu.identifiers._ORDER",
        "nlu.identifiers._ORDER_CUE",
        "nlu.identifiers._PASSPORT",
        "nlu.identifiers._PERMIT_HKMO",
        "nlu.identifiers._PERMIT_TW",
        "nlu.identifiers._PHONE",
        "nlu.identifiers._PHONE_CUE",
        "nlu.normalise._ORDER_NO",
        "nlu.normalise._SEPARATORS",
        "nlu.numbers._MEASURE",
        "nlu.numbers._NEGATIVE_BEFORE",
        "nlu.numbers._PLAIN_DECIMAL",
        "nlu.numbers._PREFIX",
        "nlu.numbers._SUFFIX",
        "nlu.numbers._SYMBOL_BEFORE",
        "nlu.numbers._TOKEN",
        "nlu.spans._SEPARATORS_IN_DIGITS",
        "nlu.spans._SPACE_RUN",
        "nlu.train._EPOCH",
        "nlu.uscc._ASK",
        "nlu.uscc._CANDIDATE",
        "nlu.uscc._COMPANY",
        "nlu.uscc._NAME",
        "nlu.uscc._SEPARATORS",
        # compiled from nlu/data_rules at run time
        "lexicon:brands",
        "lexicon:person_name",
        "lexicon:platforms",
        "lexicon:products",
        *(
            f"keywords:{intent}.{kind}"
            for intent, kinds in {
                "affirm": ("prefix",),
                "ask_ccc_required": ("strong",),
                "ask_compensation": ("strong", "weak"),
                "ask_identify_fake": ("strong",),
                "ask_process": ("strong", "weak"),
                "ask_reward": ("strong",),
                "cancel": ("strong", "weak"),
                "case_status": ("strong", "weak"),
                "check_ccc_cert": ("strong",),
                "complain": ("strong", "weak"),
                "deny": ("prefix",),
                "goodbye": ("strong", "weak"),
                "greet": ("strong", "weak"),
                "help": ("strong", "weak"),
                "human_handoff": ("strong", "weak"),
                "report": ("strong", "weak"),
                "thank": ("strong", "weak"),
            }.items()
            for kind in kinds
        ),
        # regexes written in data files
        "nlu/data_rules/keywords.yml:ask_ccc_required.patterns[0]",
        "nlu/data_rules/keywords.yml:ask_ccc_required.patterns[1]",
        "nlu/data_rules/keywords.yml:ask_ccc_required.patterns[2]",
        "nlu/data_rules/keywords.yml:ask_identify_fake.patterns[0]",
        "nlu/data_rules/keywords.yml:ask_identify_fake.patterns[1]",
        "nlu/data_rules/keywords.yml:ask_reward.patterns[0]",
        "nlu/data_rules/keywords.yml:check_ccc_cert.patterns[0]",
        "nlu/data_rules/keywords.yml:check_ccc_cert.patterns[1]",
        "nlu/data_rules/keywords.yml:complain.patterns[0]",
        "nlu/data_rules/keywords.yml:complain.patterns[1]",
        "nlu/data_rules/keywords.yml:deny.patterns[0]",
        "nlu/data_rules/keywords.yml:report.patterns[0]",
        # run by Rasa's RegexFeaturizer and RegexEntityExtractor inside the Rasa process
        "nlu/data/regexes.yml:case_id[0]",
        "nlu/data/regexes.yml:cert_no[0]",
        "nlu/data/regexes.yml:cert_no[1]",
        "nlu/data/regexes.yml:id_number[0]",
        "nlu/data/regexes.yml:phone[0]",
    }
)


def _listed(finder: Callable[[str], Iterator[object]], text: str) -> list[object]:
    return list(finder(text))


def _span_value(entity: str, text: str) -> object:
    """How the Rasa path reads a span (the whole hostile text as one span)."""
    from nlu import normalise

    return normalise.normalise_value(entity, text, text, NOW)


@cache
def _extractors() -> dict[str, Callable[[str], object]]:
    from dialogues import credit
    from integrations.ccc import listing, numbers
    from nlu import dates, entities, fields, identifiers, lexicon, spans, uscc
    from nlu import numbers as amounts
    from nlu.rules import RuleParser

    """The public extraction entry points, each wrapped to take the text alone."""
    rules = RuleParser()
    table: dict[str, Callable[[str], object]] = {
        "nlu.entities.extract": lambda s: entities.extract(s, NOW),
        "nlu.rules.RuleParser.parse": lambda s: rules.parse(s, NOW),
        "nlu.dates.find_dates": lambda s: list(dates.find_dates(s, NOW)),
        "nlu.dates.parse_date": lambda s: dates.parse_date(s, NOW, allow_future=True),
        "nlu.numbers.find_amounts": lambda s: list(amounts.find_amounts(s)),
        "nlu.numbers.parse_amount": amounts.parse_amount,
        "nlu.lexicon.find_person_names": lambda s: list(lexicon.find_person_names(s)),
        "nlu.lexicon.parse_platform": lexicon.parse_platform,
        "nlu.spans.normalize_digits": lambda s: spans.normalize_digits(s, strip_separators=True),
        "nlu.spans.squeeze_space": spans.squeeze_space,
        "nlu.fields.find_urls": lambda s: list(fields.find_urls(s)),
        "nlu.fields.find_merchants": lambda s: list(fields.find_merchants(s)),
        "nlu.fields.find_model_numbers": lambda s: list(fields.find_model_numbers(s)),
        "nlu.fields.parse_model_no": fields.parse_model_no,
        "nlu.fields.detect_language": fields.detect_language,
        "nlu.fields.is_correction": fields.is_correction,
        "nlu.identifiers.identity_document": identifiers.identity_document,
        "integrations.ccc.numbers.find_candidates": numbers.find_candidates,
        "integrations.ccc.numbers.extract_number": numbers.extract_number,
        "integrations.ccc.numbers.normalize": numbers.normalize,
        "integrations.ccc.listing.find_listing_numbers": listing.find_listing_numbers,
        "nlu.uscc.find": uscc.find,
        "nlu.uscc.find_name": uscc.find_name,
        "nlu.uscc.validate": uscc.validate,
        "dialogues.credit.wants_check": credit.wants_check,
    }
    for name in ("phones", "cert_numbers", "case_ids", "id_numbers", "order_numbers"):
        finder = getattr(identifiers, f"find_{name}")
        table[f"nlu.identifiers.find_{name}"] = partial(_listed, finder)
    for name in ("phone", "cert_no", "case_id", "id_number", "order_no"):
        table[f"nlu.identifiers.parse_{name}"] = getattr(identifiers, f"parse_{name}")
    table["nlu.identifiers.parse_identity_document"] = lambda s: [
        identifiers.parse_identity_document(s, kind) for kind in identifiers.DOCUMENT_KINDS
    ]
    for entity in ("amount", "date", "phone", "cert_no", "case_id", "id_number", "order_no"):
        table[f"nlu.normalise.normalise_value[{entity}]"] = partial(_span_value, entity)
    table["nlu.normalise.normalise_value[platform]"] = partial(_span_value, "platform")
    return table


# ---- discovery ---------------------------------------------------------------------------


def _modules() -> Iterator[Any]:
    for package in PACKAGES:
        root = importlib.import_module(package)
        yield root
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if not info.name.startswith(NOT_IMPORTABLE_HERE):
                yield importlib.import_module(info.name)


def _patterns_in(name: str, value: object, depth: int = 0) -> Iterator[tuple[str, re.Pattern[Any]]]:
    """Patterns held by a module global, directly or in a tuple/list/dict (dates._PATTERNS)."""
    if isinstance(value, re.Pattern):
        yield name, value
    elif depth < 2 and isinstance(value, list | tuple):
        for i, item in enumerate(value):
            inner = f"{name}[{i}]" if depth == 0 else name
            yield from _patterns_in(inner, item, depth + 1)
    elif depth < 2 and isinstance(value, dict):
        for key, item in value.items():
            yield from _patterns_in(f"{name}[{key!r}]", item, depth + 1)


def _yaml_regexes(path: Path, node: object, where: str = "") -> Iterator[tuple[str, str]]:
    """Strings under ``pattern(s)``/``regex(es)`` keys in a data file."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}.{key}" if where else str(key)
            if key in ("pattern", "patterns", "regex", "regexes"):
                items = value if isinstance(value, list) else [value]
                for i, item in enumerate(items):
                    if isinstance(item, str):  # scores.pattern is a number, not a regex
                        yield f"{where}.{key}[{i}]" if where else f"{key}[{i}]", item
            else:
                yield from _yaml_regexes(path, value, here)
    elif isinstance(node, list):
        for item in node:
            yield from _yaml_regexes(path, item, where)


def _rasa_regexes(path: Path) -> Iterator[tuple[str, str]]:
    """``- regex: name`` entries of Rasa training data: one pattern per example line."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for item in data.get("nlu") or []:
        if isinstance(item, dict) and "regex" in item:
            lines = [ln.strip()[2:] for ln in str(item["examples"]).splitlines() if ln.strip()]
            for i, line in enumerate(lines):
                yield f"{item['regex']}[{i}]", line


@cache
def discovered() -> dict[str, re.Pattern[Any]]:
    """Every pattern the app can run on text, by inventory name."""
    from nlu import lexicon, rules

    found: dict[str, re.Pattern[Any]] = {}
    seen: set[int] = set()
    for module in _modules():
        for attr, value in vars(module).items():
            for name, pattern in _patterns_in(f"{module.__name__}.{attr}", value):
                if id(pattern) not in seen:  # a pattern imported elsewhere counts once
                    seen.add(id(pattern))
                    found[name] = pattern
    for kind in ("platforms", "products", "brands"):
        found[f"lexicon:{kind}"] = getattr(lexicon, kind)()._pattern
    found["lexicon:person_name"] = lexicon.name_rules().cues
    for intent in rules.default_table().intents:
        for kind in ("prefix", "strong", "weak"):
            pattern = getattr(intent, kind)
            if pattern is not None:
                found[f"keywords:{intent.name}.{kind}"] = pattern
    data_dirs = ("nlu/data_rules", "bot/rules", "dialogues/flows", "integrations/ccc/data")
    for folder in data_dirs:
        for path in sorted((ROOT / folder).glob("*.yml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            for where, source in _yaml_regexes(path, data):
                where = where.removeprefix("intents.")
                found[f"{folder}/{path.name}:{where}"] = re.compile(source)
    for path in sorted((ROOT / "nlu" / "data").glob("*.yml")):
        for where, source in _rasa_regexes(path):
            found[f"nlu/data/{path.name}:{where}"] = re.compile(source)
    return found


def test_inventory_is_complete() -> None:
    names = set(discovered())
    new, gone = sorted(names - INVENTORY), sorted(INVENTORY - names)
    assert not new, (
        f"new patterns that are not in the inventory: {new}. Make sure each runs in linear "
        "time on any text (bounded gaps, no nested or overlapping repeats), then add it to "
        "INVENTORY in this file so it is attacked like the others."
    )
    assert not gone, f"patterns in the inventory that no longer exist: {gone}; remove them."


def test_extractor_inventory_is_complete() -> None:
    """Public find_/parse_/extract functions of the text modules are all attacked."""
    modules = [
        "nlu.entities",
        "nlu.identifiers",
        "nlu.numbers",
        "nlu.dates",
        "nlu.lexicon",
        "nlu.fields",
        "integrations.ccc.numbers",
        "integrations.ccc.listing",
        "nlu.uscc",
    ]
    public = {
        f"{name}.{fn}"
        for name in modules
        for fn, obj in vars(importlib.import_module(name)).items()
        if inspect.isfunction(obj)
        and obj.__module__ == name
        and fn.startswith(("find_", "parse_", "extract"))
    }
    listed = {name for name in _extractors() if "[" not in name}
    assert not public - listed, f"extractors not attacked here: {sorted(public - listed)}"


# ---- building attacks from a pattern ------------------------------------------------------

_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)
_CATEGORIES = {
    sre.CATEGORY_DIGIT: r"\d",
    sre.CATEGORY_NOT_DIGIT: r"\D",
    sre.CATEGORY_SPACE: r"\s",
    sre.CATEGORY_NOT_SPACE: r"\S",
    sre.CATEGORY_WORD: r"\w",
    sre.CATEGORY_NOT_WORD: r"\W",
}
# Characters to try against a character set: the usual suspects of hostile chat text.
_UNIVERSE = (
    "1a 中。\t\n-.,:#/_￥¥+（）[]{}<>!?？，：、\u3000\xa0０１ｘ"
    + string.ascii_letters
    + string.digits
    + string.punctuation
    + "一二三四五六七八九十百千万亿两年月日号天周前块元"
)
_BREAKERS = ("\x01", "\n", "!", "x", "中", "1")


def _same(a: str, b: str, ignore_case: bool) -> bool:
    return a == b or (ignore_case and a.lower() == b.lower())


def _accepts(op: Any, av: Any, ch: str, ignore_case: bool) -> bool:
    """Whether one single-character node of a parsed pattern matches ``ch``."""
    if op is sre.LITERAL:
        return _same(chr(av), ch, ignore_case)
    if op is sre.NOT_LITERAL:
        return not _same(chr(av), ch, ignore_case)
    if op is sre.ANY:
        return ch != "\n"
    if op is sre.RANGE:
        lo, hi = av
        return any(
            lo <= ord(c) <= hi for c in {ch, ch.lower(), ch.upper()} if ignore_case or c == ch
        )
    if op is sre.CATEGORY:
        return bool(re.fullmatch(_CATEGORIES.get(av, r"(?!)"), ch))
    if op is sre.IN:
        negate = any(o is sre.NEGATE for o, _ in av)
        hit = any(_accepts(o, a, ch, ignore_case) for o, a in av if o is not sre.NEGATE)
        return hit != negate
    return False


def _single(sub: Any) -> tuple[Any, Any] | None:
    """The node when ``sub`` is one character matcher, else None."""
    items = list(sub)
    if len(items) == 1 and items[0][0] in (sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN):
        return items[0]
    return None


def _chars(node: tuple[Any, Any], ignore_case: bool) -> list[str]:
    """A few diverse characters the node accepts (a space, a digit, a letter, CJK, ...)."""
    accepted = [c for c in dict.fromkeys(_UNIVERSE) if _accepts(*node, c, ignore_case)]
    if node[0] is sre.LITERAL:
        accepted = [chr(node[1])]
    picks: dict[str, str] = {}
    for c in accepted:
        kind = (
            "space"
            if c.isspace()
            else "digit"
            if c.isdigit()
            else "cjk"
            if ord(c) > 0x2E80
            else ("alpha" if c.isalpha() else c)
        )
        picks.setdefault(kind, c)
    return list(picks.values())[:6]


def _sample(sub: Any, ignore_case: bool, groups: dict[int, str]) -> str:
    """One string that the (sub)pattern matches, best effort (lookarounds ignored)."""
    out: list[str] = []
    for op, av in sub:
        if op in (sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN):
            chars = _chars((op, av), ignore_case)
            out.append(chars[0] if chars else "")
        elif op is sre.BRANCH:
            out.append(_sample(av[1][0], ignore_case, groups))
        elif op is sre.SUBPATTERN:
            text = _sample(av[-1], ignore_case, groups)
            if av[0] is not None:
                groups[av[0]] = text
            out.append(text)
        elif op is sre.ATOMIC_GROUP:
            out.append(_sample(av, ignore_case, groups))
        elif op in _REPEATS:
            lo, _hi, body = av
            out.append(_sample(body, ignore_case, groups) * min(max(lo, 1), 30))
        elif op is sre.GROUPREF:
            out.append(groups.get(av, ""))
    return "".join(out)


class _Parts:
    """What an attack is made of: repeated units, literal words, and one whole sample."""

    def __init__(self, pattern: re.Pattern[Any]) -> None:
        source = pattern.pattern
        if isinstance(source, bytes):
            source = source.decode("latin-1")
        self.ignore_case = bool(pattern.flags & re.IGNORECASE)
        tree = sre_parse.parse(source, pattern.flags & ~re.UNICODE)
        self.units: list[str] = []
        self.words: list[str] = []
        self._walk(tree)
        self.whole = _sample(tree, self.ignore_case, {})

    def _walk(self, sub: Any) -> None:
        word = ""
        for op, av in sub:
            if op is sre.LITERAL:
                word += chr(av)
                continue
            if word:
                self.words.append(word)
                word = ""
            if op in _REPEATS:
                lo, hi, body = av
                if hi >= 2:
                    node = _single(body)
                    if node is not None:
                        self.units += _chars(node, self.ignore_case)
                    else:
                        self.units.append(_sample(body, self.ignore_case, {}))
                self._walk(body)
            elif op is sre.BRANCH:
                for branch in av[1]:
                    self.words.append(_sample(branch, self.ignore_case, {}))
                    self._walk(branch)
            elif op is sre.SUBPATTERN:
                self._walk(av[-1])
            elif op is sre.ATOMIC_GROUP:
                self._walk(av)
            elif op in (sre.ASSERT, sre.ASSERT_NOT):
                self._walk(av[1])
        if word:
            self.words.append(word)


def _fill(head: str, body: str, length: int, breaker: str) -> str:
    """``head`` + ``body`` repeated to ``length`` characters, the last one ``breaker``."""
    room = length - len(head) - 1
    if room <= 0 or not body:
        return (head * (length // max(len(head), 1) + 1))[: length - 1] + breaker
    return head + (body * (room // len(body) + 1))[:room] + breaker


def attacks(pattern: re.Pattern[Any]) -> list[Callable[[int], str]]:
    """Families of hostile strings for ``pattern``, each a function of the length wanted."""
    parts = _Parts(pattern)
    units = [u for u in dict.fromkeys(parts.units) if u][:8]
    words = sorted({w for w in parts.words if w}, key=lambda w: (-len(w), w))
    words = list(dict.fromkeys(words[:4] + sorted(set(parts.words) - {""})[:4]))[:6]
    families: dict[tuple[str, str, str], Callable[[int], str]] = {}

    def add(head: str, body: str, breaker: str) -> None:
        families.setdefault((head, body, breaker), lambda n: _fill(head, body, n, breaker))

    for unit in units:
        breakers = [b for b in _BREAKERS if b not in unit][:2]
        for breaker in breakers:
            add("", unit, breaker)
            for word in words:
                add(word, unit, breaker)
        for word in words[:3]:
            add("", word + unit, breakers[0])
            add("", word + unit * 3, breakers[0])
    for word in words:
        add("", word, "\x01")
    if parts.whole:
        add("", parts.whole, "\x01")
        add("", parts.whole + " ", "\x01")
    return list(families.values())


# ---- timing -------------------------------------------------------------------------------


def _cpu(fn: Callable[[], object]) -> float:
    """CPU time of this thread only: the regex engine runs here, holding the GIL, and threads
    other tests left behind (a server, a pool) must not be billed to the pattern."""
    # Nor the garbage collector: a full collection over the heap a long test run has built
    # can take a third of a second and land inside any call (seen: a 7 µs call billed 0.35 s).
    collecting = gc.isenabled()
    gc.disable()
    try:
        start = time.thread_time()
        fn()
        return time.thread_time() - start
    finally:
        if collecting:
            gc.enable()


def _growth(full: Callable[[], object], quarter: Callable[[], object]) -> tuple[float, float]:
    """CPU of one run on the full text against four runs on a quarter of it, the same
    characters in all, each the least of three tries: about equal when the cost grows
    linearly, four times apart when it grows with the square.

    One quarter run would be a sixteenth of a quadratic full run: on a fast machine a
    quadratic pattern's 9 ms at full length left 0.6 ms at a quarter, below the noise floor,
    and the ratio against the floor (7) passed as linear. Four runs are 2.3 ms: measured."""
    slow = min(_cpu(full) for _ in range(3))
    fast = min(_cpu(lambda: [quarter() for _ in range(4)]) for _ in range(3))
    return slow, fast


def _linear(slow: float, fast: float) -> bool:
    """``GROWTH`` for four times the text, as the full run against four quarter runs."""
    return slow < GROWTH / 4 * max(fast, FLOOR)


def _exercise(pattern: re.Pattern[Any], text: str) -> Callable[[], object]:
    subject: str | bytes = text.encode() if isinstance(pattern.pattern, bytes) else text

    def run() -> object:
        return (pattern.match(subject), list(pattern.finditer(subject)))

    return run


def _worst(pattern: re.Pattern[Any]) -> tuple[float, str]:
    """The slowest attack at full length; fails as soon as any length blows the budget."""
    worst = (0.0, "")
    for family in attacks(pattern):
        times: dict[int, float] = {}
        for length in LADDER:
            text = family(length)
            times[length] = spent = _cpu(_exercise(pattern, text))
            assert spent < BUDGET, (
                f"{pattern.pattern!r} took {spent:.3f} s of CPU on {length} characters "
                f"starting {text[:40]!r}"
            )
        if times[MAX_CHARS] > MEASURABLE:
            big, small = family(MAX_CHARS), family(MAX_CHARS // 4)
            slow, fast = _growth(_exercise(pattern, big), _exercise(pattern, small))
            assert _linear(slow, fast), (
                f"{pattern.pattern!r} grows faster than linearly: {fast:.4f} s for four runs "
                f"of {len(small)} chars, {slow:.4f} s for one of {len(big)} ({big[:40]!r}...)"
            )
        worst = max(worst, (times[MAX_CHARS], family(MAX_CHARS)))
    return worst


@pytest.mark.parametrize("name", sorted(INVENTORY))
def test_pattern_runs_in_linear_time(name: str) -> None:
    pattern = discovered().get(name)
    assert pattern is not None, f"{name} is listed but was not found"
    attacks_made = attacks(pattern)
    assert attacks_made, f"no attack could be built for {pattern.pattern!r}"
    _worst(pattern)


@cache
def hostile_corpus() -> tuple[str, ...]:
    """Per pattern, its first few attacks at full length: the diet of the extractor test."""
    texts: dict[str, None] = {}
    for _name, pattern in sorted(discovered().items()):
        if isinstance(pattern.pattern, str):
            for family in attacks(pattern)[:3]:
                texts[family(MAX_CHARS)] = None
    return tuple(texts)


@pytest.mark.parametrize("name", sorted(_extractors()))
def test_extractor_runs_in_linear_time(name: str) -> None:
    extractor = _extractors()[name]
    extractor("预热 warm-up 2026年10月3日 399元")
    slowest = (0.0, "")
    for text in hostile_corpus():
        for length in (250, 1000, MAX_CHARS):  # a runaway fails early instead of hanging
            cut = text[: length - 1] + text[-1]
            spent = _cpu(partial(extractor, cut))
            assert spent < BUDGET, (
                f"{name} took {spent:.3f} s of CPU on {length} characters {cut[:40]!r}..."
            )
        slowest = max(slowest, (spent, text))
    spent, text = slowest
    if spent > MEASURABLE:
        quarter = text[: MAX_CHARS // 4 - 1] + text[-1]
        slow, fast = _growth(partial(extractor, text), partial(extractor, quarter))
        assert _linear(slow, fast), (
            f"{name} grows faster than linearly: {fast:.4f} s for four runs of "
            f"{len(quarter)} chars, {slow:.4f} s for one of {len(text)} ({text[:40]!r}...)"
        )


def test_padding_does_not_hide_an_entity() -> None:
    """Whitespace runs are squeezed before extraction: a padded number is still found, and
    its span points into the text as the user sent it."""
    from nlu.entities import extract
    from nlu.identifiers import parse_order_no, parse_phone

    text = "order no." + " " * 300 + "1234567890123" + "\n\t  " + "电话 138  1234   5678"
    found = {e.entity: e for e in extract(text, NOW)}
    assert found["order_no"].value == "1234567890123"
    assert found["phone"].value == "13812345678"
    for entity in found.values():
        assert text[entity.start : entity.end] == entity.text
    assert found["phone"].text == "138  1234   5678"
    assert parse_order_no(text) == "1234567890123"
    assert parse_phone(text) == "13812345678"


def test_the_timing_catches_a_quadratic_pattern() -> None:
    """The checks above can fail: a run of digits without the ``x`` after it is scanned to
    its end from every start, n²/2 steps, and is caught as not linear."""
    quadratic = re.compile(r"[0-9]+x")
    with pytest.raises(AssertionError, match="grows faster than linearly|took"):
        _worst(quadratic)
