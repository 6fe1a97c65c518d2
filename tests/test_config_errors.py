"""Gate settings files: every key, type and check name is checked, and errors name the file and line."""

import pytest

from validate.errors import DataAgentError
from validate.quality import GateConfig, known_checks, quality_schema


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('min_output_chars: "ten"\n', r"'min_output_chars' must be a number, got 'ten' \(.*, line 1\)"),
        ("echo_overlap_ratio: true\n", r"'echo_overlap_ratio' must be a number"),
        ("# a comment\nmin_outptu_chars: 3\n", r"unknown gate setting 'min_outptu_chars' \(did you mean "
         r"'min_output_chars'\?\) \(.*, line 2\)"),
        ("max_failure_rate:\n  exact_duplicat: 0.1\n", r"names no check 'exact_duplicat' \(did you mean "
         r"'exact_duplicate'\?\)"),
        ("max_failure_rate:\n  template_leak: 2\n", r"'max_failure_rate.template_leak' must be a rate from 0 to 1"),
        ("pii:\n  emial: scrub\n", r"unknown PII kind 'emial' \(did you mean 'email'\?\)"),
        ("pii:\n  email: hide\n", r"'pii.email' must be one of scrub, reject, off"),
        ("refusal_pattern: '(unclosed'\n", r"'refusal_pattern' is not a valid regular expression"),
        ("max_output_chars: -1\n", r"must not be negative"),
        ("a: [\n", r"not valid YAML.*line 2"),
        ("- just\n- a list\n", r"must be a mapping"),
    ],
)
def test_bad_gate_config_is_one_line_naming_the_file(tmp_path, text, message):
    path = tmp_path / "gate.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataAgentError, match=message) as err:
        GateConfig.from_yaml(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_non_utf8_and_missing_config_files(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("min_output_chars: 3 # café\n".encode("latin-1"))
    with pytest.raises(DataAgentError, match="not UTF-8"):
        GateConfig.from_yaml(path)
    with pytest.raises(DataAgentError, match="no such gate config file"):
        GateConfig.from_yaml(tmp_path / "nope.yaml")


def test_shipped_defaults_name_only_real_checks_and_every_schema_label_is_known():
    GateConfig.from_yaml().check_names()
    every_pii = GateConfig(pii={k: "reject" for k in GateConfig().pii})
    schema = quality_schema(every_pii)
    labels = {str(c.name) for c in schema.checks}
    labels |= {f"{n}:{c.error or c.name}" for n, col in schema.columns.items() for c in col.checks}
    assert labels <= known_checks()


def test_a_bare_check_name_limits_it_on_every_field(tmp_path):
    path = tmp_path / "gate.yaml"
    path.write_text("max_failure_rate:\n  mojibake: 0.03\n", encoding="utf-8")
    cfg = GateConfig.from_yaml(path)
    assert cfg.rate_limit("output:mojibake") == cfg.rate_limit("instruction:mojibake") == 0.03
    assert cfg.rate_limit("output:too_short") is None
