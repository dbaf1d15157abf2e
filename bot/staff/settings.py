"""Back-office settings (``WEIQUAN_*``), apart from the core ``Settings`` so it stays untouched."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.settings import require_https


class BackofficeSettings(BaseSettings):
    """Hand-off target, personal-data key, console session and queue timing."""

    model_config = SettingsConfigDict(env_prefix="WEIQUAN_", extra="ignore")

    environment: str = "development"
    data_dir: Path = Path("var")
    secret_key: str = Field(default="development-only-secret-key", repr=False)

    # External back office: every submitted case and status change is POSTed here when set.
    backoffice_url: str | None = None
    backoffice_secret: str | None = Field(default=None, repr=False)
    backoffice_timeout: float = 10.0

    # Personal data at rest: 32-byte URL-safe base64 key; unset = key file under data_dir.
    pii_key: str | None = Field(default=None, repr=False)

    # Staff sessions and tokens.
    session_secret: str | None = Field(default=None, repr=False)
    cookie_secure: bool = True
    token_ttl_minutes: int = Field(default=480, ge=5, le=7 * 24 * 60)
    login_max_failures: int = Field(default=5, ge=1)
    login_window_minutes: int = Field(default=15, ge=1)

    # Handover: a claimed conversation with no staff reply for this long goes back to the queue.
    claim_timeout_minutes: float = Field(default=10.0, gt=0)
    claim_check_seconds: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> BackofficeSettings:
        require_https(self.backoffice_url, "WEIQUAN_BACKOFFICE_URL", self.environment)
        if self.environment == "production":
            if self.backoffice_url and not self.backoffice_secret:
                raise ValueError(
                    "WEIQUAN_BACKOFFICE_SECRET is required with WEIQUAN_BACKOFFICE_URL"
                )
            if not self.session_secret and self.secret_key.startswith("development"):
                raise ValueError("WEIQUAN_SESSION_SECRET must be set in production")
        return self

    @property
    def signing_secret(self) -> str:
        return self.session_secret or self.secret_key
