"""Optional parts of the app (channels, consoles) plug in here without editing the factory."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from fastapi import FastAPI


class Extension(Protocol):
    """Adds routes at build time and resources at start-up (after the core is ready)."""

    name: str

    def install(self, app: FastAPI) -> None: ...

    def lifespan(self, app: FastAPI) -> AbstractAsyncContextManager[None]: ...
