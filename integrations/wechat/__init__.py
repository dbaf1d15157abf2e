"""The WeChat Official Account channel (wechatpy): webhook, customer-service sender, menu."""

from integrations.wechat.extension import WechatExtension
from integrations.wechat.settings import WechatSettings

__all__ = ["WechatExtension", "WechatSettings"]
