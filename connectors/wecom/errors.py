"""WeCom's errors in the hub's tree: API errcodes keep their code, callback rejections their HTTP status.

    SourceAuthError     ← WecomAuthError          40013 corpid, 40001/40091 secret, 60011/48002 privilege
    SourceRejected      ← WecomRejected           301xxx, 84061, other non-zero errcodes
    SourceUnavailable   ← WecomUnavailable        45009/45011/45033/-1 after retries, network, HTTP 5xx
    SourceProtocolError ← CallbackRejected        a callback we refuse (status 400 or 403)
                          ├── SignatureError      403  msg_signature does not match
                          ├── TimestampError      403  timestamp outside the allowed skew
                          ├── ReplayError         403  nonce seen before
                          ├── ReceiveIdError      403  decrypted receive id is not our corp id
                          └── DecryptError        400  not base64, bad padding or length, broken XML

Messages name the errcode and what to check, never a secret, a token or a message's content.
"""

from __future__ import annotations

from hub.core.errors import SourceAuthError, SourceProtocolError, SourceRejected, SourceUnavailable


class WecomAuthError(SourceAuthError):
    """WeCom refused our corp id, secret or the app's privileges."""

    def __init__(self, message: str, errcode: int | None = None) -> None:
        super().__init__(message)
        self.errcode = errcode


class WecomRejected(SourceRejected):
    """WeCom understood the request and refused it (e.g. 301xxx, 84061)."""

    def __init__(self, message: str, errcode: int | None = None) -> None:
        super().__init__(message)
        self.errcode = errcode


class WecomUnavailable(SourceUnavailable):
    """WeCom could not be reached, failed, or kept rate-limiting us."""

    def __init__(self, message: str, errcode: int | None = None) -> None:
        super().__init__(message)
        self.errcode = errcode


class CallbackRejected(SourceProtocolError):
    """A callback request the hub refuses; `http_status` is what the endpoint answers."""

    http_status = 400


class SignatureError(CallbackRejected):
    """The msg_signature does not match the token, timestamp, nonce and ciphertext."""

    http_status = 403


class TimestampError(CallbackRejected):
    """The timestamp is missing, not a number or too far from now."""

    http_status = 403


class ReplayError(CallbackRejected):
    """The nonce was already used within the allowed skew."""

    http_status = 403


class ReceiveIdError(CallbackRejected):
    """The message decrypted, but for another receive id (corp id)."""

    http_status = 403


class DecryptError(CallbackRejected):
    """The ciphertext or the XML around it is malformed (base64, block length, padding, length prefix)."""

    http_status = 400
