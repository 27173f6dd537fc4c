"""WeCom callback crypto (WXBizMsgCrypt): SHA1 signatures and AES-256-CBC with 32-byte PKCS#7 blocks.

    key        = base64decode(EncodingAESKey + "=")          32 bytes; IV = key[:16]
    plaintext  = 16 random bytes ‖ len(msg) as 4 bytes big-endian ‖ msg ‖ receive id (the corp id)
    padding    = PKCS#7 to a multiple of 32 bytes (not AES's 16)
    signature  = sha1("".join(sorted([token, timestamp, nonce, ciphertext]))).hexdigest()

The signature is checked (in constant time) before anything is decrypted, so a forger never sees
how decryption fails. XML is parsed with defusedxml: no DTD, no entities.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import struct
import time
from collections.abc import Callable
from xml.etree.ElementTree import Element

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from pydantic import SecretStr

from connectors.wecom.errors import DecryptError, ReceiveIdError, SignatureError, TimestampError

BLOCK = 32  # WeCom pads to 32 bytes, twice the AES block
MAX_DEPTH = 32  # WeCom's messages nest a few elements deep; a deeper one is refused, not recursed into
_RANDOM = 16
_SAFE_ATTRIBUTE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # nonce and timestamp as they go into the reply XML
_REPLY = ("<xml>\n<Encrypt><![CDATA[{encrypt}]]></Encrypt>\n<MsgSignature><![CDATA[{signature}]]></MsgSignature>\n"
          "<TimeStamp>{timestamp}</TimeStamp>\n<Nonce><![CDATA[{nonce}]]></Nonce>\n</xml>")


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key of a 43-character EncodingAESKey."""
    if len(encoding_aes_key) != 43:
        raise ValueError("EncodingAESKey must be 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error:
        raise ValueError("EncodingAESKey is not base64") from None
    if len(key) != 32:
        raise ValueError("EncodingAESKey does not decode to 32 bytes")
    return key


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    """SHA1 hex of the four values sorted and joined."""
    return hashlib.sha1("".join(sorted((token, timestamp, nonce, encrypted))).encode()).hexdigest()


def pkcs7_pad(data: bytes, block: int = BLOCK) -> bytes:
    """PKCS#7 padding to `block` bytes (a whole block when already aligned)."""
    count = block - len(data) % block
    return data + bytes([count]) * count


def pkcs7_unpad(data: bytes, block: int = BLOCK) -> bytes:
    """Remove PKCS#7 padding; every padding byte must carry the count."""
    if not data:
        raise DecryptError("empty plaintext")
    count = data[-1]
    if not 1 <= count <= block or count > len(data) or data[-count:] != bytes([count]) * count:
        raise DecryptError("bad padding")
    return data[:-count]


class WecomCrypto:
    """Verifies, decrypts and encrypts WeCom callback messages for one token, key and receive id."""

    def __init__(self, token: str | SecretStr, encoding_aes_key: str | SecretStr, receive_id: str, *,
                 max_skew_s: float | None = None, clock: Callable[[], float] = time.time) -> None:
        self._token = _plain(token)
        self._key = aes_key(_plain(encoding_aes_key))
        self.receive_id = receive_id
        self.max_skew_s = max_skew_s  # None: timestamps are not checked (the official samples are from 2014)
        self._clock = clock

    def __repr__(self) -> str:
        return f"WecomCrypto(receive_id={self.receive_id!r})"  # never the token or the key

    # --------------------------------------------------------------------------------------- API

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """The plaintext echostr of the URL verification GET, after its signature and receive id."""
        self.check_signature(msg_signature, timestamp, nonce, echostr)
        return self.decrypt(echostr)

    def decrypt_message(self, msg_signature: str, timestamp: str, nonce: str, body_xml: str | bytes) -> str:
        """The plaintext XML message of an encrypted POST body."""
        encrypted = _element_text(parse_xml(body_xml), "Encrypt")
        self.check_signature(msg_signature, timestamp, nonce, encrypted)
        return self.decrypt(encrypted)

    def encrypt_message(self, reply_xml: str, nonce: str, timestamp: str | int | None = None) -> str:
        """The encrypted, signed reply envelope (Encrypt, MsgSignature, TimeStamp, Nonce)."""
        stamp = str(int(self._clock()) if timestamp is None else timestamp)
        if not (_SAFE_ATTRIBUTE.match(nonce) and _SAFE_ATTRIBUTE.match(stamp)):
            raise ValueError("nonce and timestamp must be letters, digits, '-' or '_'")
        encrypted = self.encrypt(reply_xml)
        return _REPLY.format(encrypt=encrypted, signature=self.sign(stamp, nonce, encrypted), timestamp=stamp,
                             nonce=nonce)

    # -------------------------------------------------------------------------------- primitives

    def sign(self, timestamp: str, nonce: str, encrypted: str) -> str:
        """The msg_signature of a ciphertext."""
        return signature(self._token, timestamp, nonce, encrypted)

    def check_signature(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> None:
        """Raise SignatureError unless the signature matches; TimestampError when the time is off."""
        self.check_timestamp(timestamp)
        expected = self.sign(timestamp, nonce, encrypted)
        if not hmac.compare_digest(expected.encode(), (msg_signature or "").lower().encode()):
            raise SignatureError("msg_signature does not match")

    def check_timestamp(self, timestamp: str) -> None:
        """Raise TimestampError when the timestamp is not a number or further than max_skew_s from now."""
        if not (timestamp or "").isascii() or not timestamp.isdigit() or len(timestamp) > 12:  # not "²"
            raise TimestampError("timestamp is not a Unix time")
        if self.max_skew_s is not None and abs(self._clock() - int(timestamp)) > self.max_skew_s:
            raise TimestampError(f"timestamp is more than {self.max_skew_s:g} s from now")

    def encrypt(self, message: str) -> str:
        """Base64 ciphertext of a message for our receive id."""
        body = message.encode()
        plain = os.urandom(_RANDOM) + struct.pack(">I", len(body)) + body + self.receive_id.encode()
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(pkcs7_pad(plain)) + encryptor.finalize()).decode()

    def decrypt(self, encrypted: str) -> str:
        """The message inside a base64 ciphertext; its receive id must be ours."""
        message, receive_id = self._open(encrypted)
        if not hmac.compare_digest(receive_id, self.receive_id.encode()):
            raise ReceiveIdError("the message is for another receive id")
        try:
            return message.decode()
        except UnicodeDecodeError:
            raise DecryptError("message is not UTF-8") from None

    def _open(self, encrypted: str) -> tuple[bytes, bytes]:
        """(message, receive id) of a ciphertext, checking base64, block length, padding and length."""
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise DecryptError("ciphertext is not base64") from None
        if not raw or len(raw) % 16:
            raise DecryptError("ciphertext is not a whole number of AES blocks")
        decryptor = self._cipher().decryptor()
        content = pkcs7_unpad(decryptor.update(raw) + decryptor.finalize())[_RANDOM:]
        if len(content) < 4:
            raise DecryptError("plaintext too short")
        (length,) = struct.unpack(">I", content[:4])
        if length > len(content) - 4:
            raise DecryptError("message length exceeds the plaintext")
        return content[4:4 + length], content[4 + length:]

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))


def parse_xml(body: str | bytes) -> Element:
    """Parse a callback XML document safely (defusedxml: no DTD, no entities)."""
    try:
        root: Element = fromstring(body, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError):
        raise DecryptError("body is not well-formed XML without DTD or entities") from None
    return root


def xml_fields(root: Element, depth: int = 0) -> dict[str, object]:
    """A message element as a dict: leaves as text, nested elements as dicts, repeats as lists."""
    if depth > MAX_DEPTH:
        raise DecryptError(f"message nests deeper than {MAX_DEPTH} elements")
    out: dict[str, object] = {}
    for child in root:
        value: object = xml_fields(child, depth + 1) if len(child) else (child.text or "").strip()
        if child.tag in out:
            previous = out[child.tag]
            out[child.tag] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[child.tag] = value
    return out


def _element_text(root: Element, tag: str) -> str:
    element = root.find(tag)
    if element is None or not (element.text or "").strip():
        raise DecryptError(f"no {tag} element")
    return (element.text or "").strip()


def _plain(value: str | SecretStr) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value
