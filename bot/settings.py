"""Typed settings from ``WEIQUAN_*`` environment variables, built by the app factory."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev", "development"}


def require_https(url: str | None, variable: str, environment: str) -> None:
    """Outbound calls carry personal data or credentials, so production sends them over TLS
    only; development and tests may point at local http:// doubles."""
    if environment != "production" or not url:
        return
    scheme = urlsplit(url.strip()).scheme.lower()
    if scheme != "https":
        shown = f"{scheme}://" if scheme else "no scheme"
        raise ValueError(
            f"{variable} must be an https:// URL in production (it has {shown}); "
            "http:// is allowed only with WEIQUAN_ENVIRONMENT=development or test"
        )


class Settings(BaseSettings):
    """Everything an operator can configure; defaults run with nothing else installed."""

    model_config = SettingsConfigDict(env_prefix="WEIQUAN_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("var")
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"
    timezone: str = "Asia/Shanghai"

    # Understanding
    nlu_url: str | None = None
    nlu_token: str | None = None
    nlu_manage: bool = True
    nlu_timeout: float = 0.8
    nlu_cache_size: int = 2048
    nlu_model_dir: Path = Path("models")
    # Rasa processes started when the app manages Rasa: each parses one message at a time
    # and holds its own copy of the model, about 1.3 GB resident, so two cost ~2.6 GB.
    nlu_replicas: int = Field(default=2, ge=1)
    rasa_python: Path = Path(".venv-rasa/bin/python")

    # CCC certificate registry: the embedded table unless a registry service is configured
    ccc_registry_url: str | None = None
    ccc_registry_token: str | None = Field(default=None, repr=False)
    ccc_registry_timeout: float = 2.0
    ccc_registry_retries: int = 2
    ccc_registry_cache_ttl: int = 3600

    # Inputs
    max_text_chars: int = 4000
    max_upload_bytes: int = 10 * 1024 * 1024
    max_body_bytes: int = 12 * 1024 * 1024

    # Rate limits on /webhooks/rest/* (per process; see docs/security.md). A person chatting
    # sends a message every few seconds at most; the page polls for pushes every 2 s.
    rate_limit_enabled: bool = True
    rate_limit_sender_per_minute: float = Field(default=30.0, gt=0)
    rate_limit_sender_burst: int = Field(default=30, ge=1)
    rate_limit_address_per_minute: float = Field(default=600.0, gt=0)
    rate_limit_address_burst: int = Field(default=300, ge=1)
    rate_limit_poll_sender_per_minute: float = Field(default=90.0, gt=0)
    rate_limit_poll_address_per_minute: float = Field(default=6000.0, gt=0)
    rate_limit_max_keys: int = Field(default=50_000, ge=1)

    # Uploads that never reach a case are deleted (row and file) after this many hours.
    evidence_orphan_hours: float = Field(default=72.0, gt=0)

    # Claiming a case filed on another channel (bot/status.py): failed tries that lock a
    # case (from all senders together) and a claimant (client address or sender), per window.
    claim_case_failures: int = Field(default=5, ge=1)
    claim_case_window_hours: float = Field(default=24.0, gt=0)
    claim_address_failures: int = Field(default=20, ge=1)
    claim_address_window_minutes: float = Field(default=60.0, gt=0)

    # Outbox
    outbox_poll_seconds: float = 1.0
    outbox_batch: int = 50
    # A peer's Retry-After (back office, Telegram) is obeyed up to this many seconds.
    outbox_max_retry_after_seconds: float = Field(default=3600.0, gt=0)

    secret_key: str = Field(default="development-only-secret-key", repr=False)
    # Personal data at rest (AES-256-GCM): URL-safe base64 of 32 bytes. New writes use
    # WEIQUAN_PII_KEY (or the first line of WEIQUAN_PII_KEY_FILE; later lines are older keys);
    # WEIQUAN_PII_OLD_KEYS (comma-separated) stay readable until `weiquan keys rotate` is done.
    # Outside production, with neither set, a key file is created once under the data dir.
    pii_key: str | None = Field(default=None, repr=False)
    pii_key_file: Path | None = None
    pii_old_keys: str | None = Field(default=None, repr=False)
    # The key of the hashes WeChat openids and Telegram user ids are stored as (bot/senders.py).
    # Unset, it is derived from WEIQUAN_SECRET_KEY. Never rotated: changing it (or the secret
    # key it is derived from) orphans every WeChat and Telegram conversation.
    lookup_key: str | None = Field(default=None, repr=False)

    @field_validator("data_dir", "nlu_model_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if self.environment == "production" and (
            self.secret_key in PLACEHOLDER_SECRETS or self.secret_key.startswith("development")
        ):
            raise ValueError("WEIQUAN_SECRET_KEY must be set to a real secret in production")
        if (
            self.environment == "production"
            and self.lookup_key is not None
            and (
                self.lookup_key in PLACEHOLDER_SECRETS or self.lookup_key.startswith("development")
            )
        ):
            raise ValueError("WEIQUAN_LOOKUP_KEY must be a real secret in production (or unset)")
        if self.environment == "production" and not (self.pii_key or self.pii_key_file):
            raise ValueError(
                "WEIQUAN_PII_KEY or WEIQUAN_PII_KEY_FILE must be set in production: personal "
                "data is encrypted with it (`weiquan keys new` prints a key)"
            )
        return self

    @model_validator(mode="after")
    def _outbound_https(self) -> Settings:
        require_https(self.ccc_registry_url, "WEIQUAN_CCC_REGISTRY_URL", self.environment)
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'weiquan.sqlite3').resolve()}"

    @property
    def evidence_dir(self) -> Path:
        return self.data_dir / "evidence"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")
