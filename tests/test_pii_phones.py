"""Phone numbers by numbering plan: Taiwan landlines (every area code) and mobiles, mainland China landlines and
mobiles, in the layouts people write them (parentheses, dashes, spaces, dots, solid, +886 / +86 / 0086, a trunk
(0), extensions, fullwidth digits and punctuation), and the numbers that only look like phones (versions, dates,
times, hex, ports, ISBNs, order numbers, numbers in code), which are never scrubbed."""

from __future__ import annotations

import pandas as pd
import pyarrow.compute as pc
import pytest

from validate import spec
from validate.pii import KINDS, detect, scrub_changes, scrub_text

PHONE = KINDS["phone"]

# (sentence, the number in it): the whole number, and only it, becomes [PHONE].
TW_LANDLINES = [
    ("辦公室電話 (02) 2345-6789，請在上班時間來電。", "(02) 2345-6789"),
    ("Call the office at 02-2345-6789 before noon.", "02-2345-6789"),
    ("Office: 02 2345 6789.", "02 2345 6789"),
    ("總機 0223456789 轉接各部門。", "0223456789"),
    ("From abroad dial +886 2 2345 6789.", "+886 2 2345 6789"),
    ("From abroad dial +886-2-2345-6789.", "+886-2-2345-6789"),
    ("International: +886 (0)2 2345 6789", "+886 (0)2 2345 6789"),
    ("Tel: (02) 2345-6789 #123 for billing.", "(02) 2345-6789 #123"),
    ("Desk 02-2345-6789 ext. 12, ask for Lin.", "02-2345-6789 ext. 12"),
    ("請撥 02-2345-6789 分機 12。", "02-2345-6789 分機 12"),
    ("新竹辦公室 (03) 571-2121。", "(03) 571-2121"),
    ("苗栗門市 037-356789 週一公休。", "037-356789"),
    ("台中分公司 (04) 2234-5678。", "(04) 2234-5678"),
    ("彰化 04-723-4567 聯絡窗口。", "04-723-4567"),
    ("南投 049-2345678", "049-2345678"),
    ("嘉義 05-2345678", "05-2345678"),
    ("台南 (06) 234-5678", "(06) 234-5678"),
    ("高雄 07-345-6789", "07-345-6789"),
    ("屏東 08-7654321", "08-7654321"),
    ("金門 082-312345", "082-312345"),
    ("烏坵 0826-22345", "0826-22345"),
    ("馬祖 0836-22345", "0836-22345"),
    ("台東 089-312345", "089-312345"),
    ("台北 02.2345.6789", "02.2345.6789"),
]
TW_MOBILES = [
    ("手機：0912-345-678。", "0912-345-678"),
    ("Text me on 0912-345678.", "0912-345678"),
    ("請打 0912345678 找王先生。", "0912345678"),
    ("Mobile 0912 345 678, evenings only.", "0912 345 678"),
    ("Mobile 0912 345678", "0912 345678"),
    ("My number is 0912.345.678.", "0912.345.678"),
    ("Abroad: +886 912-345-678.", "+886 912-345-678"),
    ("Abroad: +886-912345678", "+886-912345678"),
    ("Abroad: +886 (0)912 345 678", "+886 (0)912 345 678"),
    ("WhatsApp +886 912 345 678 anytime.", "+886 912 345 678"),
    ("From overseas 00886 912 345 678", "00886 912 345 678"),
]
CN_LANDLINES = [
    ("北京办公室电话 010-85066882。", "010-85066882"),
    ("上海 021-61234567", "021-61234567"),
    ("深圳总部 (0755) 8148 4638", "(0755) 8148 4638"),
    ("Shenzhen office 0755-81484638.", "0755-81484638"),
    ("深圳 0755 8148 4638 转人工。", "0755 8148 4638"),
    ("郑州 0371-6123456", "0371-6123456"),
    ("From abroad +86 10 8506 6882.", "+86 10 8506 6882"),
    ("From abroad +86-755-8148-4638.", "+86-755-8148-4638"),
    ("From abroad +86 (0755) 8148 4638.", "+86 (0755) 8148 4638"),
    ("国际拨打 0086 10 8506 6882", "0086 10 8506 6882"),
    ("北京 01085066882", "01085066882"),
]
CN_MOBILES = [
    ("请拨打13812345678联系我。", "13812345678"),
    ("call 138 1234 5678 today", "138 1234 5678"),
    ("call 138-1234-5678.", "138-1234-5678"),
    ("手机 1381 234 5678", "1381 234 5678"),
    ("手机 138 12345678", "138 12345678"),
    ("WeChat +86 138 1234 5678", "+86 138 1234 5678"),
    ("WeChat +8613812345678", "+8613812345678"),
    ("WeChat +86-18081553787", "+86-18081553787"),
    ("国际 0086 13812345678", "0086 13812345678"),
    ("手机 86-13812345678", "86-13812345678"),
    ("联系 (+86) 138-1234-5678", "(+86) 138-1234-5678"),
]
FULLWIDTH = [
    ("手機：０９１２－３４５－６７８。", "０９１２－３４５－６７８"),
    ("電話：（０２）２３４５－６７８９", "（０２）２３４５－６７８９"),
    ("電話：（02）2345-6789", "（02）2345-6789"),
    ("手机：１３８１２３４５６７８", "１３８１２３４５６７８"),
    ("手機：＋８８６ ９１２ ３４５ ６７８", "＋８８６ ９１２ ３４５ ６７８"),
    ("電話　02　2345　6789", "02　2345　6789"),
]
# A number with neither country nor area code is a phone only right after a phone word.
LOCAL = [
    ("電話：2345-6789", "2345-6789"),
    ("Tel: 2345 6789", "2345 6789"),
    ("Call me at 2345-6789 after six.", "2345-6789"),
    ("联系电话：8506 6882", "8506 6882"),
    ("Telephone 234-5678", "234-5678"),
]
OTHER_COUNTRIES = [
    ("NY office +1 (212) 555-0100.", "+1 (212) 555-0100"),
    ("London +44 20 7946 0958.", "+44 20 7946 0958"),
]
HITS = TW_LANDLINES + TW_MOBILES + CN_LANDLINES + CN_MOBILES + FULLWIDTH + LOCAL + OTHER_COUNTRIES

LOOK_ALIKES = [
    "Windows 10.0.19041.1 is required.",
    "Released on 2023-10-05.",
    "Logged at 2023/10/05 13:45:12.",
    "Open 09:30-10:45 and 14:00-18:00.",
    "Office hours 0900-1800.",
    "Set the mask to 0x0912 and the base to 0x0912345678.",
    "Allow ports 8000-8080 and 3000–3999.",
    "ISBN 978-957-08-1234-5 (hardcover).",
    "ISBN 957-08-1234-5",
    "ISBN 0-13-110362-8",
    "See line 1024 of the listing.",
    "Firmware version 0912345678 fixes it.",
    "Order 0912-34-5678-001 has shipped.",
    "Invoice AB-12345678 is due.",
    "Upgrade to v1.2.3.4.5.",
    "Dates: 05-10-2023 and 03.12.2023.",
    "The pattern 0101010101 repeats.",
    "string.digits is '0123456789'.",
    "Price 13812345678.50 in total.",
    "Account id 138123456789 (12 digits).",
    "timestamp 1700000000000",
    "Run 1000-2000 rows, then 2345-6789 more.",
    "OID 1.3.6.1.4.1.311.21.7",
    "0.1 is 0.1000000000000000055511151231257827 exactly.",
    "Total 15000000000 bytes.",
    "The ELF entry point is 08048000.",
    "UUID 0912f345-678a-4bcd-9ef0-123456789abc",
    "Listen on port 0912 or 12:0912345678.",
    "Call it 1000-2000 times.",
    "序號 0912345678",
    "订单号 10012345678 已发货。",
    "编号 15412345678",
    "| 0912 | 345 | 678 |",
    "Pi is 3.0912345678 to ten places.",
    "IP 10.0.0.1 and 192.168.1.10 on port 8080.",
    "Numbers 150 2000 3000 4000 in a row.",
    "The year range 2001-2007 and (2015-2020).",
]


def _cand(texts: list[str]) -> list[bool]:
    arr = pd.Series(texts, dtype="str").array._pa_array
    return pc.match_substring_regex(arr, PHONE.candidate).to_pylist()


@pytest.mark.parametrize(("text", "number"), HITS)
def test_phone_layouts_are_scrubbed_whole(text: str, number: str) -> None:
    assert scrub_text(text, PHONE) == (text.replace(number, "[PHONE]"), 1)
    # The RE2 candidate (run by pyarrow over whole columns) flags every row the precise pattern scrubs.
    assert _cand([text]) == [True]
    assert detect(pd.Series([text], dtype="str"), PHONE).tolist() == [True]


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alikes_are_kept(text: str) -> None:
    assert scrub_text(text, PHONE) == (text, 0)


def test_local_number_needs_a_phone_word() -> None:
    for text, number in LOCAL:
        bare = text.replace(text[: text.index(number)], "Room ")
        assert scrub_text(bare, PHONE) == (bare, 0), bare
    # "telephone" counts, "microphone" and "hotel" do not
    assert scrub_text("Hotel 2345-6789", PHONE)[1] == 0
    assert scrub_text("microphone 2345-6789", PHONE)[1] == 0
    # a phone word on an earlier line does not reach over the newline
    assert scrub_text("電話\n2345-6789", PHONE)[1] == 0


def test_fullwidth_offsets_and_several_numbers() -> None:
    text = "電話（０２）２３４５－６７８９或手機０９１２－３４５－６７８，也可 +86 138 1234 5678。"
    assert scrub_text(text, PHONE) == ("電話[PHONE]或手機[PHONE]，也可 [PHONE]。", 3)
    # a comma-separated list without spaces is two numbers
    assert scrub_text("0912345678,0922333444", PHONE) == ("[PHONE],[PHONE]", 2)


def test_phones_in_code_are_kept_and_prose_around_them_scrubbed() -> None:
    outputs = [
        '```python\nSUPPORT = "(02) 2345-6789"\nMOBILE = "0912-345-678"\n```',
        "Set `TEL = '010-85066882'` in the config.",
        "Call 0912-345-678, or in code:\n```python\nTEL = '0912-345-678'\n```",
    ]
    n = len(outputs)
    df = pd.DataFrame(
        {"instruction": ["q"] * n, "input": [""] * n, "output": outputs, "task_type": ["faq_qa"] * n}, dtype="str"
    )
    changes, counts = scrub_changes(df, {"phone": "scrub"})
    assert counts == {"phone": 1}
    assert changes["output"].tolist() == ["Call [PHONE], or in code:\n```python\nTEL = '0912-345-678'\n```"]
    assert detect(df["output"], PHONE).tolist() == [False, False, True]


def test_look_alikes_in_bulk_stay_cheap_to_screen() -> None:
    # Most look-alikes never reach Python: the candidate already passes over them.
    flagged = sum(_cand(LOOK_ALIKES))
    assert flagged < len(LOOK_ALIKES) // 2


def test_spec_reject_reads_the_same_context_as_the_kernel() -> None:
    # With phone: reject, the plain specification (validate.spec) and the vectorised detect() agree, including
    # the numbers that only the context rules out (a bare local number, a row of numbers, an ISBN).
    texts = [t for t, _ in HITS] + LOOK_ALIKES + ["Room 2345-6789 is on the left."]
    kernel = detect(pd.Series(texts, dtype="str"), PHONE).tolist()
    plain = [spec.pii_reject({"instruction": "q", "input": "", "output": t}, "phone") for t in texts]
    assert plain == kernel == [True] * len(HITS) + [False] * (len(LOOK_ALIKES) + 1)
