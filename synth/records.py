"""Where an InstructionRecord is made: one constructor so ids and timestamps are uniform."""

from __future__ import annotations

from validate.text import record_id, utc_now


def make_record(
    instruction: str,
    output: str,
    *,
    task_type: str,
    language: str,
    generator: str,
    source_ref: str,
    input: str = "",  # noqa: A002 - the contract's field name
    created_at: str | None = None,
) -> dict:
    return {
        "id": record_id(instruction, input, output),
        "instruction": instruction,
        "input": input,
        "output": output,
        "task_type": task_type,
        "language": language,
        "generator": generator,
        "source_ref": source_ref,
        "created_at": created_at or utc_now(),
    }
