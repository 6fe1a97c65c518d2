"""decode_html on real Big5 / GB18030 / UTF-8 / cp1252 bytes, with right, missing and wrong declarations."""

from __future__ import annotations

import codecs

import pytest

import crawlers.encoding as encoding_module
from crawlers.encoding import decode_html, is_probably_binary

# Traditional Chinese (Taiwan): labour insurance, national health insurance and income tax filing.
TW = (
    "臺灣的勞工保險由勞動部勞工保險局辦理，受僱勞工應由雇主在到職當日申報加保。"
    "全民健康保險則由衛生福利部中央健康保險署負責，保費依投保金額計算。"
    "每年五月是綜合所得稅的申報期間，納稅義務人可以透過網路申報，並選擇列舉或標準扣除額。"
)
# Simplified Chinese: how to file the annual individual income tax return.
CN = (
    "个人所得税的申报流程一般分为三步：首先登录个人所得税应用程序，核对本年度的收入和已预缴税款；"
    "然后填写子女教育、住房贷款利息等专项附加扣除；最后确认应退或应补税额并提交申报。"
    "如果需要退税，税务机关审核通过后会把税款退到本人的银行账户。"
)
# Taiwan text that plain Big5 cannot carry: the ETEN characters 碁/裏 (0xF9D6, 0xF9D8), the euro sign (0xA3E1),
# the fullwidth tilde and the hyphenation point that cp950 maps as written (big5hkscs has neither € nor ‧/～).
TW_CP950 = "圍棋又稱為碁，書裏寫著：門票 €15，營業時間 09:00～17:00，聯絡人：王小明‧李大同。"
# Hong Kong Cantonese with HKSCS characters (啲, 嘢, 哋, 咗) that cp950 does not have.
HK = "呢間餐廳啲嘢食好好味，我哋食咗三個鐘。"
# GBK-only character (喆 is not in GB2312): a page declared gb2312 needs the gb18030 superset.
CN_GBK = CN + "联系人：王喆。"
WESTERN = "“Smart quotes” aren’t Latin-1 — they’re windows-1252… Café crème, naïve façade."


def html(text: str, head: str = "", title: str = "Test page") -> str:
    return (
        f"<!DOCTYPE html>\n<html>\n<head>\n{head}<title>{title}</title>\n</head>\n<body>\n<h1>{title}</h1>\n"
        f"<p>{text}</p>\n</body>\n</html>\n"
    )


META_BIG5 = '<meta charset="big5">\n'
META_GB2312 = '<meta http-equiv="Content-Type" content="text/html; charset=gb2312">\n'
META_UTF8 = '<meta charset="utf-8">\n'


def test_fixture_bytes_are_what_they_claim():
    # The paragraphs are encodable in the narrow legacy sets, so these are genuine Big5 / GB2312 pages.
    TW.encode("big5")
    CN.encode("gb2312")
    with pytest.raises(UnicodeEncodeError):
        TW_CP950.encode("big5")
    with pytest.raises(UnicodeEncodeError):
        CN_GBK.encode("gb2312")


# --- Big5 ------------------------------------------------------------------------------------------------------


def test_big5_with_correct_meta():
    page = html(TW, META_BIG5, title="勞保、健保與報稅")
    assert decode_html(page.encode("big5")) == (page, "cp950", "meta")


def test_big5_with_correct_header():
    page = html(TW)
    assert decode_html(page.encode("big5"), "text/html; charset=Big5") == (page, "cp950", "header")
    assert decode_html(page.encode("big5"), "big5") == (page, "cp950", "header")  # a bare label works too


def test_big5_without_declaration():
    page = html(TW)
    assert decode_html(page.encode("big5")) == (page, "cp950", "detected")


def test_big5_with_wrong_utf8_header_is_detected():
    page = html(TW)
    assert decode_html(page.encode("big5"), "text/html; charset=utf-8") == (page, "cp950", "detected")


def test_big5_with_wrong_utf8_header_falls_to_correct_meta():
    page = html(TW, META_BIG5)
    assert decode_html(page.encode("big5"), "text/html; charset=UTF-8") == (page, "cp950", "meta")


def test_big5_with_wrong_gb2312_meta_is_rejected_although_it_decodes():
    # Big5 bytes are valid GB18030 (it assigns nearly every double-byte code), so only plausibility rejects it.
    page = html(TW, META_GB2312)
    body = page.encode("big5")
    assert body.decode("gb18030") != page
    assert decode_html(body) == (page, "cp950", "detected")


def test_big5_behind_server_default_latin1_header():
    page = html(TW)
    assert decode_html(page.encode("big5"), "text/html; charset=ISO-8859-1") == (page, "cp950", "detected")


def test_big5_label_decodes_cp950_extensions():
    page = html(TW_CP950, META_BIG5)
    body = page.encode("cp950")
    # Why cp950 and not big5hkscs for a "big5" label: plain big5 rejects 碁/裏, big5hkscs rejects the euro sign.
    with pytest.raises(UnicodeDecodeError):
        body.decode("big5")
    with pytest.raises(UnicodeDecodeError):
        body.decode("big5hkscs")
    assert decode_html(body) == (page, "cp950", "meta")
    assert decode_html(html(TW_CP950).encode("cp950")) == (html(TW_CP950), "cp950", "detected")


def test_big5_label_falls_back_to_hkscs_for_hong_kong_characters():
    page = html(HK, META_BIG5)
    body = page.encode("big5hkscs")
    with pytest.raises(UnicodeDecodeError):
        body.decode("cp950")
    assert decode_html(body) == (page, "big5hkscs", "meta")


# --- GB2312 / GBK / GB18030 ------------------------------------------------------------------------------------


def test_gb_with_gb2312_meta_is_widened_to_gb18030():
    page = html(CN_GBK, META_GB2312)
    body = page.encode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        body.decode("gb2312")  # the declared label alone would fail on 喆
    assert decode_html(body) == (page, "gb18030", "meta")


def test_gb_with_gbk_header():
    page = html(CN_GBK)
    assert decode_html(page.encode("gbk"), "text/html; charset=GBK") == (page, "gb18030", "header")


def test_gb_euro_byte_0x80_as_in_gbk_cp936():
    page = html("价格：" + "\u20ac" + "15，" + CN)
    body = page.encode("gb18030").replace("\u20ac".encode("gb18030"), b"\x80")
    assert decode_html(body, "text/html; charset=gbk") == (page, "gb18030", "header")


def test_gb18030_four_byte_characters():
    page = html(CN + "𠮷野家。")
    assert decode_html(page.encode("gb18030"), "text/html; charset=gb18030") == (page, "gb18030", "header")


def test_gb_without_declaration():
    page = html(CN, title="个人所得税申报指南")
    assert decode_html(page.encode("gb18030")) == (page, "gb18030", "detected")


def test_gb_declared_as_big5_is_rejected():
    page = html(CN, META_BIG5)
    assert decode_html(page.encode("gb18030")) == (page, "gb18030", "detected")


def test_gb_declared_as_big5_is_rejected_even_when_big5hkscs_decodes_it():
    # This sentence happens to be valid big5hkscs, so the strict decode alone would accept the wrong label.
    text = "学生在选择专业的时候，不仅要考虑自己的兴趣爱好，还要了解这个专业将来的就业前景。"
    page = html(text, META_BIG5)
    body = page.encode("gb18030")
    assert body.decode("big5hkscs") != page
    assert decode_html(body) == (page, "gb18030", "detected")


@pytest.mark.parametrize("label", ["euc-kr", "shift_jis", "iso-8859-1", "utf-8"])
def test_gb_with_other_wrong_headers(label):
    page = html(CN)
    assert decode_html(page.encode("gb18030"), f"text/html; charset={label}") == (page, "gb18030", "detected")


# --- short pages: the hard case --------------------------------------------------------------------------------
#
# charset_normalizer alone gets short Chinese pages wrong (a 12-character Big5 sentence comes back as Shift_JIS,
# an 8-character GB sentence as EUC-KR); the common-character score fixes that. Undeclared pages decode correctly
# from 2 CJK characters on these paragraphs. A WRONG declaration that happens to decode strictly is kept when the
# two readings are both plausible, which happens up to about 3 characters (測試 in Big5 is 代刚 in GB18030), and is
# reliably overruled from 4 characters on.


def test_short_big5_sentence_without_declaration():
    page = html("我在臺灣報稅。")
    assert decode_html(page.encode("big5")) == (page, "cp950", "detected")


def test_short_gb_sentence_without_declaration():
    page = html("个人所得税怎么申报？")
    assert decode_html(page.encode("gb18030")) == (page, "gb18030", "detected")


@pytest.mark.parametrize("length", [2, 3, 4, 6, 8, 12, 16, 24, 32])
def test_short_prefixes_without_declaration(length):
    for text, codec in ((TW[:length], "cp950"), (CN[:length], "gb18030")):
        page = html(text)
        assert decode_html(page.encode(codec)) == (page, codec, "detected"), text


@pytest.mark.parametrize("length", [4, 6, 8, 12, 16, 24, 32])
def test_short_prefixes_with_wrong_declaration(length):
    tw_page = html(TW[:length], META_GB2312)
    assert decode_html(tw_page.encode("big5")) == (tw_page, "cp950", "detected")
    cn_page = html(CN[:length])
    assert decode_html(cn_page.encode("gb18030"), "text/html; charset=big5") == (cn_page, "gb18030", "detected")
    assert decode_html(cn_page.encode("gb18030"), "text/html; charset=latin-1") == (cn_page, "gb18030", "detected")


def test_ambiguous_two_characters_keep_their_declaration():
    # Documented limit: 測試 in Big5 reads as the equally common 代刚 in GB18030, so a gb2312 label stands.
    page = html("測試", META_GB2312)
    text, codec, how = decode_html(page.encode("big5"))
    assert (codec, how) == ("gb18030", "meta")
    assert "代刚" in text


# --- UTF-8 -----------------------------------------------------------------------------------------------------


def test_utf8_with_header():
    page = html(TW + CN)
    assert decode_html(page.encode("utf-8"), "text/html; charset=utf-8") == (page, "utf-8", "header")


def test_utf8_with_meta():
    page = html(TW + CN, META_UTF8)
    assert decode_html(page.encode("utf-8")) == (page, "utf-8", "meta")


def test_utf8_without_declaration():
    page = html(TW + CN)
    assert decode_html(page.encode("utf-8")) == (page, "utf-8", "detected")


def test_utf8_with_bom_beats_a_wrong_header():
    page = html(TW)
    body = codecs.BOM_UTF8 + page.encode("utf-8")
    assert decode_html(body, "text/html; charset=big5") == (page, "utf-8", "bom")


def test_utf16_with_bom():
    page = html(CN)
    body = codecs.BOM_UTF16_LE + page.encode("utf-16-le")
    assert decode_html(body) == (page, "utf-16-le", "bom")


@pytest.mark.parametrize("tail", ["", "!"])  # odd and even length: any even-length body "decodes" as UTF-16
def test_utf16_header_on_ascii_compatible_body_is_rejected(tail):
    page = html(TW + tail)
    assert decode_html(page.encode("utf-8"), "text/html; charset=utf-16") == (page, "utf-8", "detected")


def test_utf16_without_bom_declared_in_header():
    page = html(CN)
    assert decode_html(page.encode("utf-16-le"), "text/html; charset=utf-16le") == (page, "utf-16-le", "header")


def test_utf8_behind_latin1_header_is_not_turned_into_mojibake():
    page = html(WESTERN + TW)
    assert decode_html(page.encode("utf-8"), "text/html; charset=ISO-8859-1") == (page, "utf-8", "detected")


def test_utf8_page_declaring_big5_meta_is_still_utf8():
    page = html(TW, META_BIG5)
    assert decode_html(page.encode("utf-8")) == (page, "utf-8", "detected")


def test_ascii_page():
    page = html("plain ASCII only")
    assert decode_html(page.encode("ascii"), "text/html; charset=utf-8") == (page, "utf-8", "header")
    assert decode_html(page.encode("ascii")) == (page, "utf-8", "detected")


def test_common_case_is_one_strict_decode_without_detection(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("charset_normalizer must not run for a valid declared encoding")

    monkeypatch.setattr(encoding_module, "from_bytes", forbidden)
    page = html(TW + CN)
    assert decode_html(page.encode("utf-8"), "text/html; charset=utf-8") == (page, "utf-8", "header")
    big5 = html(TW, META_BIG5)
    assert decode_html(big5.encode("big5")) == (big5, "cp950", "meta")


# --- windows-1252 ----------------------------------------------------------------------------------------------


def test_windows1252_declared_as_iso_8859_1():
    page = html(WESTERN)
    body = page.encode("cp1252")
    assert body.decode("latin-1") != page  # 0x93/0x94/0x92/0x97/0x85 are C1 controls in real Latin-1
    assert decode_html(body, "text/html; charset=iso-8859-1") == (page, "cp1252", "header")
    meta_page = html(WESTERN, '<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">\n')
    assert decode_html(meta_page.encode("cp1252")) == (meta_page, "cp1252", "meta")


def test_windows1252_without_declaration():
    page = html(WESTERN)
    assert decode_html(page.encode("cp1252")) == (page, "cp1252", "detected")


# --- fallback and binary ---------------------------------------------------------------------------------------


def test_fallback_when_nothing_decodes():
    body = bytes(range(0x80, 0x100))
    text, codec, how = decode_html(body)
    assert (codec, how) == ("utf-8", "fallback")
    assert text == body.decode("utf-8", "replace")


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", None, True),
        (b"\x89PNG\r\n\x1a\n", "image/png", True),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "application/pdf", True),
        (b"PK\x03\x04\x14\x00\x00\x00", "application/zip", True),
        (b"anything", "application/octet-stream", True),
        (b"<html>\x00</html>", "text/html", False),  # one stray NUL is a CMS bug, not a binary format
        (html(TW).encode("big5"), "text/html; charset=utf-8", False),
        (html(CN).encode("gb18030"), None, False),
        (b"\xff\xfe" + html(CN).encode("utf-16-le"), "text/html", False),
        (b'{"a": 1}', "application/json; charset=utf-8", False),
    ],
)
def test_is_probably_binary(body, content_type, expected):
    assert is_probably_binary(body, content_type) is expected


# --- UTF-16 / UTF-32 without a BOM -----------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_wide_without_bom_declared_in_header_is_text_and_decodes(codec):
    page = html(TW + CN)
    body = page.encode(codec)
    for content_type in (f"text/html; charset={codec}", f'text/html; charset="{codec.upper()}"'):
        assert not is_probably_binary(body, content_type)
        assert decode_html(body, content_type) == (page, codec, "header")


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_wide_label_without_byte_order_follows_the_bytes(codec):
    # "charset=utf-16" says nothing about byte order and there is no BOM: Python's utf-16 codec would assume the
    # machine's order and turn a big-endian page into mojibake.
    page = html(CN)
    body = page.encode(codec)
    label = codec[:6]
    assert not is_probably_binary(body, f"text/html; charset={label}")
    assert decode_html(body, f"text/html; charset={label}") == (page, codec, "header")


def test_utf16_declared_with_the_wrong_byte_order_is_overruled():
    page = html(TW)
    body = page.encode("utf-16-be")
    assert decode_html(body, "text/html; charset=utf-16le") == (page, "utf-16-be", "detected")


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le"])
def test_wide_without_bom_or_declaration_is_detected_from_the_nul_layout(codec):
    page = html(TW)
    body = page.encode(codec)
    assert not is_probably_binary(body, "text/html")
    assert decode_html(body) == (page, codec, "detected")
    # A server-wide default charset in front of it is no reason to read it byte by byte.
    assert decode_html(body, "text/html; charset=utf-8") == (page, codec, "detected")


def test_utf16_english_page_with_emoji_and_japanese_page_without_bom():
    english = html("Great party 🎉🎉 tonight ❤️ see you there ✨ " + WESTERN)
    japanese = html("運転免許証の更新は、誕生日の前後一か月の間に行います。写真と手数料を用意してください。")
    for page in (english, japanese):
        body = page.encode("utf-16-le")
        assert not is_probably_binary(body, "text/html")
        assert decode_html(body) == (page, "utf-16-le", "detected")


@pytest.mark.parametrize("meta", ['<meta charset="utf-16">\n', '<meta charset="UTF-16LE">\n'])
def test_utf16_meta_inside_a_utf16_body_without_bom(meta):
    page = html(TW, meta)
    assert decode_html(page.encode("utf-16-le")) == (page, "utf-16-le", "meta")


def test_utf16_body_with_almost_no_ascii_trusts_a_plausible_declaration():
    # Plain text, no markup: no code unit has a zero high byte, so only the reading itself can show the label is
    # right (common Chinese characters rather than rare ones and private use).
    text = TW + CN
    for codec in ("utf-16-le", "utf-16-be"):
        body = text.encode(codec)
        assert decode_html(body, f"text/plain; charset={codec}") == (text, codec, "header")


@pytest.mark.parametrize("body_codec", ["utf-8", "big5", "gb18030", "cp1252"])
def test_utf16_header_in_front_of_ascii_compatible_bytes_is_still_rejected(body_codec):
    text = WESTERN if body_codec == "cp1252" else (CN if body_codec == "gb18030" else TW)
    page = html(text)
    _, codec, _ = decode_html(page.encode(body_codec), "text/html; charset=utf-16le")
    assert not codec.startswith("utf-16")


# --- stray NUL bytes -------------------------------------------------------------------------------------------


def test_stray_nuls_in_a_utf8_page_are_kept_and_stripped():
    page = html(TW + " " + WESTERN)
    body = page.encode("utf-8").replace(b"<p>", b"<p>\x00", 1).replace(b"</h1>", b"\x00\x00</h1>") + b"\x00"
    assert not is_probably_binary(body, "text/html; charset=utf-8")
    assert decode_html(body, "text/html; charset=utf-8") == (page, "utf-8", "header")
    assert decode_html(body) == (page, "utf-8", "detected")


def test_stray_nuls_in_a_big5_page_do_not_break_decoding():
    # The NUL sits between two characters' bytes; even one between a lead and a trail byte must not make the page
    # undecodable.
    page = html(TW, META_BIG5)
    raw = page.encode("big5")
    i = raw.index("勞".encode("big5"))
    body = raw[:i] + b"\x00" + raw[i : i + 1] + b"\x00" + raw[i + 1 :]
    assert not is_probably_binary(body, "text/html")
    text, codec, how = decode_html(body)
    assert (text, codec, how) == (page, "cp950", "meta")
    assert "\x00" not in text


def test_decoded_text_never_contains_nul():
    for body, header in [
        (b"<p>a\x00b</p>", None),
        (html("x").encode("utf-16-le") + "\x00".encode("utf-16-le"), None),
        (codecs.BOM_UTF16_LE + "<p>a\x00b</p>".encode("utf-16-le"), None),
        (codecs.BOM_UTF8 + b"<p>a\x00b</p>", "text/html; charset=utf-8"),
    ]:
        assert "\x00" not in decode_html(body, header)[0]


# --- binary detection ------------------------------------------------------------------------------------------

# Realistic heads of real binary formats (structure as in the files, content made up).
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06\x00\x00\x00\x5c\x72\xa8\x66"
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
ZIP = (
    b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xdf\xa4\xd2lZ\x01\x00\x00 \x05\x00\x00\x13\x00[Content_Types].xml"
)
GZIP = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xed\xbd\x07`\x1cI\x96%&/m\xca{\x7fJ\xf5J\xd7\xe0t\xa1"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00\xb8" + bytes(43) + b"\x80\x00\x00\x00"
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x03\x00>\x00\x01\x00\x00\x00"
# Structured binary without a signature: records of little-endian integers and short names.
RECORDS = b"".join(
    i.to_bytes(4, "little") + b"name%03d" % i + bytes(4) + (i * 7).to_bytes(4, "little") for i in range(200)
)
# Compressed-looking bytes without a signature (deterministic pseudo-random stream).
NOISE = bytes((i * 2654435761 >> 13) & 0xFF for i in range(4096))


@pytest.mark.parametrize(
    "body",
    [PNG, PDF, ZIP, GZIP, EXE, ELF, RECORDS, NOISE],
    ids=["png", "pdf", "zip", "gzip", "exe", "elf", "records", "noise"],
)
@pytest.mark.parametrize("content_type", [None, "text/html", "text/html; charset=utf-16le"])
def test_real_binaries_stay_binary_even_when_served_as_html(body, content_type):
    assert is_probably_binary(body, content_type)


def test_many_nuls_in_an_ascii_page_is_binary():
    body = b"<html><body>" + b"\x00" * 400 + b"<p>text</p>" + b"\x00" * 400 + b"</body></html>"
    assert is_probably_binary(body, "text/html")
    # NULs at random offsets, not in the UTF-16 rhythm, make up 10% of the body.
    page = bytearray(html(WESTERN * 5).encode("cp1252"))
    for i in range(0, len(page), 10):
        page[i] = 0
    assert is_probably_binary(bytes(page), "text/html; charset=windows-1252")
    # Even every other code unit's high byte zeroed (the rhythm of UTF-16BE ASCII) does not make it UTF-16: the
    # units in between read as rare hanzi.
    page = bytearray(html(TW * 3).encode("utf-8"))
    for i in range(0, len(page), 4):
        page[i] = 0
    assert is_probably_binary(bytes(page), "text/html")


def test_a_few_nuls_in_a_short_page_are_not_binary():
    assert not is_probably_binary(b"<html>\x00<p>Hello</p>\x00</html>", "text/html")
    assert not is_probably_binary(html(CN).encode("gb18030") + b"\x00" * 4, None)


def test_ascii_text_that_happens_to_start_like_a_signature_is_text():
    assert not is_probably_binary(b"MZ Consulting: about us", "text/html")
    assert not is_probably_binary(b"BZh: a tutorial", "text/html")
