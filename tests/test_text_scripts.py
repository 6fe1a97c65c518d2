"""validate.text across scripts: weighted_length for Han/Hangul/Kana/Thai, detect_language on mixed pages."""

from __future__ import annotations

import unicodedata
from dataclasses import fields

import pytest

from crawlers.recipe import Recipe
from validate.text import detect_language, weighted_length

# --- fixtures (our own text) -----------------------------------------------------------------------------------

# Korean: how to apply for a resident registration card; ~110 characters, a normal short article.
KO = (
    "주민등록증을 처음 발급받으려면 가까운 주민센터를 방문해야 합니다. 신청할 때는 본인 확인을 위해 "
    "사진 한 장과 기존 신분증을 가져가야 하며, 발급까지는 보통 삼 주 정도 걸립니다. "
    "분실한 경우에는 온라인으로 재발급을 신청할 수도 있습니다."
)
# The same content in English: the length a Korean page should be measured close to.
KO_EN = (
    "To get a resident registration card for the first time, you have to visit your local community center. "
    "When you apply, bring one photo and an existing ID to confirm who you are; issuing usually takes about "
    "three weeks. If you lose the card, you can also apply for a replacement online."
)
# Japanese: notes on renewing a driving licence, kanji and kana mixed as usual.
JA = (
    "運転免許証の更新は、誕生日の前後一か月の間に行います。更新のお知らせのはがきが届いたら、"
    "写真と手数料を用意して、近くの警察署か運転免許センターへ行ってください。"
    "講習の時間は違反の有無によって変わります。"
)
JA_EN = (
    "You renew your driving licence within one month before or after your birthday. When the reminder postcard "
    "arrives, prepare a photo and the fee, and go to a nearby police station or licence center. "
    "The length of the lecture depends on whether you have had any violations."
)
# Thai: a short notice about opening hours (no spaces between words).
TH = "ร้านเปิดทุกวันตั้งแต่เก้าโมงเช้าถึงหกโมงเย็น ยกเว้นวันหยุดนักขัตฤกษ์ กรุณาจองล่วงหน้าทางโทรศัพท์"

# Mixed Traditional Chinese / English: a Taiwan team's deployment notes, English-heavy (Han ~15% of letters).
MIXED_HANT = (
    "這份文件說明如何在公司內部部署服務。Please read the English section below first: it covers installation, "
    "configuration files, environment variables, logging, monitoring and the backup schedule. "
    "如果有任何問題，請聯絡系統管理員。"
)
MIXED_HANS = (
    "这份文件说明如何在公司内部部署服务。Please read the English section below first: it covers installation, "
    "configuration files, environment variables, logging, monitoring and the backup schedule. "
    "如果有任何问题，请联系系统管理员。"
)
# English release notes with a substantial Chinese paragraph (>= 30 Han characters), in an otherwise long page.
ENGLISH_HEAVY_HANT = (
    "Release 4.2 changes the default storage engine, removes the deprecated v1 endpoints and adds a migration "
    "tool. Read the upgrade guide before you start, back up every database, and test the migration on a staging "
    "copy first. The command line interface keeps its flags, but the configuration file gains three new keys for "
    "retention, compression and encryption at rest. Logs now rotate daily by default. "
    "本次版本更新了預設的儲存引擎，移除了舊版介面，並新增資料轉移工具。升級前請先備份所有資料庫，並在測試環境完成驗證。"
)
# An English page that mentions two Chinese dishes.
ENGLISH_TWO_WORDS = (
    "Our trip report: we spent three days walking around the old town, tried the famous 小籠包 at a small shop "
    "near the station, and ended every evening with a bowl of 牛肉麵. The museum was closed on Monday, so plan "
    "ahead and buy tickets online if you can."
)
# Written Cantonese (Hong Kong): a restaurant review.
CANTONESE = "呢間餐廳啲嘢食好好味，我哋食咗三個鐘。佢話下次再嚟，因為呢度冇人排隊，唔使等位。"
# Standard Written Chinese with a lone 唔 (a Mandarin "hmm") and 係 (also standard: 關係).
MANDARIN_WITH_ONE_MARKER = "唔，這個問題和天氣的關係不大，主要是因為交通太擠，大家都遲到了。"


# --- weighted_length -------------------------------------------------------------------------------------------


def test_ascii_counts_plain_characters():
    assert weighted_length("Hello,   World ") == len("hello, world")


def test_han_still_counts_three():
    # Unchanged calibration for Chinese: every min_chars in recipes was set with it.
    assert weighted_length("臺灣的勞工保險") == 7 * 3
    assert weighted_length("个人所得税 ok") == 5 * 3 + 3


def test_hangul_syllables_weigh_more_than_letters_but_less_than_han():
    assert weighted_length("한국어") == 7  # 3 syllables x 2.5, rounded down
    assert weighted_length("한국") == 5
    assert weighted_length("한국어") < weighted_length("韓國語")


def test_stray_jamo_count_as_letters():
    assert weighted_length("ㅋㅋㅋ") == 3
    # Decomposed (NFD) Korean is composed into syllables by NFKC first, so it weighs as written.
    assert weighted_length(unicodedata.normalize("NFD", KO)) == weighted_length(KO)


def test_kana_count_two():
    assert weighted_length("ひらがな") == 8
    assert weighted_length("カタカナ") == 8
    assert weighted_length("ｶﾀｶﾅ") == 8  # half-width katakana are NFKC-normalised to full width
    assert weighted_length("漢字かな") == 3 + 3 + 2 + 2


def test_thai_without_spaces_counts_a_little_more():
    assert weighted_length("สวัสดีครับ") == 12  # 10 code points x 1.25 = 12.5
    assert weighted_length(TH) > len(TH)


@pytest.mark.parametrize(("text", "english"), [(KO, KO_EN), (JA, JA_EN)], ids=["korean", "japanese"])
def test_korean_and_japanese_measure_close_to_their_english(text, english):
    n, en = weighted_length(text), weighted_length(english)
    assert 0.7 * en <= n <= 1.3 * en, (n, en)


@pytest.mark.parametrize("text", [KO, JA], ids=["korean", "japanese"])
def test_korean_and_japanese_pages_pass_the_default_min_chars(text):
    # These short articles were dropped as too_short while plain length counted them (~110 characters).
    min_chars = next(f.default for f in fields(Recipe) if f.name == "min_chars")
    assert len(text) < min_chars <= weighted_length(text)


# --- detect_language -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (MIXED_HANT, "zh-Hant"),  # used to come out yue
        (MIXED_HANS, "zh-Hans"),
        (ENGLISH_HEAVY_HANT, "zh-Hant"),
    ],
    ids=["mixed-hant", "mixed-hans", "english-heavy-hant"],
)
def test_mixed_chinese_english_pages_keep_their_chinese_script(text, expected):
    assert detect_language(text) == expected


def test_english_page_with_two_chinese_words_stays_english():
    assert detect_language(ENGLISH_TWO_WORDS) == "en"


def test_cantonese_needs_real_markers():
    assert detect_language(CANTONESE) == "yue"
    assert detect_language(MANDARIN_WITH_ONE_MARKER) == "zh-Hant"


def test_japanese_and_korean_are_not_chinese():
    assert detect_language(JA) == "ja"
    assert detect_language(KO) == "ko"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("臺灣的勞工保險由勞動部勞工保險局辦理。", "zh-Hant"),
        ("个人所得税的申报流程一般分为三步。", "zh-Hans"),
        ("什麼是 API？", "zh-Hant"),  # short mixed snippets stay Chinese, as before
        ("The quick brown fox jumps over the lazy dog near the river bank.", "en"),
        ("   \n", "und"),
    ],
)
def test_plain_cases_unchanged(text, expected):
    assert detect_language(text) == expected
