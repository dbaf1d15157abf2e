"""One ``Settings`` in sections, read from the ``WEIQUAN_*`` variables operators already set:
every variable keeps its name and meaning, and every documented one is read."""

from __future__ import annotations

import base64
import re
from operator import attrgetter
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")

# variable: (value set, where the settings hold it). Every value differs from the default.
VARIABLES: dict[str, tuple[str, str]] = {
    "WEIQUAN_ENVIRONMENT": ("test", "environment"),
    "WEIQUAN_DATA_DIR": ("/srv/weiquan", "data_dir"),
    "WEIQUAN_DATABASE_URL": ("postgresql+asyncpg://db/weiquan", "database_url"),
    "WEIQUAN_DATABASE_POOL_SIZE": ("5", "database_pool_size"),
    "WEIQUAN_DATABASE_MAX_OVERFLOW": ("3", "database_max_overflow"),
    "WEIQUAN_HOST": ("0.0.0.0", "host"),  # noqa: S104 - a value under test, nothing binds
    "WEIQUAN_PORT": ("8081", "port"),
    "WEIQUAN_LOG_LEVEL": ("debug", "log_level"),
    "WEIQUAN_TIMEZONE": ("UTC", "timezone"),
    "WEIQUAN_OFFICES_FILE": ("/srv/offices.yml", "offices_file"),
    "WEIQUAN_CREDIT_SERVICE_URL": ("http://127.0.0.1:9/credit", "credit_service_url"),
    "WEIQUAN_OUTBOX_POLL_SECONDS": ("2.5", "outbox_poll_seconds"),
    "WEIQUAN_OUTBOX_BATCH": ("7", "outbox_batch"),
    "WEIQUAN_OUTBOX_MAX_RETRY_AFTER_SECONDS": ("600.0", "outbox_max_retry_after_seconds"),
    "WEIQUAN_MAX_TEXT_CHARS": ("1000", "chat.max_text_chars"),
    "WEIQUAN_MAX_UPLOAD_BYTES": ("1024", "chat.max_upload_bytes"),
    "WEIQUAN_MAX_BODY_BYTES": ("2048", "chat.max_body_bytes"),
    "WEIQUAN_RATE_LIMIT_ENABLED": ("false", "chat.rate_limit_enabled"),
    "WEIQUAN_RATE_LIMIT_SENDER_PER_MINUTE": ("6.0", "chat.rate_limit_sender_per_minute"),
    "WEIQUAN_RATE_LIMIT_SENDER_BURST": ("3", "chat.rate_limit_sender_burst"),
    "WEIQUAN_RATE_LIMIT_ADDRESS_PER_MINUTE": ("60.0", "chat.rate_limit_address_per_minute"),
    "WEIQUAN_RATE_LIMIT_ADDRESS_BURST": ("8", "chat.rate_limit_address_burst"),
    "WEIQUAN_RATE_LIMIT_POLL_SENDER_PER_MINUTE": (
        "9.0",
        "chat.rate_limit_poll_sender_per_minute",
    ),
    "WEIQUAN_RATE_LIMIT_POLL_ADDRESS_PER_MINUTE": (
        "15.0",
        "chat.rate_limit_poll_address_per_minute",
    ),
    "WEIQUAN_RATE_LIMIT_MAX_KEYS": ("100", "chat.rate_limit_max_keys"),
    "WEIQUAN_EVIDENCE_ORPHAN_HOURS": ("1.5", "chat.evidence_orphan_hours"),
    "WEIQUAN_PHOTO_READER": ("local", "chat.photo_reader"),
    "WEIQUAN_PHOTO_READ_LIMIT": ("3", "chat.photo_read_limit"),
    "WEIQUAN_PHOTO_READ_SECONDS": ("7.5", "chat.photo_read_seconds"),
    "WEIQUAN_STAFF_HOURS": ("08:30-17:30", "chat.staff_hours"),
    "WEIQUAN_STAFF_DAYS": ("working", "chat.staff_days"),
    "WEIQUAN_PHOTO_THREADS": ("2", "chat.photo_threads"),
    "WEIQUAN_CLAIM_CASE_FAILURES": ("3", "chat.claim_case_failures"),
    "WEIQUAN_CLAIM_CASE_WINDOW_HOURS": ("12.0", "chat.claim_case_window_hours"),
    "WEIQUAN_CLAIM_ADDRESS_FAILURES": ("4", "chat.claim_address_failures"),
    "WEIQUAN_CLAIM_ADDRESS_WINDOW_MINUTES": ("30.0", "chat.claim_address_window_minutes"),
    "WEIQUAN_CCC_REGISTRY_URL": ("http://127.0.0.1:9/ccc", "chat.ccc_registry_url"),
    "WEIQUAN_CCC_REGISTRY_TOKEN": ("registry-token", "chat.ccc_registry_token"),
    "WEIQUAN_CCC_REGISTRY_TIMEOUT": ("3.5", "chat.ccc_registry_timeout"),
    "WEIQUAN_CCC_REGISTRY_RETRIES": ("4", "chat.ccc_registry_retries"),
    "WEIQUAN_CCC_REGISTRY_CACHE_TTL": ("60", "chat.ccc_registry_cache_ttl"),
    "WEIQUAN_NLU_URL": ("http://10.0.0.5:5005,http://10.0.0.6:5005", "nlu.url"),
    "WEIQUAN_NLU_TOKEN": ("nlu-token", "nlu.token"),
    "WEIQUAN_NLU_MANAGE": ("false", "nlu.manage"),
    "WEIQUAN_NLU_TIMEOUT": ("1.5", "nlu.timeout"),
    "WEIQUAN_NLU_CACHE_SIZE": ("16", "nlu.cache_size"),
    "WEIQUAN_NLU_MODEL_DIR": ("/srv/models", "nlu.model_dir"),
    "WEIQUAN_NLU_REPLICAS": ("3", "nlu.replicas"),
    "WEIQUAN_RASA_PYTHON": ("/opt/rasa/bin/python", "nlu.rasa_python"),
    "WEIQUAN_SECRET_KEY": ("a-real-secret-0123456789", "security.secret_key"),
    "WEIQUAN_PII_KEY": ("pii-key-text", "security.pii_key"),
    "WEIQUAN_PII_KEY_FILE": ("/run/secrets/pii", "security.pii_key_file"),
    "WEIQUAN_PII_OLD_KEYS": ("old-1,old-2", "security.pii_old_keys"),
    "WEIQUAN_LOOKUP_KEY": ("a-real-lookup-key-0123456789", "security.lookup_key"),
    "WEIQUAN_BACKOFFICE_URL": ("http://127.0.0.1:9/hook", "backoffice.url"),
    "WEIQUAN_BACKOFFICE_SECRET": ("office-secret", "backoffice.secret"),
    "WEIQUAN_BACKOFFICE_TIMEOUT": ("2.5", "backoffice.timeout"),
    "WEIQUAN_PUBLIC_URL": ("https://weiquan.example", "backoffice.public_url"),
    "WEIQUAN_EVIDENCE_LINK_KEY": ("link-key", "backoffice.evidence_link_key"),
    "WEIQUAN_EVIDENCE_LINK_HOURS": ("12.0", "backoffice.evidence_link_hours"),
    "WEIQUAN_SESSION_SECRET": ("session-secret", "backoffice.session_secret"),
    "WEIQUAN_COOKIE_SECURE": ("false", "backoffice.cookie_secure"),
    "WEIQUAN_TOKEN_TTL_MINUTES": ("60", "backoffice.token_ttl_minutes"),
    "WEIQUAN_LOGIN_MAX_FAILURES": ("3", "backoffice.login_max_failures"),
    "WEIQUAN_LOGIN_WINDOW_MINUTES": ("5", "backoffice.login_window_minutes"),
    "WEIQUAN_CLAIM_TIMEOUT_MINUTES": ("2.5", "backoffice.claim_timeout_minutes"),
    "WEIQUAN_CLAIM_CHECK_SECONDS": ("0.5", "backoffice.claim_check_seconds"),
    "WEIQUAN_WECHAT_TOKEN": ("wechat-token", "wechat.token"),
    "WEIQUAN_WECHAT_APP_ID": ("wx0123456789", "wechat.app_id"),
    "WEIQUAN_WECHAT_APP_SECRET": ("wechat-app-secret", "wechat.app_secret"),
    "WEIQUAN_WECHAT_AES_KEY": (AES_KEY, "wechat.aes_key"),
    "WEIQUAN_WECHAT_API_BASE_URL": ("http://127.0.0.1:9/", "wechat.api_base_url"),
    "WEIQUAN_WECHAT_CUSTOMER_SERVICE": ("true", "wechat.customer_service"),
    "WEIQUAN_WECHAT_PASSIVE_BUDGET_SECONDS": ("3.5", "wechat.passive_budget_seconds"),
    "WEIQUAN_WECHAT_RETRY_HOLD_SECONDS": ("6.5", "wechat.retry_hold_seconds"),
    "WEIQUAN_WECHAT_MAX_BODY_BYTES": ("4096", "wechat.max_body_bytes"),
    "WEIQUAN_WECHAT_MAX_REPLY_BYTES": ("1024", "wechat.max_reply_bytes"),
    "WEIQUAN_WECHAT_API_TIMEOUT_SECONDS": ("2.0", "wechat.api_timeout_seconds"),
    "WEIQUAN_WECHAT_TOKEN_MARGIN_SECONDS": ("60", "wechat.token_margin_seconds"),
    "WEIQUAN_WECHAT_REPLAY_WINDOW_SECONDS": ("120", "wechat.replay_window_seconds"),
    "WEIQUAN_WECHAT_PIC_HOSTS": ("img.example", "wechat.pic_hosts"),
    "WEIQUAN_WECHAT_ALERT_TEMPLATE_ID": ("TPL-1", "wechat.alert_template_id"),
    "WEIQUAN_WECHAT_ALERT_TEMPLATE_FIELDS": ("thing2:title", "wechat.alert_template_fields"),
    "WEIQUAN_TELEGRAM_TOKEN": ("1:abc", "telegram.token"),
    "WEIQUAN_TELEGRAM_SECRET": ("Abc_123-xyz", "telegram.secret"),
    "WEIQUAN_TELEGRAM_BASE_URL": ("http://127.0.0.1:8081/bot", "telegram.base_url"),
    "WEIQUAN_TELEGRAM_BASE_FILE_URL": ("http://127.0.0.1:8081/file/bot", "telegram.base_file_url"),
    "WEIQUAN_TELEGRAM_LOCAL_MODE": ("true", "telegram.local_mode"),
    "WEIQUAN_TELEGRAM_MAX_FILE_BYTES": ("1048576", "telegram.max_file_bytes"),
    "WEIQUAN_TELEGRAM_CONNECT_TIMEOUT": ("1.5", "telegram.connect_timeout"),
    "WEIQUAN_TELEGRAM_READ_TIMEOUT": ("2.5", "telegram.read_timeout"),
    "WEIQUAN_TELEGRAM_POLL_TIMEOUT": ("5", "telegram.poll_timeout"),
    "WEIQUAN_TELEGRAM_OVERALL_MAX_RATE": ("10.0", "telegram.overall_max_rate"),
    "WEIQUAN_TELEGRAM_OVERALL_TIME_PERIOD": ("2.0", "telegram.overall_time_period"),
    "WEIQUAN_TELEGRAM_CHAT_MAX_RATE": ("0.5", "telegram.chat_max_rate"),
    "WEIQUAN_TELEGRAM_CHAT_TIME_PERIOD": ("2.0", "telegram.chat_time_period"),
}
# Read by the test suite and the fuzzers, not by the service.
NOT_SETTINGS = {
    "WEIQUAN_TEST_POSTGRES_URL",
    "WEIQUAN_TEST_REQUIRE_POSTGRES",
    "WEIQUAN_FUZZ_EXAMPLES",
    # Read by nlu/train.py (a build-time cache, like the test variables), not by the app.
    "WEIQUAN_NLU_CACHE_DIR",
}


def shown(value: Any) -> str:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return str(value).lower() if isinstance(value, bool) else str(value)


def read_variables(model: type[BaseSettings] = Settings) -> set[str]:
    """The variable of every field, sections included, as the settings classes name them."""
    found: set[str] = set()
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseSettings):
            found |= read_variables(kind)
        elif isinstance(field.validation_alias, str):
            found.add(field.validation_alias)
        else:
            found.add((model.model_config.get("env_prefix", "") + name).upper())
    return found


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_every_variable_keeps_its_name_and_meaning(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    defaults = Settings()
    for name, (value, _where) in VARIABLES.items():
        clean_environment.setenv(name, value)
    settings = Settings()
    for name, (value, where) in VARIABLES.items():
        read = attrgetter(where)(settings)
        assert shown(read) == value, f"{name} → {where}"
        assert read != attrgetter(where)(defaults), f"{name} is its default: not proven read"


def test_the_table_above_is_every_variable_the_settings_read() -> None:
    assert read_variables() == set(VARIABLES)


def test_every_documented_variable_is_read() -> None:
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    named = {
        match
        for document in documents
        for match in re.findall(r"WEIQUAN_[A-Z0-9_]*[A-Z0-9]", document.read_text("utf-8"))
    }
    # ``WEIQUAN_WECHAT_*`` and the like name a family, not a variable.
    families = {n for n in named if any(v.startswith(n + "_") for v in VARIABLES)}
    assert named - families - NOT_SETTINGS <= set(VARIABLES), sorted(
        named - families - NOT_SETTINGS - set(VARIABLES)
    )


def test_sections_given_in_code_still_read_the_rest_from_the_environment(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    clean_environment.setenv("WEIQUAN_NLU_TIMEOUT", "1.5")
    clean_environment.setenv("WEIQUAN_BACKOFFICE_TIMEOUT", "2.5")
    settings = Settings(nlu={"manage": False}, backoffice={"url": "http://127.0.0.1:9/hook"})
    assert (settings.nlu.manage, settings.nlu.timeout) == (False, 1.5)
    assert (settings.backoffice.url, settings.backoffice.timeout) == (
        "http://127.0.0.1:9/hook",
        2.5,
    )


async def test_the_pool_settings_size_a_postgresql_engine(tmp_path: Path) -> None:
    from bot.db.engine import engine_from_settings

    settings = Settings(
        database_url="postgresql+asyncpg://db/weiquan",
        database_pool_size=5,
        database_max_overflow=3,
        data_dir=tmp_path,
    )
    engine = engine_from_settings(settings)  # nothing connects until a statement runs
    try:
        assert engine.sync_engine.pool.size() == 5  # type: ignore[attr-defined]
        assert "Current Overflow: -5" in engine.sync_engine.pool.status()
    finally:
        await engine.dispose()
