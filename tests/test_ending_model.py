"""The ending model (validate/ending.py) ships with the package, scores endings the way its trainer measured, and
only ever narrows or widens the truncation rules where they are unsure."""

from validate import ending
from validate.quality import GateConfig
from validate.semantic import truncated


def _cut(output: str, instruction: str = "Explain it.", task: str = "section_qa", cfg: GateConfig | None = None):
    cfg = cfg or GateConfig()
    return truncated(output, instruction, "", task, *cfg.truncation_settings)


def test_the_model_is_packaged_and_its_features_are_stable():
    assert ending.MODEL_PATH.is_file()
    names = ending.features("1. 安裝套件。\n2. 設定網路", "list_answer")
    assert names[:4] == ["bias", "e1=路", "e2=網路", "e3=定網路"]
    assert "others=all" in names and "task=list" in names
    assert ending.bucket("bias") == ending.bucket("bias") < ending.BUCKETS


def test_cuts_score_higher_than_finished_endings_in_three_languages():
    pairs = [
        ("The kernel mounts the root filesystem read-only first and then", "The kernel mounts the root filesystem."),
        ("系統啟動時會先以唯讀方式掛載根檔案系統，之後再", "系統啟動時會先以唯讀方式掛載根檔案系統。"),
        ("系统启动时会先以只读方式挂载根文件系统，之后再", "系统启动时会先以只读方式挂载根文件系统。"),
    ]
    for cut, whole in pairs:
        assert ending.cut_logit(cut, "section_qa") > ending.cut_logit(whole, "section_qa")


def test_marked_sentences_and_closed_answers_are_never_the_models_to_judge():
    assert not _cut("The kernel mounts the root filesystem.")
    assert not _cut("No", "Does the passage mention cron? Answer Yes or No.", "closed_qa")
    assert not _cut("在 Debian 系統上設定網路", "為這段文字下一個簡短的標題。", "title_generation")


def test_the_model_can_be_switched_off_and_the_rules_decide_alone():
    rules_only = GateConfig(truncation_model_keep_at_most=-1000.0, truncation_model_cut_above=1000.0)
    text = "- Install the package first.\n- Configure the network.\n- Reboot the"
    assert _cut(text, task="list_answer") and _cut(text, task="list_answer", cfg=rules_only)
