"""The LangChain backend against the loopback OpenAI-compatible server, through the real ChatOpenAI."""

import pandas as pd

from dataagent.testing.openai import Fault, serve
from synth.langchain_route import langchain_qa
from validate.contracts import InstructionRecord


def _docs() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "canonical_url": "http://127.0.0.1/a.html",
                "language": "en",
                "text": "# Leases\n\n## Deposits\n\nA deposit is returned when the lease ends. " * 3,
            },
            {
                "canonical_url": "http://127.0.0.1/b.html",
                "language": "zh-Hant",
                "text": "# 複利\n\n## 如何計算\n\n複利是利息再生利息。每年計息一次。" * 3,
            },
        ]
    )


def test_langchain_route_makes_valid_records_and_survives_fenced_json():
    good = {"pairs": [{"question": "When is a deposit returned?", "answer": "When the lease ends."}]}
    with serve([Fault.fenced(good), Fault.malformed()]) as handle:
        records, quarantine, stats = langchain_qa(_docs(), handle.base_url, "test-model", concurrency=1)
    assert len(records) == 1 and records[0]["output"] == "When the lease ends."
    InstructionRecord.validate(pd.DataFrame(records))
    assert [q["reason"] for q in quarantine] == ["unparseable"]
    assert stats["chunks"] == 1


def test_langchain_route_default_server_answers():
    with serve() as handle:
        records, quarantine, _ = langchain_qa(_docs(), handle.base_url, "test-model")
        assert len(handle.requests) == 2
    assert records and not quarantine
    assert {r["language"] for r in records} == {"en", "zh-Hant"}
