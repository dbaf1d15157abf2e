"""The envelope of a callback: signature checks and the three modes (plaintext, compatible, safe).

Verification happens before anything else reads the body, and the reply is sealed in the
mode the request came in, as WeChat expects.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import WeChatSigner

from integrations.wechat import xmlcodec
from integrations.wechat.settings import WechatSettings

MAX_NONCE_CHARS = 64


class Forbidden(Exception):
    """A signature did not match (403)."""

    code = "bad_signature"


class EncryptionRequired(Forbidden):
    """An unencrypted callback to an account in safe mode: its body is not authenticated."""

    code = "encryption_required"


class Stale(Forbidden):
    """The signed timestamp is outside the replay window."""

    code = "stale_timestamp"


class Replayed(Forbidden):
    """This (timestamp, nonce) already carried another message, or too many deliveries."""

    code = "replayed"


class BadRequest(Exception):
    """The request is malformed or is not for this account (400)."""

    code = "bad_message"


def sign(*parts: str) -> str:
    """WeChat's SHA-1 over the sorted parts (token, timestamp, nonce[, encrypt])."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def check_plain_signature(token: str, signature: str, timestamp: str, nonce: str) -> None:
    if not (signature and timestamp and nonce) or not _same(
        sign(token, timestamp, nonce), signature
    ):
        raise Forbidden("bad signature")


@dataclass(frozen=True)
class Opened:
    """A verified, decrypted message and how to seal the answer."""

    fields: dict[str, str]
    encrypted: bool
    timestamp: str
    nonce: str

    @property
    def digest(self) -> str:
        """Names the message itself, whichever envelope carried it (WeChat's retries match)."""
        canonical = json.dumps(sorted(self.fields.items()), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class Envelope:
    """Opens callbacks and seals replies for one account."""

    def __init__(self, settings: WechatSettings, clock: Callable[[], float] = time.time) -> None:
        self.token = settings.token
        self.window = settings.replay_window_seconds
        self.clock = clock
        self.crypto = (
            WeChatCrypto(settings.token, settings.aes_key, settings.app_id)
            if settings.aes_key
            else None
        )

    def open(self, params: dict[str, str], body: bytes) -> Opened:
        """Verify, check freshness, decrypt; raises Forbidden (403) or BadRequest (400)."""
        opened = self._open(params, body)
        self._check_fresh(opened.timestamp)
        return opened

    def _check_fresh(self, timestamp: str) -> None:
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            raise BadRequest("timestamp must be a Unix time")
        if abs(self.clock() - int(timestamp)) > self.window:
            raise Stale(
                f"the signed timestamp is more than {self.window} s from this server's clock"
            )

    def _open(self, params: dict[str, str], body: bytes) -> Opened:
        timestamp = params.get("timestamp", "")
        nonce = params.get("nonce", "")
        encrypted = params.get("encrypt_type", "raw").lower() == "aes"
        if len(nonce) > MAX_NONCE_CHARS:
            raise BadRequest(f"nonce longer than {MAX_NONCE_CHARS} characters")
        if not encrypted:
            if self.crypto is not None:
                # Safe mode signs the ciphertext; a plaintext body here would be unauthenticated.
                raise EncryptionRequired(
                    "this account uses encrypted callbacks (encrypt_type=aes); "
                    "unencrypted ones are refused"
                )
            check_plain_signature(self.token, params.get("signature", ""), timestamp, nonce)
            return Opened(self._parse(body), False, timestamp, nonce)
        if self.crypto is None:
            raise BadRequest("safe mode is not configured (WEIQUAN_WECHAT_AES_KEY)")
        if params.get("signature"):
            # WeChat also sends the plain signature in safe mode: check it when present.
            check_plain_signature(self.token, params["signature"], timestamp, nonce)
        outer = self._parse(body)
        encrypt = outer.get("Encrypt", "")
        signature = params.get("msg_signature", "")
        if not (encrypt and signature and timestamp and nonce):
            if not signature:
                raise Forbidden("msg_signature missing")
            raise BadRequest("Encrypt, timestamp or nonce missing")
        if not _same(sign(self.token, timestamp, nonce, encrypt), signature):
            raise Forbidden("bad msg_signature")
        try:
            plain = self.crypto.decrypt_message({"Encrypt": encrypt}, signature, timestamp, nonce)
        except InvalidSignatureException:
            raise Forbidden("bad msg_signature") from None
        except InvalidAppIdException:
            raise BadRequest("the message is for another AppID") from None
        except Exception as exc:  # a corrupt ciphertext: base64, padding, UTF-8 ...
            raise BadRequest(f"cannot decrypt: {type(exc).__name__}") from None
        return Opened(self._parse(plain), True, timestamp, nonce)

    def seal(self, opened: Opened, reply_xml: str) -> str:
        if not opened.encrypted or self.crypto is None:
            return reply_xml
        return str(self.crypto.encrypt_message(reply_xml, opened.nonce, opened.timestamp))

    @staticmethod
    def _parse(body: bytes | str) -> dict[str, str]:
        try:
            return xmlcodec.parse(body)
        except xmlcodec.BadXml as exc:
            raise BadRequest(str(exc)) from None
