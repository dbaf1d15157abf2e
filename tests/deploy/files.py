"""Reading the deployment files as Docker, Compose and the nginx image read them."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yml"
NGINX_TEMPLATE = DEPLOY / "nginx.conf"

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}
INTERPOLATION = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


@cache
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def with_defaults(value: str) -> str:
    """Compose's interpolation with nothing set: each ``${NAME:-default}`` becomes its default."""
    return INTERPOLATION.sub(lambda m: m.group(3) if m.group(2) in (":-", "-") else "", value)


def required_variables(value: str) -> set[str]:
    """The variables ``${NAME:?…}`` makes Compose refuse to start without."""
    return {m.group(1) for m in INTERPOLATION.finditer(value) if m.group(2) in (":?", "?")}


def environment(service: str) -> dict[str, str]:
    env = compose()["services"][service].get("environment") or {}
    assert isinstance(env, dict), f"{service}: environment as a mapping"
    return {str(k): str(v) for k, v in env.items()}


@dataclass
class Dockerfile:
    """The instructions of one Dockerfile, continuation lines joined, comments dropped."""

    path: Path
    instructions: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> Dockerfile:
        joined = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
        lines = [line.strip() for line in joined.splitlines()]
        parsed = [
            (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
            for line in lines
            if line and not line.startswith("#")
        ]
        return cls(path, parsed)

    def all(self, name: str) -> list[str]:
        return [args for instruction, args in self.instructions if instruction == name]

    def copy_sources(self) -> list[str]:
        """Sources of COPY from the build context (not ``--from`` another stage)."""
        sources: list[str] = []
        for args in self.all("COPY"):
            words = shlex.split(args)
            flags = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            if any(f.startswith("--from=") for f in flags):
                continue
            sources += paths[:-1]
        return sources

    def env(self) -> dict[str, str]:
        """The ENV values of the last stage (``KEY=value`` pairs)."""
        last_from = max(i for i, (name, _) in enumerate(self.instructions) if name == "FROM")
        values: dict[str, str] = {}
        for name, args in self.instructions[last_from:]:
            if name == "ENV":
                values.update(word.split("=", 1) for word in shlex.split(args))  # type: ignore[misc]
        return values

    def exec_form(self, name: str) -> list[str]:
        """The last ENTRYPOINT or CMD, which must be in exec (JSON) form."""
        value = json.loads(self.all(name)[-1])
        assert isinstance(value, list)
        return [str(v) for v in value]


def _pattern(glob: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go's filepath.Match plus ``**``) as a regular expression."""
    out = ""
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif glob.startswith("**", i):
            out, i = out + ".*", i + 2
        elif glob[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif glob[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(glob[i]), i + 1
    return re.compile(out + r"\Z")


def dockerignored(path: str, ignore_file: Path = ROOT / ".dockerignore") -> bool:
    """Whether Docker leaves ``path`` (relative to the context) out of the build context: the
    last pattern matching the path or one of its parent directories decides."""
    rules = []
    for line in ignore_file.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keep = line.startswith("!")
            rules.append((keep, _pattern(line.lstrip("!").strip("/"))))
    parts = Path(path.strip("/")).parts
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for keep, rule in rules:
        if any(rule.match(prefix) for prefix in prefixes):
            ignored = not keep
    return ignored


def render_template(text: str, values: dict[str, str]) -> str:
    """What the nginx image's entrypoint does (envsubst with the container's variables):
    ``${NAME}`` for each variable set; anything else is left as it is."""
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    return text


def template_variables(text: str) -> set[str]:
    return set(re.findall(r"\$\{(\w+)\}", text))
