"""WeChat Official Account settings (``WEIQUAN_WECHAT_*``): ``Settings.wechat``, read when the
app's settings are built, never at import."""

from __future__ import annotations

import base64
import binascii

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class WechatSettings(BaseSettings):
    """What an operator copies from the Official Account console (基本配置) plus our budgets."""

    model_config = SettingsConfigDict(env_prefix="WEIQUAN_WECHAT_", extra="ignore")

    token: str = Field(default="", repr=False, description="服务器配置 → 令牌(Token)")
    app_id: str = Field(default="", description="开发者ID(AppID)")
    app_secret: str = Field(default="", repr=False, description="开发者密码(AppSecret)")
    aes_key: str = Field(
        default="", repr=False, description="消息加解密密钥 EncodingAESKey (43 chars)"
    )
    api_base_url: str = "https://api.weixin.qq.com/"
    # Whether the account may call the customer-service (客服消息) API: verified service accounts.
    customer_service: bool = False
    # Passive replies must arrive within 5 s; answer (or give up on this delivery) before that.
    passive_budget_seconds: float = 4.0
    # Without the customer-service API a slow answer can only ride on WeChat's retry, which
    # comes only when this delivery gets no answer: hold it past WeChat's 5 s cut-off.
    retry_hold_seconds: float = 5.5
    # Subscription messages (订阅通知, message/subscribe/bizsend) for alerts once the 48-hour
    # customer-service window closed, to users who agreed in chat: the template chosen in the
    # Official Account console (订阅通知 → 我的模板) and which of its keys shows what, as
    # ``key:what`` pairs, what in {title, text, until, source} (thing values are cut to 20
    # characters, WeChat's limit). Without a template id such alerts are not deliverable.
    alert_template_id: str = ""
    alert_template_fields: str = "thing1:title,time2:until,thing3:source"
    max_body_bytes: int = 64 * 1024
    # Text passive replies and customer-service texts are limited to 2,048 bytes (UTF-8).
    max_reply_bytes: int = 2048
    api_timeout_seconds: float = 10.0
    # Renew the cached access token this long before WeChat says it expires.
    token_margin_seconds: int = 300
    # A callback signed more than this many seconds before (or after) our clock is refused,
    # and nonces are remembered this long, so a captured callback cannot be replayed.
    replay_window_seconds: int = Field(default=300, ge=30, le=3600)
    # PicUrl is fetched only from these hosts (comma-separated; WeChat's image CDN). Photos
    # otherwise come through the media API with the MediaId.
    pic_hosts: str = "mmbiz.qpic.cn,mmbiz.qlogo.cn"

    @field_validator("aes_key")
    @classmethod
    def _aes_key_shape(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return value
        try:
            key = base64.b64decode(value + "=", validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(
                "WEIQUAN_WECHAT_AES_KEY must be the 43-character EncodingAESKey"
            ) from None
        if len(value) != 43 or len(key) != 32:
            raise ValueError("WEIQUAN_WECHAT_AES_KEY must be the 43-character EncodingAESKey")
        return value

    @field_validator("api_base_url")
    @classmethod
    def _slash(cls, value: str) -> str:
        return value.rstrip("/") + "/"

    @property
    def configured(self) -> bool:
        """The webhook answers only once a token is set; without one nothing can be verified."""
        return bool(self.token)

    @property
    def pic_host_set(self) -> frozenset[str]:
        return frozenset(
            h.strip().lower().rstrip(".") for h in self.pic_hosts.split(",") if h.strip()
        )

    @property
    def alert_fields(self) -> list[tuple[str, str]]:
        pairs = (p.partition(":") for p in self.alert_template_fields.split(","))
        return [(key.strip(), what.strip()) for key, _, what in pairs if key.strip()]

    @property
    def can_call_api(self) -> bool:
        return bool(self.app_id and self.app_secret)
