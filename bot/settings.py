"""Typed settings from ``WEIQUAN_*`` environment variables, built by the app factory.

One ``Settings`` object, with a section for each part that reads it (``chat``, ``nlu``,
``security``, ``backoffice``, ``wechat``, ``telegram``). Each section reads its own variables
(``WEIQUAN_NLU_URL`` is ``settings.nlu.url``), so the variable names stay those an operator
already sets; checks that need more than one section (production refuses placeholder secrets
and plain-http peers) run on the whole.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from integrations.telegram.settings import TelegramSettings
from integrations.wechat.settings import WechatSettings

if TYPE_CHECKING:
    from bot.handover import StaffHours

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


def _placeholder(secret: str) -> bool:
    return secret in PLACEHOLDER_SECRETS or secret.startswith("development")


class ChatSettings(BaseSettings):
    """What a conversation may send and how often, claims, uploads, the CCC registry."""

    model_config = SettingsConfigDict(env_prefix="WEIQUAN_", extra="ignore")

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

    # Photos read for a check (bot/photowork.py): "local" reads them with the OCR worker pool
    # (bot/photocheck); at most this many queued or being read, then "busy, try in a minute".
    photo_reader: Literal["off", "local"] = "off"
    photo_read_limit: int = Field(default=8, ge=1)
    photo_read_seconds: float = Field(default=20.0, gt=0)
    # onnxruntime threads per OCR worker; 0 lets onnxruntime choose (one per core). One costs
    # the least CPU per photo (more threads spin waiting for each other).
    photo_threads: int = Field(default=1, ge=0)

    # Uploads that never reach a case are deleted (row and file) after this many hours.
    evidence_orphan_hours: float = Field(default=72.0, gt=0)

    # Claiming a case filed on another channel (bot/status.py): failed tries that lock a
    # case (from all senders together) and a claimant (client address or sender), per window.
    claim_case_failures: int = Field(default=5, ge=1)
    claim_case_window_hours: float = Field(default=24.0, gt=0)
    claim_address_failures: int = Field(default=20, ge=1)
    claim_address_window_minutes: float = Field(default=60.0, gt=0)

    # CCC certificate registry: the embedded table unless a registry service is configured
    ccc_registry_url: str | None = None
    ccc_registry_token: str | None = Field(default=None, repr=False)
    ccc_registry_timeout: float = 2.0
    ccc_registry_retries: int = 2
    ccc_registry_cache_ttl: int = 3600

    # When staff answer the hand-over queue (Asia/Shanghai), e.g. "08:30-17:30", and on which
    # days: all, or working (PRC working days). Unset: bot/rules/handover.yml's UNCONFIRMED
    # defaults. Outside them users are told the hours instead of a wait in minutes.
    staff_hours: str | None = None
    staff_days: Literal["all", "working"] | None = None

    @model_validator(mode="after")
    def _staff_hours_parse(self) -> ChatSettings:
        if self.staff_hours is not None or self.staff_days is not None:
            self.hours()  # a bad value fails at start-up, naming the expected shape
        return self

    def hours(self) -> StaffHours:
        from bot.handover import StaffHours

        default = StaffHours.default()
        if self.staff_hours is None and self.staff_days is None:
            return default
        span = self.staff_hours or f"{default.open:%H:%M}-{default.close:%H:%M}"
        return StaffHours.parse(span, self.staff_days or default.days)


class NluSettings(BaseSettings):
    """Understanding (``WEIQUAN_NLU_*``): a Rasa server to use, or the Rasa the app runs."""

    model_config = SettingsConfigDict(
        env_prefix="WEIQUAN_NLU_", extra="ignore", validate_by_name=True
    )

    url: str | None = None
    token: str | None = Field(default=None, repr=False)
    manage: bool = True
    timeout: float = 0.8
    cache_size: int = 2048
    model_dir: Path = Path("models")
    # Rasa processes started when the app manages Rasa: each parses one message at a time
    # and holds its own copy of the model, about 1.3 GB resident, so two cost ~2.6 GB.
    replicas: int = Field(default=2, ge=1)
    rasa_python: Path = Field(
        default=Path(".venv-rasa/bin/python"), validation_alias="WEIQUAN_RASA_PYTHON"
    )

    @field_validator("model_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()


class SecuritySettings(BaseSettings):
    """The service's secrets: signing, personal data at rest, the sender look-up key."""

    model_config = SettingsConfigDict(env_prefix="WEIQUAN_", extra="ignore")

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


class BackofficeSettings(BaseSettings):
    """Hand-off to an external back office, staff sessions and the hand-over desk."""

    model_config = SettingsConfigDict(env_prefix="WEIQUAN_", extra="ignore", validate_by_name=True)

    # External back office: every submitted case and status change is POSTed here when set.
    url: str | None = Field(default=None, validation_alias="WEIQUAN_BACKOFFICE_URL")
    secret: str | None = Field(
        default=None, repr=False, validation_alias="WEIQUAN_BACKOFFICE_SECRET"
    )
    timeout: float = Field(default=10.0, validation_alias="WEIQUAN_BACKOFFICE_TIMEOUT")
    # A forwarded case's evidence travels as signed, expiring download links (bot/transfer.py):
    # built on this service's public address (http://HOST:PORT when unset), signed with this
    # key (derived from WEIQUAN_SECRET_KEY when unset), valid this many hours.
    public_url: str | None = Field(default=None, validation_alias="WEIQUAN_PUBLIC_URL")
    evidence_link_key: str | None = Field(
        default=None, repr=False, validation_alias="WEIQUAN_EVIDENCE_LINK_KEY"
    )
    evidence_link_hours: float = Field(
        default=72.0, gt=0, le=24 * 30, validation_alias="WEIQUAN_EVIDENCE_LINK_HOURS"
    )

    # Staff sessions and tokens (signed with WEIQUAN_SECRET_KEY unless this is set).
    session_secret: str | None = Field(default=None, repr=False)
    cookie_secure: bool = True
    token_ttl_minutes: int = Field(default=480, ge=5, le=7 * 24 * 60)
    login_max_failures: int = Field(default=5, ge=1)
    login_window_minutes: int = Field(default=15, ge=1)

    # Handover: a claimed conversation with no staff reply for this long goes back to the queue.
    claim_timeout_minutes: float = Field(default=10.0, gt=0)
    claim_check_seconds: float = Field(default=30.0, gt=0)


class Settings(BaseSettings):
    """Everything an operator can configure; defaults run with nothing else installed."""

    model_config = SettingsConfigDict(env_prefix="WEIQUAN_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("var")
    database_url: str | None = None
    # PostgreSQL connections each app process keeps, and may open beyond them under a burst:
    # every instance's workers together must stay below the server's max_connections.
    database_pool_size: int = Field(default=20, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"
    timezone: str = "Asia/Shanghai"
    # The regulator office directory (bot/business/offices.py); the bundled SAMPLE when unset.
    offices_file: Path | None = None
    # An outside credit-list service (integrations/credit/http_registry.py); the embedded
    # table filled by `weiquan credit import` when unset.
    credit_service_url: str | None = None

    # Outbox
    outbox_poll_seconds: float = 1.0
    outbox_batch: int = 50
    # A peer's Retry-After (back office, Telegram) is obeyed up to this many seconds.
    outbox_max_retry_after_seconds: float = Field(default=3600.0, gt=0)

    # Sections, each read from its own variables when the settings are built.
    chat: ChatSettings = Field(default_factory=ChatSettings)
    nlu: NluSettings = Field(default_factory=NluSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    backoffice: BackofficeSettings = Field(default_factory=BackofficeSettings)
    wechat: WechatSettings = Field(default_factory=WechatSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)

    @field_validator("data_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if self.environment != "production":
            return self
        security = self.security
        if _placeholder(security.secret_key):
            raise ValueError("WEIQUAN_SECRET_KEY must be set to a real secret in production")
        if security.lookup_key is not None and _placeholder(security.lookup_key):
            raise ValueError("WEIQUAN_LOOKUP_KEY must be a real secret in production (or unset)")
        if not (security.pii_key or security.pii_key_file):
            raise ValueError(
                "WEIQUAN_PII_KEY or WEIQUAN_PII_KEY_FILE must be set in production: personal "
                "data is encrypted with it (`weiquan keys new` prints a key)"
            )
        link_key = self.backoffice.evidence_link_key
        if link_key is not None and _placeholder(link_key):
            raise ValueError("WEIQUAN_EVIDENCE_LINK_KEY must be a real secret in production")
        if self.backoffice.url and not self.backoffice.secret:
            raise ValueError("WEIQUAN_BACKOFFICE_SECRET is required with WEIQUAN_BACKOFFICE_URL")
        return self

    @model_validator(mode="after")
    def _outbound_https(self) -> Settings:
        for url, variable in (
            (self.chat.ccc_registry_url, "WEIQUAN_CCC_REGISTRY_URL"),
            (self.backoffice.url, "WEIQUAN_BACKOFFICE_URL"),
            (self.backoffice.public_url, "WEIQUAN_PUBLIC_URL"),
            (self.wechat.api_base_url, "WEIQUAN_WECHAT_API_BASE_URL"),
            (self.telegram.base_url, "WEIQUAN_TELEGRAM_BASE_URL"),
            (self.telegram.base_file_url, "WEIQUAN_TELEGRAM_BASE_FILE_URL"),
        ):
            require_https(url, variable, self.environment)
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

    @property
    def public_base_url(self) -> str:
        """Where other offices reach this service (evidence links)."""
        return (self.backoffice.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def evidence_link_key(self) -> bytes:
        """The key of forwarded evidence links; derived from the secret key when unset."""
        if self.backoffice.evidence_link_key:
            return self.backoffice.evidence_link_key.encode()
        secret = self.security.secret_key.encode()
        return hmac.new(secret, b"weiquan evidence links", hashlib.sha256).digest()

    def office_handoff_secret(self, office: str) -> str:
        """The secret one office's packages are signed with (``weiquan offices secret KEY``
        prints it for that office). Derived from the back-office secret (the secret key when
        there is none), so no office holds a secret that signs for another office or for the
        back office."""
        master = (self.backoffice.secret or self.security.secret_key).encode()
        message = b"weiquan office hand-off\x00" + office.encode()
        return hmac.new(master, message, hashlib.sha256).hexdigest()

    @property
    def signing_secret(self) -> str:
        """What staff sessions and console cookies are signed with."""
        return self.backoffice.session_secret or self.security.secret_key
