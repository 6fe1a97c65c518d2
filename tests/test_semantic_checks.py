"""The semantic checks on varied phrasings in zh-Hant, zh-Hans and English: what each catches, and the
legitimate rows that look like it (AI explained, apologies that go on to help, letters with a sign-off, lists,
tables, one-character answers, mixed-language technical text). Each case also goes through the plain spec
(validate/spec.py), which must give the gate's reasons."""

import hashlib

import pandas as pd
import pytest
from conftest import instruction_row

from validate import semantic, spec
from validate.gate import REASONS
from validate.quality import GateConfig, run_gate


def rec(instruction, output, input="", task_type="faq_qa", language="en"):  # noqa: A002
    source_ref = f"http://127.0.0.1/{hashlib.sha256(output.encode()).hexdigest()[:12]}"
    return instruction_row(instruction, output, input, task_type, language, source_ref)


def reasons_of(rows):
    """Each row's reasons from the gate, after checking that the spec gives the same."""
    df = pd.DataFrame(rows)
    _, quarantined, _ = run_gate(df)
    gate = dict(zip(quarantined["source_ref"], quarantined[REASONS].map(list), strict=True))
    got = [gate.get(r["source_ref"], []) for r in rows]
    assert got == spec.check_records(rows), "spec and gate disagree"
    return got


def one(row):
    return reasons_of([row])[0]


# --- refusals ---------------------------------------------------------------------------------------------------

REFUSALS = [
    ("Explain the lease terms.", "I'm afraid I am not able to answer that."),
    ("Explain the lease terms.", "Sorry, but after reviewing your request, I won't be able to fully complete it."),
    ("Summarise the report.", "Unfortunately I cannot provide a summary of this document."),
    ("Summarise the report.", "As a large language model developed by a lab, I do not have access to that file."),
    ("What is the capital?", "I'm just an AI, so I don't have personal opinions on that."),
    ("List the steps.", "That is beyond my capabilities as an assistant."),
    ("Draft the plan.", "This isn't something I'm able to help with."),
    ("Give me the figures.", "Here are the figures.\n\nAs an AI language model, I cannot verify them."),
    ("請說明租約條款。", "很抱歉，由於這涉及法律意見，我目前沒辦法回答。"),
    ("請說明租約條款。", "作為一個AI語言模型，我無法提供法律建議。"),
    ("請列出步驟。", "身為AI助理，我沒有即時資料，但一般來說流程如下。"),
    ("請列出步驟。", "這個問題超出了我的能力範圍。"),
    ("請列出步驟。", "步驟如下：先備份。\n\n我只是一個語言模型，我無法完成這個請求。"),
    ("请说明租约条款。", "真的很抱歉，虽然我很想帮忙，但我恐怕无法协助这项任务。"),
    ("请说明租约条款。", "作为一个人工智能语言模型，我没有办法提供这个请求。"),
    ("请说明租约条款。", "不好意思，这个请求我没办法处理。"),
]


@pytest.mark.parametrize(("instruction", "output"), REFUSALS)
def test_refusals_are_caught_in_every_phrasing(instruction, output):
    assert "output:refusal_boilerplate" in one(rec(instruction, output))


LEGIT_NEAR_REFUSALS = [
    # AI explained, refusals quoted
    ("What is a language model?", "A language model predicts the next word. Early chatbots often began with "
     "“As an AI language model, I cannot…”, which users found repetitive."),
    ("什麼是大型語言模型？", "這類模型可以撰寫信件。像「抱歉，我無法回答這個問題」這樣的句子，是常見的拒絕方式。"),
    ("AI 助手为什么会拒绝？", "遇到不安全的请求时，助手会被训练成说明自己无法协助，并解释原因。"),
    ("Who makes AI models?", "An AI researcher designs models. As an AI researcher, she trains them on text."),
    # apologies that go on to help, and business constraints
    ("Reply to the customer about the late parcel.", "Dear Mrs. Chen,\n\nI'm sorry your parcel arrived late. "
     "Unfortunately, we are unable to refund the shipping fee, but we have sent a voucher.\n\nBest regards,\nAlice"),
    ("客戶反映螢幕有裂痕，請寫一封回覆信。", "陳先生您好：\n\n非常抱歉造成您的不便。很遺憾，我們無法在連假前完成更換，"
     "但已寄出折價券。\n\n敬祝 商祺\n王小明"),
    ("Can I get a refund after 30 days?", "We cannot offer refunds after 30 days, but store credit is available."),
    ("哪個工具比較好？", "我無法替你決定要用哪個工具，但無論選哪個，都請先備份。"),
    ("Which tool should I use?", "I can't decide for you which tool to use, but back up first."),
    # a translation of a refusal
    ("Translate into English: 我無法提供這方面的資訊。", "I cannot provide information on this.", "", "translation"),
]


@pytest.mark.parametrize("case", LEGIT_NEAR_REFUSALS)
def test_legit_mentions_of_ai_and_apologies_pass(case):
    instruction, output, *rest = case
    task = rest[1] if len(rest) > 1 else ("letter_writing" if "Dear" in output or "您好" in output else "faq_qa")
    assert "output:refusal_boilerplate" not in one(rec(instruction, output, task_type=task))


def test_refusal_opening_is_the_first_sentences_only():
    long_intro = "Leases fix the rent. They also fix the term. " * 3
    assert "output:refusal_boilerplate" not in one(rec("Explain leases.", long_intro + "I cannot help with tax."))


# --- truncation ---------------------------------------------------------------------------------------------------

TRUNCATED = [
    ("What is an index fund?", "An index fund holds the securities of an index, and its fees are low because the"),
    ("What is an index fund?", "An index fund holds every security of the index. The"),
    ("What does cron do?", "cron runs scheduled jobs; if you know th"),
    ("複利是什麼？", "複利是指把每一期產生的利息併入本金，下一期再以新的本金計"),
    ("如何關機？", "為了測試 perl 程式碼，嘗試下 Perl 的"),
    ("如何关机？", "启动系统之后，如果你没有安装 GUI，那么你会看到字符登录界面。假设你的主机名为foo"),
    ("List the steps.", "1. Fill in the form.\n2. Upload your ID.\n3. Wait for appr"),
    ("列出步驟。", "1. 填寫表單。\n2. 上傳證件。\n3."),
    ("Show the table.", "| tool | use |\n| --- | --- |\n| cron | scheduling |\n| at | one-off j"),
    ("Give the JSON.", '{"items": ["a", "b", "c'),
    ("Show the loop", "```python\nfor i in range(3):\n    print(i)\n"),
    ("Write a letter.", "Hi team,\n\nI recommend the section on cron. It explains how to"),
]


@pytest.mark.parametrize(("instruction", "output"), TRUNCATED)
def test_cut_answers_are_truncated(instruction, output):
    task = "letter_writing" if "letter" in instruction else "faq_qa"
    assert "output:truncated_output" in one(rec(instruction, output, task_type=task))


COMPLETE = [
    ("Write a short email.", "Hi team,\n\nI recommend the section on cron.\n\nBest regards,\nAlice", "letter_writing"),
    ("寫一封信給同事。", "各位好：\n\n推薦閱讀 cron 一節。\n\n敬祝 商祺\n王小明", "letter_writing"),
    ("写一封信给朋友。", "你好：\n\n推荐阅读 cron 一节。\n\n此致\n敬礼", "letter_writing"),
    ("List three investment tools.", "- stocks\n- bonds\n- index funds", "list_answer"),
    ("列出三種投資工具", "1. 股票\n2. 債券\n3. 指數型基金", "list_answer"),
    ("Give this paragraph a short heading.", "Writing directly to the disk", "title_generation"),
    ("為這段文字起一個標題。", "調試與 X 相關的錯誤", "title_generation"),
    ("Which of these appears in the passage?\nA. cron\nB. at\nAnswer with the letter only.", "B", "multiple_choice"),
    ("Is cron mentioned? Reply with yes or no.", "no", "closed_qa"),
    ("這段文字有沒有提到 cron？", "沒有", "closed_qa"),
    ("Show the table.", "| tool | use |\n| --- | --- |\n| cron | scheduling |", "table"),
    ("What does the code do?", "Return the median of the normal distribution", "code_explanation"),
    ("Where are the archives?", "The archives are at https://mail.python.org/pipermail/", "faq_qa"),
    ("How do I configure it?", "The configuration is given by /etc/fstab. For example:", "faq_qa"),
    ("Translate: sshd.socket for a socket to listen on", "sshd.socket 用來定義一個監聽的套接字", "translation"),
    ("Method body", "        def balance(self, account):\n            return self._balances[account]",
     "method_with_context"),
    ("Write add() in Go", "func add(a int, b int) int {\n\treturn a + b\n}", "code_generation"),
]


@pytest.mark.parametrize(("instruction", "output", "task"), COMPLETE)
def test_complete_answers_are_not_truncated(instruction, output, task):
    assert "output:truncated_output" not in one(rec(instruction, output, task_type=task))


def test_indented_methods_are_judged_as_code_not_by_indentation():
    methods = [
        f"{' ' * indent}def total_{i}(self, items):\n{' ' * (indent + 4)}result = sum(items)\n"
        f"{' ' * (indent + 4)}return result"
        for i, indent in enumerate((4, 8, 12) * 4)
    ]
    rows = [rec(f"Method {i}", m, task_type="method_with_context") for i, m in enumerate(methods)]
    assert all("output:truncated_output" not in r for r in reasons_of(rows))
    cut = "        def total(self, items):\n            result = sum("
    cut = rec("Cut method", cut, task_type="method_with_context")
    assert "output:truncated_output" in one(cut)


# Cuts the general signals must see, in English and both Chinese scripts: a later list item cut (inside a word,
# after a content word, at a comma), prose cut after a function word or a structural particle, a last sentence
# cut among sentences that end with marks, a clause cut before a closing bracket, a long English clause.
CUT_MORE = [
    ("List the steps.", "1. Install the package.\n2. Edit the configuration file.\n3. Restart the serv"),
    ("List the steps.", "1. Install the package.\n2. Edit the configuration file.\n3. Restart the service and check"),
    ("List the steps.", "- Install the package.\n- Edit the file (see “Configuration”).\n- Restart the daemon"),
    ("Name the character classes.", "- Lower case letters\n- Digits 0 through 9\n- Punctuation marks and"),
    ("列出步驟。", "1. 安裝軟體包。\n2. 編輯設定檔。\n3. 重新啟動服"),
    ("列出步骤。", "1. 安装软件包。\n2. 编辑配置文件。\n3. 重新启动服"),
    ("列出步驟。", "1. 安裝軟體包。\n2. 編輯設定檔。\n3. 重新啟動服務，然後檢查日誌"),
    ("列出步骤。", "- 安装软件包。\n- 编辑配置文件。\n- 检查“/etc/hosts”"),
    ("如何修改網路設定？", "如果你要修改系統的網路設定，可以使用這個工具或者"),
    ("如何修改网络设置？", "如果你要修改系统的网络设置，可以使用这个工具或者"),
    ("這個設定有什麼影響？", "需要注意的是，這個設定會影響所有的"),
    ("这个设置有什么影响？", "需要注意的是，这个设置会影响所有的"),
    ("如何掛載？", "系統啟動之後會自動掛載所有的分割區。如果你需要手動掛載"),
    ("如何挂载？", "系统启动之后会自动挂载所有的分区。如果你需要手动挂载"),
    ("時間怎麼顯示？", "Debian 系統的時間通常顯示為本地時間，但硬體時間通常使用 UTC(GMT)"),
    ("时间怎么显示？", "Debian 系统的时间通常显示为本地时间，但硬件时间通常使用 UTC(GMT)"),
    ("How does boot work?", "The kernel loads the modules and then mounts the"),
    ("How does boot work?", "The kernel loads the modules first. Then it mounts the root filesystem and starts"),
    ("How does boot work?", "The kernel loads the modules first.\n\nThen it mounts the root filesystem and starts"),
    ("What does the installer do?", "The installer creates an account and asks for a password before it configures"),
    ("Where is it documented?", "It is documented in the reference manual (see the section on"),
    ("What does it call?", "It calls either C.f or object.__"),
    ("Write to the team.", "Hi team,\n\nThe release moved to Friday.\n\nPlease review the"),
    ("回覆客戶。", "王先生您好：\n\n我們已收到您的申請。\n\n感謝您的耐心，我們會盡快"),
    ("回复客户。", "王先生您好：\n\n我们已收到您的申请。\n\n感谢您的耐心，我们会尽快"),
]


# The phrase exemption needs one line, one clause and a value question: a cut with a comma still counts.
CUT_MORE += [
    ("印表機設定表裡，lpadmin 這一列寫的用途是什麼？", "新增或刪除印表機，並且在需要的時候修改它的預設"),
    ("打印机设置表里，lpadmin 这一列写的用途是什么？", "添加或删除打印机，并且在需要的时候修改它的默认"),
]


@pytest.mark.parametrize(("instruction", "output"), CUT_MORE)
def test_cuts_found_by_general_signals(instruction, output):
    assert "output:truncated_output" in one(rec(instruction, output, task_type="faq_qa"))


# Complete answers without a final mark: phrase lists and lists written without final marks, letters whose
# closing has a sign-off or is a short name block, one-word closed answers, titles, a value, 是…的, a
# parenthetical that ends its own sentence, an English noun phrase, a docstring, an introduction to a sample.
COMPLETE_MORE = [
    ("寫一封信給經理。", "張經理您好：\n\n附件是本月的報告，請查收。\n\n順祝商祺\n李明 敬上", "letter_writing"),
    ("写一封信给经理。", "张经理您好：\n\n附件是本月的报告，请查收。\n\n顺祝商祺\n李明 敬上", "letter_writing"),
    ("回覆客戶。", "王先生您好：\n\n感謝您的來信，我們已處理您的申請。\n\n客服部 陳小姐", "letter_writing"),
    ("回复客户。", "王先生您好：\n\n感谢您的来信，我们已处理您的申请。\n\n客服部 陈小姐", "letter_writing"),
    ("寫一則通知。", "親愛的同學們：\n\n下週一的課程改到三樓教室。\n\n教務處\n2024年5月1日", "letter_writing"),
    ("写一则通知。", "亲爱的同学们：\n\n下周一的课程改到三楼教室。\n\n教务处\n2024年5月1日", "letter_writing"),
    ("Reply to the customer.", "Dear Ms Lee,\n\nThe order ships today.\n\nWarm regards,\nJohn Smith\nCustomer Care",
     "letter_writing"),
    ("Write to the team.", "Hi team,\n\nThe release moved to Friday.\n\nJohn\nRelease manager", "letter_writing"),
    ("Name the classes.", "- Lower case alphabetics\n- Digits 0 through 9\n- Punctuation marks", "list_answer"),
    ("列出字元類別。", "1. 小寫字母\n2. 數字 0 到 9\n3. 標點符號", "list_answer"),
    ("列出字符类别。", "1. 小写字母\n2. 数字 0 到 9\n3. 标点符号", "list_answer"),
    ("列出要點。", "- 系統會自動偵測新硬體並載入驅動程式\n- 使用者可以透過圖形介面修改設定\n- 這個方法仍然是麻煩的",
     "list_answer"),
    ("列出要点。", "- 系统会自动检测新硬件并加载驱动程序\n- 用户可以通过图形界面修改设置\n- 这个方法仍然是麻烦的",
     "list_answer"),
    ("List the key points.", "- The kernel detects new hardware and loads its drivers\n- Users can change network "
     "settings in the settings dialog\n- All configuration files live under /etc", "list_answer"),
    ("這段文字有沒有提到 cron？", "沒有", "closed_qa"),
    ("这段文字有没有提到 cron？", "没有", "closed_qa"),
    ("124 是質數嗎？請回答是或否。", "否", "closed_qa"),
    ("124 是质数吗？请回答是或否。", "否", "closed_qa"),
    ("為這段文字下一個簡短的標題。", "在 Debian 系統上設定網路", "title_generation"),
    ("为这段文字拟一个标题。", "在 Debian 系统上配置网络", "title_generation"),
    ("Give this paragraph a short heading.", "Configuring the network on Debian", "title_generation"),
    ("在「軟體包」表中，apt-cache policy 的「操作」是什麼？只回答值。", "顯示軟體包的可用版本、優先順序和檔案庫資訊",
     "closed_qa"),
    ("在「软件包」表中，apt-cache policy 的「操作」是什么？只回答值。", "显示软件包的可用版本、优先级和档案库信息",
     "closed_qa"),
    # a short single-clause phrase answering a question that asks for a value (no "answer only" hint)
    ("印表機設定表裡，lpadmin 這一列寫的用途是什麼？", "新增或刪除印表機並修改其預設選項", "faq_qa"),
    ("打印机设置表里，lpadmin 这一列写的用途是什么？", "添加或删除打印机并修改其默认选项", "faq_qa"),
    ("這個方法安全嗎？", "這個方法是安全的", "faq_qa"),
    ("这个方法安全吗？", "这个方法是安全的", "faq_qa"),
    ("How do I pick a suite?", "Use the stable suite. (See Section 2.1.)", "faq_qa"),
    ("Summarise the policy.", "The refund policy for annual plans in detail", "summarization"),
    ("What does the code do?", "Return the median. The value is computed over the sorted data", "code_explanation"),
    ("How do I configure it?", "The configuration is given by /etc/fstab. For example,", "faq_qa"),
    ("What is logged?", "Log records go to the console. On the console you will see", "faq_qa"),
    ("列出產生的檔案。", "- package_version.orig.tar.gz\n- package_version.debian.tar.gz\n- package_version.dsc",
     "list_answer"),
    ("Which files does it write?", "It writes these files:\n- build/config.mk\n- build/lib/x86_64", "list_answer"),
]


@pytest.mark.parametrize(("instruction", "output", "task"), COMPLETE_MORE)
def test_complete_answers_without_final_marks(instruction, output, task):
    assert "output:truncated_output" not in one(rec(instruction, output, task_type=task))


# --- merged tasks ---------------------------------------------------------------------------------------------------

MERGED = [
    ("Capital of France?", "Paris.\n\n2. What is the capital of Spain?\nMadrid."),
    ("Capital of France?", "Paris.\n\nNext question: What is the capital of Spain?\nAnswer: Madrid."),
    ("Capital of France?", "Paris.\nQ: And Spain?\nA: Madrid."),
    ("Capital of France?", "Paris.\nUser: and Spain?\nAssistant: Madrid."),
    ("法國首都？", "巴黎。\n\n下一題：西班牙的首都？\n答：馬德里"),
    ("法國首都？", "巴黎。\n使用者：那西班牙呢？\n助理：馬德里。"),
    ("法国首都？", "巴黎。\n\n问题2：西班牙的首都？\n答：马德里"),
    ("法国首都？", "巴黎。\n用户：那西班牙呢？\n助手：马德里。"),
    ("列出要點。", "1. 第一點。\n2. 第二點。\n\n2. 請解釋 cron。\ncron 負責排程。"),
]


@pytest.mark.parametrize(("instruction", "output"), MERGED)
def test_second_turns_are_merged_instructions(instruction, output):
    assert "output:merged_instructions" in one(rec(instruction, output))


LEGIT_MULTI = [
    ("List the steps.", "1. Fill in the form.\n2. Upload your ID.\n3. Wait for approval."),
    ("Write three quiz questions about cron with answers.", "1. What does cron do?\nIt schedules jobs.\n"
     "2. Where is the crontab?\nIn /etc/crontab."),
    ("Write a dialogue between a user and an assistant.", "User: Hi!\nAssistant: Hello, how can I help?"),
    ("請示範終端機操作。", "```console\n$ du -h disk.img\n5.0G  disk.img\n2. x\n```"),
    ("Answer both: 1. What is cron? 2. What is at?", "1. cron schedules jobs.\n2. at runs a job once."),
]


@pytest.mark.parametrize(("instruction", "output"), LEGIT_MULTI)
def test_lists_quizzes_and_dialogues_asked_for_are_not_merged(instruction, output):
    assert "output:merged_instructions" not in one(rec(instruction, output))


# --- echo ---------------------------------------------------------------------------------------------------------

ECHOES = [
    ("What does the Debian Reference say about MC?", "What does the Debian Reference say about MC?\n\n"
     "What does the Debian Reference say about MC?"),
    ("Rewrite the passage as a list.", "Question: Rewrite the passage as a list."),
    ("請用幾句話摘要以下內容。", "問題：請用幾句話摘要以下內容。"),
    ("请将下列段落整理成清单。", "请将下列段落整理成清单。 请将下列段落整理成清单。"),
    ("Does the passage mention `Enum`? Answer Yes or No.", "Does the passage mention `Enum`？ Answer Yes or No。"),
]


@pytest.mark.parametrize(("instruction", "output"), ECHOES)
def test_echoes_behind_labels_and_repeats_are_caught(instruction, output):
    assert "output_echoes_instruction" in one(rec(instruction, output))


def test_answers_that_restate_and_then_answer_are_not_echoes():
    restated = rec("Is the sky blue?", "Is the sky blue? Yes, because of scattering.")
    assert "output_echoes_instruction" not in one(restated)
    assert "output_echoes_instruction" not in one(rec("Repeat after me: hello", "hello"))


# --- language -----------------------------------------------------------------------------------------------------


def test_short_chinese_questions_are_judged():
    rows = [
        rec("請解釋「PolicyKit」。", "Newer GUI applications talk to privileged processes via PolicyKit."),
        rec("这段文字有没有提到“#”？", "沒有"),  # the other script, two characters are enough
        rec("在“umask 值举例”表中，0002 的“用法”是什么？只回答值。", "僅所屬組可寫"),
        rec("What is 緣分?", "緣分 is a Chinese idea of fated connection between people."),  # bilingual question
        rec("如何在 Python 中安裝套件？", "使用 pip install requests 即可。"),  # mixed technical text
        rec("請把段落中的檔名抽取成 JSON。", '{"items": ["~/.ssh/id_rsa.pub"]}', task_type="extract_json"),
        rec("請將下列段落翻譯成英文。", "We cannot process refunds at weekends.", task_type="translation"),
    ]
    got = reasons_of(rows)
    assert "language_mismatch" in got[0] and "language_mismatch" in got[1] and "language_mismatch" in got[2]
    assert all("language_mismatch" not in r for r in got[3:])


# --- mojibake -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "wrong", "right"),
    [
        ("你好，我是小明，今天天氣很好。", "utf-8", "gbk"),
        ("請說明什麼是指數型基金？", "utf-8", "gbk"),
        ("复利是指把每一期产生的利息并入本金。", "gbk", "big5"),
        ("複利是指把每一期產生的利息併入本金。", "big5", "gbk"),
        ("台積電在新竹科學園區設廠，員工超過六萬人。", "utf-8", "cp1252"),
        ("Python’s object model is built on functions.", "utf-8", "gbk"),
    ],
)
def test_cjk_to_cjk_garbage_is_mojibake(text, wrong, right):
    garbled = text.encode(wrong).decode(right, errors="ignore")
    assert "output:mojibake" in one(rec("Explain the text", garbled))


def test_legit_rare_characters_and_mixed_text_are_not_mojibake():
    rows = [
        rec("人名？", "鄧麗君演唱的《甜蜜蜜》膾炙人口。"),
        rec("牙齒？", "齲齒與牙齦炎的預防方法：每天刷牙兩次，使用含氟牙膏。"),
        rec("Café?", "Le café\u00a0! Très bon, crème brûlée."),
        rec("MC?", "摁 F3 開始選擇起始點，再摁 F3 選擇終點。"),
        rec("Mixed?", "台灣的「资讯」在大陸常寫成「信息」，兩種寫法都常見。"),
    ]
    assert all("output:mojibake" not in r for r in reasons_of(rows))


# --- too short ----------------------------------------------------------------------------------------------------


def test_one_character_answers_to_closed_questions_pass():
    rows = [
        rec("Which of these appears?\nA. cron\nB. at\nC. ls\nAnswer with the letter only.", "C"),
        rec("計算 3 + 4，只寫答案。", "7"),
        rec("下面的清單共有幾項？請只回答數字。", "4"),
        rec("Is cron mentioned? Answer Y or N.", "Y"),
        rec("這段文字有沒有提到 cron？請回答是或否。", "是"),
    ]
    assert reasons_of(rows) == [[]] * len(rows)
    assert one(rec("Describe the lease terms.", "x")) == ["output:too_short"]
    assert "output:too_short" in one(rec("Describe the lease terms.", "\u200b\u200b"))


def test_signals_are_plain_functions():
    """The per-row signals are importable on their own, for the spec and for debugging."""
    assert semantic.closed_question("Is it on? Answer yes or no.", "faq_qa", GateConfig().closed_task_types)
    assert semantic.merged_turn("Paris.\nQ: Spain?\nA: Madrid.", "Capital of France?")
    assert semantic.echo_norm("Question: Repeat me.") == "repeatme"
    assert semantic.plausibility("你好") == 1.0 and semantic.plausibility("\ufffd") == 0.0


# Names, paths, commands and quoted English titles carry no language: a Chinese answer that points at them is
# Chinese, an answer made of them is not judged; English prose under a Chinese question still is a mismatch.
LANGUAGE_CASES = [
    ("請說明「SSH 基礎」。", '請閱讀 "/usr/share/doc/openssh-client/README.Debian.gz"、 ssh(1) 和 sshd(8)。', False),
    ("请说明“内核参数”。", '细节参见 "The Linux kernel user’s and administrator’s guide" 。', False),
    ("在表格中，這一項的「套件」是什麼？", "libterm-readline-gnu-perl", False),
    ("在表格中，这一项的“命令”是什么？", "apt-get build-dep package_name", False),
    ("請說明「tmpfs」的要點。", '- "/var/run" → "/run"\n- "/var/lock" → "/run/lock"', False),
    ("請說明「核心」。", "The kernel mounts the root filesystem read-only first and remounts it later.", True),
    ("Explain the kernel.", "系統啟動時會先以唯讀方式掛載根檔案系統，之後再以讀寫方式重新掛載。", True),
]


@pytest.mark.parametrize(("instruction", "output", "mismatch"), LANGUAGE_CASES)
def test_language_is_judged_on_prose_not_on_names_and_paths(instruction, output, mismatch):
    lang = "en" if instruction.isascii() else "zh-Hant"
    assert ("language_mismatch" in one(rec(instruction, output, language=lang))) is mismatch
