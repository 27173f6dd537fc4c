"""WeCom callback crypto: the official WXBizMsgCrypt samples, wechatpy both ways, every rejection.

The sample values are those of WeCom's published WXBizMsgCrypt samples (C#, Java, PHP, Python):
token QDG6eK, receive id wx5823bf96d3bd56c7, EncodingAESKey jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C,
the URL verification GET and the encrypted POST of 2014-09-02. wechatpy (test-only dependency) is an
independent implementation of the same scheme.
"""

from __future__ import annotations

import base64
import re
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wechatpy.enterprise.crypto import WeChatCrypto

from connectors.wecom.callbacks import parse_message
from connectors.wecom.crypto import BLOCK, WecomCrypto, aes_key, pkcs7_pad, pkcs7_unpad, signature
from connectors.wecom.errors import (
    CallbackRejected,
    DecryptError,
    ReceiveIdError,
    ReplayError,
    SignatureError,
    TimestampError,
)
from hub.core.errors import HubError

TOKEN = "QDG6eK"
RECEIVE_ID = "wx5823bf96d3bd56c7"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"

VERIFY = {"msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "timestamp": "1409659589",
          "nonce": "263014780",
          "echostr": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="}
VERIFY_PLAIN = "1616140317555161061"

POST_SIGNATURE, POST_TIMESTAMP, POST_NONCE = "477715d11cdb4164915debcba66cb864d751f3e6", "1409659813", "1372623149"
POST_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/"
    "sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+"
    "LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8"
    "V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptD"
    "AVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==")
POST_BODY = (f"<xml><ToUserName><![CDATA[{RECEIVE_ID}]]></ToUserName><Encrypt><![CDATA[{POST_ENCRYPT}]]></Encrypt>"
             "<AgentID><![CDATA[218]]></AgentID></xml>")
POST_PLAIN = ("<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n"
              "<FromUserName><![CDATA[mycreate]]></FromUserName>\n<CreateTime>1409659813</CreateTime>\n"
              "<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hello]]></Content>\n"
              "<MsgId>4561255354251345929</MsgId>\n<AgentID>218</AgentID>\n</xml>")
# The official sample's reply, with Chinese text: lengths are counted in bytes.
REPLY = ("<xml><ToUserName><![CDATA[mycreate]]></ToUserName><FromUserName><![CDATA[wx582测试一下中文的情况，消息长度是按字节"
         "来算的396d3bd56c7]]></FromUserName><CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType>"
         "<Content><![CDATA[this is这是一个中文测试 a test]]></Content><MsgId>1234567890123456</MsgId>"
         "<AgentID>128</AgentID></xml>")


@pytest.fixture
def crypto() -> WecomCrypto:
    return WecomCrypto(TOKEN, AES_KEY, RECEIVE_ID)


@pytest.fixture
def wechatpy() -> WeChatCrypto:
    return WeChatCrypto(TOKEN, AES_KEY, RECEIVE_ID)


def envelope_parts(envelope: str) -> tuple[str, str, str, str]:
    """(Encrypt, MsgSignature, TimeStamp, Nonce) of a reply envelope."""
    found = [re.search(pattern, envelope) for pattern in (
        r"<Encrypt><!\[CDATA\[(.*?)\]\]>", r"<MsgSignature><!\[CDATA\[(.*?)\]\]>", r"<TimeStamp>(.*?)<",
        r"<Nonce><!\[CDATA\[(.*?)\]\]>")]
    assert all(found)
    return tuple(m.group(1) for m in found)  # type: ignore[return-value,union-attr]


def body_with(encrypted: str) -> str:
    return f"<xml><ToUserName><![CDATA[{RECEIVE_ID}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"


def raw_ciphertext(crypto: WecomCrypto, plaintext: bytes, *, pad: bool = True) -> str:
    """Encrypt arbitrary bytes with the crypto's key (to forge malformed plaintexts)."""
    encryptor = crypto._cipher().encryptor()
    data = pkcs7_pad(plaintext) if pad else plaintext
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode()


# ---------------------------------------------------------------------------------------- official


def test_official_url_verification_sample(crypto: WecomCrypto) -> None:
    assert crypto.verify_url(**VERIFY) == VERIFY_PLAIN


def test_official_post_sample_decrypts_to_the_published_message(crypto: WecomCrypto) -> None:
    assert crypto.decrypt_message(POST_SIGNATURE, POST_TIMESTAMP, POST_NONCE, POST_BODY) == POST_PLAIN


def test_official_signature_is_sha1_of_the_sorted_values() -> None:
    assert signature(TOKEN, VERIFY["timestamp"], VERIFY["nonce"], VERIFY["echostr"]) == VERIFY["msg_signature"]
    assert signature(TOKEN, POST_TIMESTAMP, POST_NONCE, POST_ENCRYPT) == POST_SIGNATURE


def test_the_key_is_base64_of_the_43_characters_plus_padding() -> None:
    key = aes_key(AES_KEY)
    assert len(key) == 32 and key == base64.b64decode(AES_KEY + "=")
    for bad in ("short", AES_KEY + "A", AES_KEY[:-1] + "!"):
        with pytest.raises(ValueError):
            aes_key(bad)


def test_official_reply_round_trips_with_chinese_text(crypto: WecomCrypto) -> None:
    envelope = crypto.encrypt_message(REPLY, POST_NONCE, POST_TIMESTAMP)
    _encrypted, sig, stamp, nonce = envelope_parts(envelope)
    assert (stamp, nonce) == (POST_TIMESTAMP, POST_NONCE)
    assert crypto.decrypt_message(sig, stamp, nonce, envelope) == REPLY


def test_plaintext_layout_and_32_byte_padding(crypto: WecomCrypto) -> None:
    message = "<xml>你好</xml>"
    raw = base64.b64decode(crypto.encrypt(message))
    decryptor = crypto._cipher().decryptor()
    plain = decryptor.update(raw) + decryptor.finalize()
    assert len(plain) % BLOCK == 0 and len(raw) % BLOCK == 0
    body = message.encode()
    content = pkcs7_unpad(plain)
    assert struct.unpack(">I", content[16:20])[0] == len(body)
    assert content[20:20 + len(body)] == body and content[20 + len(body):] == RECEIVE_ID.encode()


def test_padding_is_a_whole_block_when_aligned() -> None:
    assert pkcs7_pad(b"x" * 32) == b"x" * 32 + bytes([32]) * 32
    assert pkcs7_pad(b"x" * 31) == b"x" * 31 + b"\x01"


# ---------------------------------------------------------------------------------------- wechatpy


def test_wechatpy_decrypts_our_reply(crypto: WecomCrypto, wechatpy: WeChatCrypto) -> None:
    envelope = crypto.encrypt_message(REPLY, "987654321", "1700000000")
    _encrypted, sig, stamp, nonce = envelope_parts(envelope)
    assert wechatpy.decrypt_message(envelope, sig, stamp, nonce) == REPLY


def test_we_decrypt_wechatpys_messages(crypto: WecomCrypto, wechatpy: WeChatCrypto) -> None:
    envelope = wechatpy.encrypt_message(REPLY, "123456", "1700000000")
    encrypted, sig, stamp, nonce = envelope_parts(envelope)
    assert crypto.decrypt_message(sig, stamp, nonce, envelope) == REPLY
    assert crypto.verify_url(sig, stamp, nonce, encrypted) == REPLY


def test_wechatpy_verifies_our_url_verification(crypto: WecomCrypto, wechatpy: WeChatCrypto) -> None:
    echostr = crypto.encrypt("4711")
    sig = crypto.sign("1700000000", "42", echostr)
    assert wechatpy.check_signature(sig, "1700000000", "42", echostr) == "4711"


def test_wechatpy_agrees_on_the_official_samples(wechatpy: WeChatCrypto) -> None:
    assert wechatpy.check_signature(VERIFY["msg_signature"], VERIFY["timestamp"], VERIFY["nonce"],
                                    VERIFY["echostr"]) == VERIFY_PLAIN
    assert wechatpy.decrypt_message(POST_BODY, POST_SIGNATURE, POST_TIMESTAMP, POST_NONCE) == POST_PLAIN


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=0, max_size=300))
def test_both_implementations_agree_on_any_text(message: str) -> None:
    ours, theirs = WecomCrypto(TOKEN, AES_KEY, RECEIVE_ID), WeChatCrypto(TOKEN, AES_KEY, RECEIVE_ID)
    xml = f"<xml><Content>{message}</Content></xml>"
    envelope = ours.encrypt_message(xml, "1", "2")
    _e, sig, stamp, nonce = envelope_parts(envelope)
    assert theirs.decrypt_message(envelope, sig, stamp, nonce) == xml
    back = theirs.encrypt_message(xml, "3", "4")
    _e, sig, stamp, nonce = envelope_parts(back)
    assert ours.decrypt_message(sig, stamp, nonce, back) == xml


# --------------------------------------------------------------------------------------- rejections


def test_every_rejection_is_a_hub_error_with_an_http_status() -> None:
    for cls, status in ((SignatureError, 403), (TimestampError, 403), (ReplayError, 403), (ReceiveIdError, 403),
                        (DecryptError, 400)):
        assert issubclass(cls, CallbackRejected) and issubclass(cls, HubError) and cls.http_status == status


@pytest.mark.parametrize("field", ["msg_signature", "timestamp", "nonce", "echostr"])
def test_url_verification_with_any_value_changed_fails_the_signature(crypto: WecomCrypto, field: str) -> None:
    forged = dict(VERIFY)
    forged[field] = ("1" + forged[field][1:]) if forged[field][0] != "1" else ("2" + forged[field][1:])
    with pytest.raises((SignatureError, TimestampError)):
        crypto.verify_url(**forged)


def test_forged_signature_is_refused(crypto: WecomCrypto) -> None:
    with pytest.raises(SignatureError):
        crypto.decrypt_message("0" * 40, POST_TIMESTAMP, POST_NONCE, POST_BODY)
    with pytest.raises(SignatureError):
        crypto.decrypt_message("", POST_TIMESTAMP, POST_NONCE, POST_BODY)


def test_another_token_gives_another_signature() -> None:
    other = WecomCrypto("NotQDG6eK", AES_KEY, RECEIVE_ID)
    with pytest.raises(SignatureError):
        other.decrypt_message(POST_SIGNATURE, POST_TIMESTAMP, POST_NONCE, POST_BODY)


def test_tampered_ciphertext_is_refused_before_decryption(crypto: WecomCrypto) -> None:
    flipped = POST_ENCRYPT[:40] + ("A" if POST_ENCRYPT[40] != "A" else "B") + POST_ENCRYPT[41:]
    with pytest.raises(SignatureError):
        crypto.decrypt_message(POST_SIGNATURE, POST_TIMESTAMP, POST_NONCE, body_with(flipped))


def test_tampered_ciphertext_with_a_matching_signature_fails_to_decrypt(crypto: WecomCrypto) -> None:
    """Someone with the token but not the key: the signature holds, the plaintext does not."""
    raw = bytearray(base64.b64decode(POST_ENCRYPT))
    raw[-1] ^= 0x55  # the last block decrypts to garbage: its padding breaks
    tampered = base64.b64encode(bytes(raw)).decode()
    sig = crypto.sign(POST_TIMESTAMP, POST_NONCE, tampered)
    with pytest.raises((DecryptError, ReceiveIdError)):
        crypto.decrypt_message(sig, POST_TIMESTAMP, POST_NONCE, body_with(tampered))


def test_wrong_receive_id_is_refused(crypto: WecomCrypto) -> None:
    other_corp = WecomCrypto(TOKEN, AES_KEY, "ww0000000000000000")
    envelope = other_corp.encrypt_message("<xml><MsgType>text</MsgType></xml>", "5", "1409659813")
    _e, sig, stamp, nonce = envelope_parts(envelope)
    with pytest.raises(ReceiveIdError):
        crypto.decrypt_message(sig, stamp, nonce, envelope)
    with pytest.raises(ReceiveIdError):
        WecomCrypto(TOKEN, AES_KEY, "wx5823bf96d3bd56c").verify_url(**VERIFY)  # a prefix is not enough


@pytest.mark.parametrize("plaintext", [
    b"r" * 16 + struct.pack(">I", 5) + b"<xml>" + RECEIVE_ID.encode() + b"\x00" * 3,  # padding bytes 0
])
def test_bad_padding_is_refused(crypto: WecomCrypto, plaintext: bytes) -> None:
    encrypted = raw_ciphertext(crypto, plaintext + bytes(32 - len(plaintext) % 32), pad=False)
    sig = crypto.sign("1", "2", encrypted)
    with pytest.raises(DecryptError, match="padding"):
        crypto.decrypt_message(sig, "1", "2", body_with(encrypted))


def test_inconsistent_padding_bytes_are_refused() -> None:
    with pytest.raises(DecryptError):
        pkcs7_unpad(b"x" * 29 + b"\x01\x02\x03")
    with pytest.raises(DecryptError):
        pkcs7_unpad(b"x" * 31 + b"\x21")  # 33 > the 32-byte block
    with pytest.raises(DecryptError):
        pkcs7_unpad(b"")


def test_length_prefix_beyond_the_plaintext_is_refused(crypto: WecomCrypto) -> None:
    encrypted = raw_ciphertext(crypto, b"r" * 16 + struct.pack(">I", 10_000) + b"<xml/>" + RECEIVE_ID.encode())
    sig = crypto.sign("1", "2", encrypted)
    with pytest.raises(DecryptError, match="length"):
        crypto.decrypt_message(sig, "1", "2", body_with(encrypted))


@pytest.mark.parametrize("encrypted", ["not base64 at all!", "QUJD", base64.b64encode(b"x" * 20).decode()])
def test_malformed_ciphertext_is_refused(crypto: WecomCrypto, encrypted: str) -> None:
    sig = crypto.sign("1", "2", encrypted)
    with pytest.raises(DecryptError):
        crypto.decrypt_message(sig, "1", "2", body_with(encrypted))


@pytest.mark.parametrize("body", [
    "not xml",
    "<xml><ToUserName>x</ToUserName></xml>",                                   # no Encrypt
    '<!DOCTYPE x [<!ENTITY e "boom">]><xml><Encrypt>&e;</Encrypt></xml>',      # DTD and entity
])
def test_malformed_body_is_refused(crypto: WecomCrypto, body: str) -> None:
    with pytest.raises(DecryptError):
        crypto.decrypt_message(POST_SIGNATURE, POST_TIMESTAMP, POST_NONCE, body)


def test_timestamps_outside_the_skew_are_refused() -> None:
    now = 1_700_000_000.0
    crypto = WecomCrypto(TOKEN, AES_KEY, RECEIVE_ID, max_skew_s=300, clock=lambda: now)
    echostr = crypto.encrypt("ok")
    for stamp in (str(int(now) - 301), str(int(now) + 301)):
        with pytest.raises(TimestampError):
            crypto.verify_url(crypto.sign(stamp, "1", echostr), stamp, "1", echostr)
    for stamp in (str(int(now) - 300), str(int(now) + 300)):
        assert crypto.verify_url(crypto.sign(stamp, "1", echostr), stamp, "1", echostr) == "ok"
    for stamp in ("", "abc", "-5", "1" * 20, "²", "1700000000²"):  # "²" is a digit to str.isdigit()
        with pytest.raises(TimestampError):
            crypto.check_timestamp(stamp)


def test_a_message_nesting_deeper_than_any_wecom_message_is_refused() -> None:
    with pytest.raises(DecryptError, match="nests deeper"):
        parse_message(b"<xml><MsgType>text</MsgType>" + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</xml>")


@pytest.mark.parametrize("create_time", ["²", "9" * 5000, "-1", "", "1.5"])
def test_a_create_time_that_is_not_unix_seconds_is_zero(create_time: str) -> None:
    message = parse_message(f"<xml><MsgType>event</MsgType><CreateTime>{create_time}</CreateTime></xml>")
    assert message.create_time == 0 and message.dedupe_key().startswith("evt:0:")


def test_reply_nonce_and_timestamp_cannot_break_the_envelope(crypto: WecomCrypto) -> None:
    with pytest.raises(ValueError):
        crypto.encrypt_message("<xml/>", "]]><Evil/>", "1")


def test_repr_and_errors_never_show_the_token_or_key(crypto: WecomCrypto) -> None:
    assert TOKEN not in repr(crypto) and AES_KEY not in repr(crypto)
    with pytest.raises(SignatureError) as info:
        crypto.decrypt_message("0" * 40, POST_TIMESTAMP, POST_NONCE, POST_BODY)
    assert TOKEN not in str(info.value) and AES_KEY not in str(info.value) and POST_ENCRYPT not in str(info.value)
