"""Container health checks, standard library only (it runs in both images, Python 3.11 and 3.10).

``healthcheck.py URL`` passes when URL answers 200. ``healthcheck.py --rasa URL`` passes when
the Rasa server there parses a message with ``WEIQUAN_NLU_TOKEN``, the probe the app's own
supervisor uses (``nlu.server.RasaSupervisor``): a server that answers but has no model fails.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from urllib.parse import urlencode

TIMEOUT = 3.0
# Loopback only: a proxy from the environment must not answer for the service.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def alive(url: str) -> bool:
    with OPENER.open(url, timeout=TIMEOUT) as answer:
        return answer.status == 200


def parses(url: str) -> bool:
    query = urlencode({"token": os.environ.get("WEIQUAN_NLU_TOKEN", "")})
    request = urllib.request.Request(  # noqa: S310 - the URL is the image's own loopback address
        f"{url.rstrip('/')}/model/parse?{query}",
        data=json.dumps({"text": "你好"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with OPENER.open(request, timeout=TIMEOUT) as answer:
        return answer.status == 200 and "intent" in json.load(answer)


def main(argv: list[str]) -> int:
    rasa = argv[:1] == ["--rasa"]
    url = argv[-1]
    try:
        return 0 if (parses(url) if rasa else alive(url)) else 1
    except (OSError, ValueError):
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
