"""PII detection and scrubbing around code: code literals (loopback and documentation IPs, netmasks, version
numbers, example hosts) are never rewritten; code and prose get their own policies; and the recall fixes for
mainland China mobiles without +86 and American Express numbers grouped 4-6-5."""

from __future__ import annotations

import re

import pandas as pd
import pyarrow.compute as pc
import pytest

from validate.pii import (
    CODE_POLICY,
    KINDS,
    POLICIES,
    detect,
    email_personal,
    ip_personal,
    policy_table,
    scrub_changes,
    scrub_text,
)

GATE_POLICY = {"email": "scrub", "phone": "scrub", "ip": "scrub"}


def _frame(outputs: list[str], task_type: str = "faq_qa") -> pd.DataFrame:
    n = len(outputs)
    return pd.DataFrame(
        {"instruction": ["q"] * n, "input": [""] * n, "output": outputs, "task_type": [task_type] * n}, dtype="str"
    )


def _scrubbed(outputs: list[str], task_type: str = "faq_qa") -> list[str]:
    df = _frame(outputs, task_type)
    changes, _ = scrub_changes(df, GATE_POLICY)
    out = df["output"].copy()
    if "output" in changes:
        out[changes["output"].index] = changes["output"]
    return out.tolist()


LITERALS = ["127.0.0.1", "255.255.255.0", "7.1.4.34"]
PROSE = [
    "The service listens on 127.0.0.1 only.",
    "Use the netmask 255.255.255.0 for this subnet.",
    "Upgrade to version 7.1.4.34 before Friday.",
    "Release v7.1.4.34 fixes the login bug.",
    "The 7.1.4.34-beta build is out.",
    "請升級到版本 7.1.4.34。",
    "升级到7.1.4.34版本即可。",
    "Private hosts 10.0.0.5, 172.16.4.2 and 192.168.1.10, link-local 169.254.1.1, multicast 224.0.0.251.",
    "Documentation addresses 192.0.2.1, 198.51.100.7, 203.0.113.9 and 2001:db8::1 are examples.",
    "Bind 0.0.0.0 or broadcast to 255.255.255.255; wildcard mask 0.0.0.255.",
]
CODE = [
    '```python\nHOST = "127.0.0.1"\nMASK = "255.255.255.0"\n__version__ = "7.1.4.34"\n```',
    "Connect with `curl http://127.0.0.1:8080` then check `255.255.255.0`.",
    'def serve(host="127.0.0.1", mask="255.255.255.0"):\n    """Serve on host."""\n    return bind(host, mask)',
    "    @property\n    def version(self):\n        return '7.1.4.34'",
]


def test_special_ips_and_versions_are_never_scrubbed():
    assert _scrubbed(PROSE) == PROSE
    assert _scrubbed(CODE) == CODE
    assert _scrubbed(CODE, "docstring_to_code") == CODE
    for text in PROSE:  # prose: by address class and version context alone, without code spans
        assert scrub_text(text, KINDS["ip"]) == (text, 0)
    assert not detect(pd.Series(PROSE + CODE, dtype="str"), KINDS["ip"]).any()
    for literal in LITERALS[:2]:
        assert not ip_personal(literal)
    assert ip_personal("8.8.8.8") and ip_personal("2a00:1450:4001:81b::200e")


def test_public_ip_is_scrubbed_in_prose_and_kept_in_code():
    prose = ["Our resolver is 8.8.8.8, backup 2a00:1450:4001:81b::200e.", "Set DNS to 8.8.8.8 (v 2)."]
    assert _scrubbed(prose) == ["Our resolver is [IP], backup [IP].", "Set DNS to [IP] (v 2)."]
    code = [
        '```python\nDNS = "8.8.8.8"\n```',
        "Run `dig @8.8.8.8 example.com` to check.",
        "Config:\n\n    resolver = 8.8.8.8\n    port = 53\n\nThat is all.",
        'def resolve(name):\n    return query(name, server="8.8.8.8")',
    ]
    assert _scrubbed(code) == code
    s = pd.Series(prose + code, dtype="str")
    assert detect(s, KINDS["ip"]).tolist() == [True, True, False, False, False, False]
    # A one-line answer is code only for a code task: the task type decides, when the caller passes it.
    short = pd.Series(["return '8.8.8.8'"] * 2, dtype="str")
    assert detect(short, KINDS["ip"], task_types=["faq_qa", "docstring_to_code"]).tolist() == [True, False]
    assert _scrubbed(["return '8.8.8.8'"], "docstring_to_code") == ["return '8.8.8.8'"]
    assert _scrubbed(["return '8.8.8.8'"], "faq_qa") == ["return '[IP]'"]
    # Mixed: the prose part is scrubbed, the code part kept.
    mixed = "Ask 8.8.8.8 or:\n```bash\ndig @8.8.8.8 example.org\n```"
    assert _scrubbed([mixed]) == ["Ask [IP] or:\n```bash\ndig @8.8.8.8 example.org\n```"]


def test_example_emails_are_kept_real_ones_scrubbed_in_prose_and_code():
    kept = ["Write to user@example.com or ops@mail.example.org.", "Test with a@b.test and x@y.invalid."]
    assert _scrubbed(kept) == kept
    assert not email_personal("user@example.com") and email_personal("alice.chen@gmail.com")
    assert _scrubbed(["Mail alice.chen@gmail.com today."]) == ["Mail [EMAIL] today."]
    # In code e-mail keeps the prose policy: an author's address is personal there too.
    assert _scrubbed(['AUTHOR = "alice.chen@gmail.com"'], "docstring_to_code") == ['AUTHOR = "[EMAIL]"']
    assert _scrubbed(['ADMIN = "root@example.com"'], "docstring_to_code") == ['ADMIN = "root@example.com"']


def test_cn_mobiles_without_country_code():
    hits = [
        "请拨打13812345678联系我。",
        "手机: 13812345678",
        "call 138 1234 5678 today",
        "call 138-1234-5678.",
        "+86 138 1234 5678",
        "電話:15912345678",
    ]
    misses = [
        "订单号 10012345678 已发货。",  # 10x is no mobile prefix
        "order 12345678901 shipped",  # 12x neither
        "编号 15412345678",  # 154 is unassigned
        "timestamp 1700000000000",
        "2023-10-01 13:45:12",
        "price 13812345678.50",
        "id 138123456789",  # 12 digits
        "账号 613812345678",  # glued to a longer number
    ]
    s = pd.Series(hits + misses, dtype="str")
    assert detect(s, KINDS["phone"]).tolist() == [True] * len(hits) + [False] * len(misses)
    assert scrub_text("请拨打13812345678联系我。", KINDS["phone"]) == ("请拨打[PHONE]联系我。", 1)
    # Phones inside code are off (constants, IDs, fixtures).
    code = pd.Series(['```python\nSUPPORT = "13812345678"\n```'], dtype="str")
    assert not detect(code, KINDS["phone"]).any()


def test_amex_grouped_4_6_5():
    assert detect(pd.Series(["Amex 3782 822463 10005 on file."], dtype="str"), KINDS["card"]).all()
    assert detect(pd.Series(["Amex 3782-822463-10005."], dtype="str"), KINDS["card"]).all()
    assert not detect(pd.Series(["Amex 3782 822463 10006 (typo)."], dtype="str"), KINDS["card"]).any()
    # Card numbers keep the prose policy in code: a valid one is rejected wherever it is.
    code = pd.Series(['```python\nCARD = "4111 1111 1111 1111"\n```'], dtype="str")
    assert detect(code, KINDS["card"]).all()


def test_candidates_stay_re2_and_python_re_compatible():
    arr = pd.Series(["x"], dtype="str").array
    samples = ["13812345678", "138 1234 5678", "3782 822463 10005", "8.8.8.8", "a@b.co"]
    for kind in KINDS.values():
        re.compile(kind.candidate)
        assert not arr._needs_python_regex(kind.candidate), kind.name
    found = pc.match_substring_regex(pd.Series(samples, dtype="str").array._pa_array, KINDS["phone"].candidate)
    assert found.to_pylist()[:2] == [True, True]
    found = pc.match_substring_regex(pd.Series(samples, dtype="str").array._pa_array, KINDS["card"].candidate)
    assert found.to_pylist()[2]


def test_policy_table_states_both_policies():
    assert set(CODE_POLICY) == set(KINDS)
    table = policy_table()
    assert table["prose"] == {
        "email": "scrub",
        "phone": "scrub",
        "card": "reject",
        "tw_id": "reject",
        "cn_id": "reject",
        "ip": "scrub",
    }
    assert table["code"] == {**table["prose"], "phone": "off", "ip": "off"}
    assert all(v in POLICIES for side in table.values() for v in side.values())
    assert policy_table({"email": "reject", "ip": "off"})["code"]["email"] == "reject"
    with pytest.raises(ValueError):
        policy_table(code_policy={"ip": "scrub"})
    with pytest.raises(ValueError):
        scrub_changes(_frame(["8.8.8.8"]), GATE_POLICY, code_policy={"ipv4": "off"})
    # With every kind "same", code gets the prose policy: the IP in the code block is scrubbed.
    same = {k: "same" for k in KINDS}
    changes, counts = scrub_changes(_frame(['```python\nDNS = "8.8.8.8"\n```']), GATE_POLICY, code_policy=same)
    assert counts["ip"] == 1 and "[IP]" in changes["output"].iloc[0]
