"""Compare address parsers for the seller's region: cpca and jionlp on the test addresses.

Each parser runs in a fresh subprocess (import time, first-parse time and memory are its
own). Accuracy: province+city right when the predicted code's first 4 digits match (the
province alone for 北京/天津/上海/重庆), district right when all 6 match.

Run with an interpreter that has both packages (they are not both app dependencies):
    python benchmarks/region_parsers.py [tests/business/data/addresses.tsv]
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ADDRESSES = Path(__file__).parent.parent / "tests" / "business" / "data" / "addresses.tsv"
MUNICIPALITIES = {"11", "12", "31", "50"}

CHILD = r"""
import json, resource, sys, time
def rss(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
lib, path = sys.argv[1], sys.argv[2]
rows = [l.rstrip("\n").split("\t") for l in open(path, encoding="utf-8")
        if l.strip() and not l.startswith(("#", "address\t"))]
before = rss(); t0 = time.perf_counter()
if lib == "cpca":
    import cpca
    def codes(addresses):
        frame = cpca.transform(addresses)
        return [str(c)[:6] if c is not None and str(c) not in ("", "nan", "None") else ""
                for c in frame["adcode"]]
else:
    import jionlp as jio, os
    table = {}
    path_ = os.path.join(os.path.dirname(jio.__file__), "dictionary", "china_location.txt")
    stack = []
    for line in open(path_, encoding="utf-8"):
        depth = len(line) - len(line.lstrip("\t"))
        parts = line.strip().split("\t")
        if depth > 2 or len(parts) < 2: continue
        stack = stack[:depth] + [parts[0]]
        table[tuple(stack)] = parts[1]
    def one(a):
        r = jio.parse_location(a)
        key = tuple(x for x in (r["province"], r["city"], r["county"]) if x)
        while key and key not in table: key = key[:-1]
        return table.get(key, "")
    def codes(addresses): return [one(a) for a in addresses]
t_import = time.perf_counter() - t0
t1 = time.perf_counter(); codes([rows[0][0]]); t_first = time.perf_counter() - t1
t2 = time.perf_counter(); got = codes([r[0] for r in rows]); t_all = time.perf_counter() - t2
print(json.dumps({"import_s": t_import, "first_s": t_first, "per_address_ms": 1000 * t_all / len(rows),
                  "rss_mb": (rss() - before) / 1024, "got": got, "rows": rows}))
"""


def score(result: dict) -> dict:
    city = district = district_total = 0
    misses = []
    for (address, expected), got in zip(result["rows"], result["got"], strict=True):
        muni = expected[:2] in MUNICIPALITIES
        city_ok = got[:2] == expected[:2] if muni else got[:4] == expected[:4]
        city += city_ok
        district_total += 1
        ok = got == expected or (expected.endswith("00") and got[:4] == expected[:4])
        district += ok
        if not ok:
            misses.append(f"{address} expected {expected} got {got or '-'}")
    n = len(result["rows"])
    return {
        "n": n,
        "province_city": city / n,
        "district": district / district_total,
        "misses": misses,
    }


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ADDRESSES
    for lib in ("cpca", "jionlp"):
        out = subprocess.run(  # noqa: S603 -- our own interpreter and script
            [sys.executable, "-c", CHILD, lib, str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        s = score(result)
        print(
            f"{lib}: n={s['n']} province+city {s['province_city']:.1%} district {s['district']:.1%}"
            f" import {result['import_s']:.2f} s first parse {result['first_s']:.2f} s"
            f" per address {result['per_address_ms']:.2f} ms memory +{result['rss_mb']:.0f} MB"
        )
        for miss in s["misses"]:
            print("   miss:", miss)


if __name__ == "__main__":
    main()
