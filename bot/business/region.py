"""The seller's region: province, city and district with the 6-digit administrative code.

Addresses are parsed with jionlp (chosen over cpca by measurement: benchmarks/RESULTS.md,
"Seller region"), whose own administrative data (``dictionary/china_location.txt``) also
names a USCC's registration-authority code. A region is only what the text or the code
says: an address naming a district without its city (朝阳区 is in Beijing and in Changchun),
or a code not in the data, gives None, and staff are asked; nothing is guessed.
"""

from __future__ import annotations

import contextlib
import io
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Source = Literal["registered_address", "merchant_address", "uscc", "staff"]
MUNICIPALITIES = frozenset({"11", "12", "31", "50"})
MAX_ADDRESS = 300


# An address names its place with one of these (上海市, 朝阳区, 延边朝鲜族自治州, 锡林郭勒盟…) or
# with a province's short name. jionlp costs about 10 ms a call whatever the text (it walks
# its whole table), so a link or a shop name is not handed to it.
_DIVISION_MARKS = frozenset("省市区县州盟旗")
_PROVINCES = (
    "北京 天津 上海 重庆 河北 山西 内蒙古 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北"
    " 湖南 广东 广西 海南 四川 贵州 云南 西藏 陕西 甘肃 青海 宁夏 新疆 香港 澳门 台湾"
).split()


def looks_like_address(text: str) -> bool:
    """Whether ``text`` could name a place: a division mark or a province's name in it."""
    return not _DIVISION_MARKS.isdisjoint(text) or any(p in text for p in _PROVINCES)


@dataclass(frozen=True)
class Region:
    """A place at county level (or city level when the district is unknown)."""

    code: str
    province: str
    city: str
    district: str = ""
    source: Source = "registered_address"

    @property
    def label(self) -> str:
        parts = [self.province, self.city if self.city != self.province else "", self.district]
        return "".join(p for p in parts if p)

    def as_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "province": self.province,
            "city": self.city,
            "district": self.district,
            "source": self.source,
            "label": self.label,
        }


class Regions:
    """Loads jionlp once (about 6 s and 100 MB, so the app warms it at start-up in a thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parse: Any = None
        self._by_path: dict[tuple[str, ...], str] = {}
        self._by_code: dict[str, tuple[str, ...]] = {}

    @property
    def ready(self) -> bool:
        """Whether the parser is loaded (a parse before then waits for the load)."""
        return self._parse is not None

    def warm(self) -> None:
        with self._lock:
            if self._parse is not None:
                return
            # jionlp and jiojio print a banner on import: keep it out of CLI output.
            with contextlib.redirect_stdout(io.StringIO()):
                import jionlp

                jionlp.parse_location("北京市东城区")  # loads its dictionaries now
            self._load_table(Path(jionlp.__file__).parent / "dictionary" / "china_location.txt")
            self._parse = jionlp.parse_location

    def _load_table(self, path: Path) -> None:
        stack: list[str] = []
        for line in path.read_text(encoding="utf-8").splitlines():
            depth = len(line) - len(line.lstrip("\t"))
            parts = line.strip().split("\t")
            if depth > 2 or len(parts) < 2 or not parts[1].isdigit():
                continue
            stack = [*stack[:depth], parts[0]]
            self._by_path[tuple(stack)] = parts[1]
            self._by_code[parts[1]] = tuple(stack)

    def from_address(self, text: str | None, *, source: Source) -> Region | None:
        """The region an address names, None when it does not name a city (or is no address)."""
        if not text or not looks_like_address(text):
            return None
        self.warm()
        with contextlib.redirect_stdout(io.StringIO()):
            parsed = self._parse(text.strip()[:MAX_ADDRESS])
        province, city, county = parsed.get("province"), parsed.get("city"), parsed.get("county")
        if not province or not city:
            return None  # a district alone is ambiguous; a province alone routes nowhere
        path = (province, city, county) if county else (province, city)
        code = self._by_path.get(path)
        if code is None:
            return None
        return self._region(code, source)

    def from_code(self, code: str | None, *, source: Source = "uscc") -> Region | None:
        """The region a 6-digit division code names, None for a code not in the data."""
        if not code:
            return None
        self.warm()
        return self._region(code, source) if code in self._by_code else None

    def _region(self, code: str, source: Source) -> Region | None:
        path = self._by_code.get(code)
        if path is None or len(path) < 2:
            return None  # a province alone is not a seller's region
        district = path[2] if len(path) > 2 else ""
        return Region(
            code=code,
            province=path[0],
            city=path[1],
            # 东莞、中山 have no districts: the data lists the city itself as 市直辖行政区划.
            district="" if "直辖" in district else district,
            source=source,
        )


_shared = Regions()


def shared() -> Regions:
    """The process's one loaded parser (its data is read-only, so apps can share it)."""
    return _shared
