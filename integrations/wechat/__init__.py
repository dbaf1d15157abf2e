"""The WeChat Official Account channel (wechatpy): webhook, customer-service sender, menu.

``WechatSettings`` is a section of ``bot.settings.Settings``, which imports it from here; the
extension (which reaches the rest of the app) is loaded on first use so that import stays
free of cycles.
"""

from typing import TYPE_CHECKING

from integrations.wechat.settings import WechatSettings

if TYPE_CHECKING:
    from integrations.wechat.extension import WechatExtension

__all__ = ["WechatExtension", "WechatSettings"]


def __getattr__(name: str) -> object:
    if name == "WechatExtension":
        from integrations.wechat.extension import WechatExtension

        return WechatExtension
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
