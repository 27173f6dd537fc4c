"""Pieces of the steward pages that need no database: settings, languages, differences, pinyin, throttling."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.app.steward_i18n import EN, ZH, Translator, negotiate
from hub.app.steward_queries import compare_fields, display, pinyin_forms
from hub.app.steward_settings import load_web_settings
from hub.app.web_auth import Principal, Throttle
from hub.core.errors import ConfigError


def test_the_secret_key_comes_from_the_file_named_by_the_setting(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "web_secret"
    secret.write_text("a-long-random-secret\n")
    monkeypatch.setenv("HUB_WEB__SECRET_KEY_FILE", str(secret))
    monkeypatch.setenv("HUB_WEB__TRUSTED_PROXIES", '["10.0.0.0/8", "127.0.0.1"]')
    settings = load_web_settings()
    assert settings.signing_key() == "a-long-random-secret"
    assert len(settings.networks()) == 2 and "a-long-random-secret" not in repr(settings)


def test_bad_web_settings_are_named_without_their_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_WEB__TRUSTED_PROXIES", '["not-an-address"]')
    monkeypatch.setenv("HUB_WEB__COOKIE_SECURE", "sometimes")
    with pytest.raises(ConfigError) as caught:
        load_web_settings()
    text = str(caught.value)
    assert "HUB_WEB__TRUSTED_PROXIES" in text and "HUB_WEB__COOKIE_SECURE" in text
    assert "not-an-address" not in text and "sometimes" not in text


def test_without_a_secret_key_each_process_signs_with_a_random_one() -> None:
    settings = load_web_settings(secret_key="")
    assert len(settings.signing_key()) >= 32 and settings.signing_key() == settings.signing_key()


def test_language_negotiation_and_catalogue() -> None:
    assert negotiate(None) == "zh" and negotiate("", "en") == "en"
    assert negotiate("en-GB,en;q=0.9") == "en"
    assert negotiate("fr-FR,fr;q=0.9,en;q=0.5,zh;q=0.4") == "en"
    assert negotiate("zh-TW,zh;q=0.9,en;q=0.8") == "zh"
    assert set(EN) <= set(ZH) and set(ZH) - set(EN) == set()  # both languages say everything
    t = Translator("en")
    assert t("queue.count", n=3) == "3 pairs" and t.label("field", "unheard_of") == "unheard_of"
    assert Translator("xx")("nav.queue") == "待审核"


def test_differences_ignore_width_script_and_case() -> None:
    rows = {r.name: r for r in compare_fields(
        {"name": "苏州華成機械有限公司", "phone": "0512-6625 1234", "short_name": "ＨＣ"},
        {"name": "苏州华成精密机械有限公司", "address": {"province": "江苏省", "city": "苏州市"}, "short_name": "hc"})}
    assert rows["short_name"].status == "same"
    assert rows["phone"].status == "left_only" and rows["address"].status == "right_only"
    assert rows["name"].status == "differ"
    assert "精密" in "".join(s.text for s in rows["name"].right if s.changed)
    assert display({"province": "江苏省", "city": "苏州市", "street": "狮山路88号"}) == "江苏省 苏州市 狮山路88号"
    assert display([{"name": "王伟", "mobile": "13800000000"}]) == "name: 王伟; mobile: 13800000000"


def test_pinyin_forms_of_a_name() -> None:
    assert pinyin_forms("苏州华成机械有限公司") == ("suzhouhuachengjixieyouxiangongsi", "szhcjxyxgs")
    assert pinyin_forms("suzhouhuacheng") == ("suzhouhuacheng", "")


def test_throttle_and_roles() -> None:
    throttle = Throttle(attempts=2, window_s=60)
    throttle.failed("user:a", "ip:1")
    assert not throttle.blocked("user:a")
    throttle.failed("user:a", "ip:1")
    assert throttle.blocked("user:a") and throttle.blocked("user:b", "ip:1") and not throttle.blocked("user:b")
    throttle.succeeded("user:a", "ip:1")
    assert not throttle.blocked("user:a", "ip:1")
    assert Principal("x", "admin", "password").can("steward") and not Principal("y", "viewer", "proxy").can("steward")
