"""Response headers every answer carries, and the chat page's Content-Security-Policy."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The chat page loads its script and style from /static and /console/static, shows photo
# previews from blob: URLs, and talks only to its own origin.
CHAT_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
CHAT_HEADERS = {
    "Content-Security-Policy": CHAT_CSP,
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class SecurityHeaders:
    """ASGI middleware: ``nosniff`` on every response (evidence downloads above all), so a
    browser never runs an uploaded file as anything but its declared type."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        page_files = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if page_files:
                    # chat.html is reachable here too: same policy as at /.
                    headers.setdefault("Content-Security-Policy", CHAT_CSP)
            await send(message)

        await self.app(scope, receive, send_with_headers)
