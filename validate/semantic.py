"""Semantic signals of the quality gate, in English and both Chinese scripts: refusals, truncation, merged turns,
echoes, closed questions, mojibake.

Each signal is composed from small word classes (apology words, first-person subjects, inability modals, help
verbs, identity-as-AI nouns, role labels, function words, sign-offs...) and from the structure of the text
(sentences, lines, lists, tables, brackets), so it generalises to phrasings no list spells out. Two kinds of
pieces live here:

* the patterns in capitals (``REFUSAL_CORE``, ``MERGED_SCREEN``, ``GARBLE_SCREEN``...) are in the common subset
  of RE2 and Python ``re`` (no lookarounds, backreferences, ``\\b``, ``$`` or ``\\Z``): the gate runs them
  column-wide in pyarrow to screen rows, and the functions below run them per row (the private ones, used
  only per row, may use all of Python ``re``);
* plain functions of one record's strings. ``validate/spec.py`` calls them on every record; the gate
  (``validate/quality.py``) calls the very same functions, but only on the rows its vectorised screen flags.
  Each screen is a superset of the rows its function can return True for, so both give the same verdicts.

Adding a signal: its pattern or function here; one call in the matching check of ``validate/spec.py``; its
screen and candidate call in ``validate/quality.py``; any threshold in ``validate/gate_defaults.yaml``.
"""

from __future__ import annotations

import ast
import re
import unicodedata
from functools import lru_cache

from validate import codecheck, ending
from validate.hanzi import COMMON_HAN_CLASS, RARE_HAN, SIMP_ONLY_CLASS, TOP_HAN_CLASS, TRAD_ONLY_CLASS
from validate.text import HAN, HAN_CLASS
from validate.text import weighted_length as _weighted_length

_HAN_RX = re.compile(HAN)

_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")


def _alt(*words: str) -> str:
    return "(?:" + "|".join(words) + ")"


def weighted_length(text: str) -> int:
    """The gate's length: validate.text.weighted_length of the text as it will be written (no normalisation)."""
    return _weighted_length(text, normalize=False)


# ================================================================================================================
# Refusals: apology / inability / identity-as-AI constructions in the opening sentences of the answer (or of its
# last paragraph, where a refusal gets appended after an answer). A passage that explains AI, or quotes a refusal
# ("early chatbots began with “As an AI language model”"), is no refusal: quoted spans are blanked first, and
# every construction needs a first-person subject or an inability verb aimed at the request.
# ================================================================================================================

_END = ".!?。！？\n"  # sentence ends, for counting the opening sentences
_IN = "[^.!?。！？\\n]"  # a character inside a sentence: constructions never cross a sentence end
_B = "(?:^|[^a-z0-9’'])"  # start of an English word (RE2's \b is ASCII-only, Python's is not: spelled out)

# --- English word classes ---
_EN_ADVERB = _alt(
    "really",
    "just",
    "simply",
    "currently",
    "unfortunately",
    "still",
    "truly",
    "therefore",
    "also",
    "honestly",
    "sadly",
    "regretfully",
    "definitely",
    "certainly",
    "personally",
    "genuinely",
    "fully",
    "directly",
    "legally",
    "ethically",
    "actually",
    "properly",
    "accurately",
    "reliably",
    "safely",
    "responsibly",
    "adequately",
    "further",
    "yet",
    "afraid",
    "however",
    "ultimately",
    "generally",
    "even",
)
_EN_SUBJECT = "i(?:[’']m|[’']d|[’']ll| am| will| would)?"
_EN_UNABLE = _alt(
    "can ?not",
    "can[’']?t",
    "could ?not",
    "couldn[’']?t",
    "won[’']?t(?: be able to)?",
    "will not(?: be able to)?",
    "unable to",
    "not able to",
    "not in a (?:position|place) to",
    "not allowed to",
    "not permitted to",
    "(?:must|have to|will have to) decline to",
    "decline to",
    "refuse to",
    "am not going to",
    "(?:do|does) not have the (?:ability|capability|capacity|means) to",
    "don[’']?t have the (?:ability|capability|capacity|means) to",
)
_EN_HELP = _alt(
    "help(?: you| with| in| on| out| to| answer| further| here| that| this| any| your|[,.!;:])",
    "assist",
    "provide",
    "answer",
    "complete",
    "fulfil",
    "fulfill",
    "comply",
    "respond",
    "give",
    "offer",
    "generate",
    "write",
    "create",
    "share",
    "support",
    "do (?:that|this|so|it|what)",
    "do[,.!;:]",
    "perform",
    "engage",
    "discuss",
    "process",
    "handle",
    "access",
    "browse",
    "translate",
    "produce",
    "draft",
    "recommend",
    "advise",
    "predict",
    "disclose",
    "reveal",
    "endorse",
    "express",
    "carry out",
    "accommodate",
    "grant",
    "participate",
    "speculate",
    "diagnose",
    "verify",
    "confirm",
    "guarantee",
    "look up",
    "retrieve",
    "check",
)
_EN_AI = _alt(
    "ai",
    "a\\.i",
    "artificial intelligence",
    "(?:large |ai )?language model",
    "llm",
    "ai[- ]powered assistant",
    "(?:ai|virtual|digital) assistant",
    "chat ?bot",
    "machine learning model",
    "text-based ai",
    "conversational ai",
    "ai model",
    "ai system",
    "computer program",
)
_EN_AI_TAIL = "(?: " + _alt("language model", "model", "assistant", "chatbot", "system", "program", "tool") + ")?"
_EN_MAKER = "(?: (?:developed|created|trained|built|designed|made|programmed) by [a-z0-9 -]{1,30}?)?"
_EN_APOLOGY = _alt(
    "sorry", "apologi[sz]e", "apologies", "unfortunately", "regrettably", "i regret", "i[’']m afraid", "afraid"
)

# Plain inability ("I can't help with that"): a refusal, except in a message written in someone's voice.
_EN_INABILITY = [
    # "I'm afraid I can't help with that", "I am not able to answer", "I won't be able to fully complete"
    _B + _EN_SUBJECT + f"(?: {_EN_ADVERB}){{0,2}} " + _EN_UNABLE + f"(?: {_EN_ADVERB})?(?: you)? " + _EN_HELP,
    # "that's not something I can help with"
    _B
    + "(?:that|this|it|which)(?:[’']s not| is not| isn[’']t) (?:something|a (?:request|task|question|topic|thing))"
    + "(?: that)? "
    + "i(?:[’']m| am)? (?:can|could|able to|will be able to) (?:"
    + _EN_ADVERB
    + " )?"
    + _EN_HELP,
    # "Sorry, can't help with that."
    _B + _EN_APOLOGY + "[, ]+(?:but )?" + _alt("unable to", "cannot", "can[’']?t", "not able to") + " " + _EN_HELP,
    # "Sorry, this question cannot be answered."
    _B
    + _EN_APOLOGY
    + _IN
    + "{0,30}?"
    + "(?:this|that|such an?) (?:request|question|query|prompt)s? "
    + "(?:cannot|can[’']?t|could not|will not|won[’']?t) be (?:completed|answered|fulfilled|addressed|assisted)",
]
# Boilerplate anywhere: identity as an AI, capability limits, no access or opinions, the request itself refused.
_EN_ALWAYS = [
    # "As an AI language model (developed by X), I ...", "Being an artificial intelligence, I ..."
    _B + "(?:as|being) an? " + _EN_AI + _EN_AI_TAIL + _EN_MAKER + "[,，] ?(?:i|my)[^a-z]",
    # "I'm just an AI, so ...", "I am a large language model and ..."
    _B
    + "i(?:[’']m| am)(?: (?:just|only|merely|simply|actually|not a human|but|a|an))* "
    + _EN_AI
    + _EN_AI_TAIL
    + _alt(
        "[,.!;:]",
        " and ",
        " so ",
        " without ",
        " that ",
        " developed ",
        " created ",
        " trained ",
        " made ",
        " built ",
        " designed ",
        " from ",
        " by ",
        " with ",
        " i ",
        " not ",
        " rather ",
        " who ",
        " which ",
    ),
    # "I do not have access to real-time information", "I don't have personal opinions"
    _B
    + "i (?:do not|don[’']?t|cannot|can[’']?t) (?:have|access|browse)(?: access to| the ability to)? "
    + _alt(
        "real[- ]time",
        "the internet",
        "current events",
        "live",
        "personal (?:opinions?|experiences?|feelings|beliefs|preferences|views)",
        "feelings",
        "emotions",
        "opinions",
        "browsing",
        "up-to-date",
    ),
    # "this goes beyond my capabilities", "outside the scope of what I can do"
    _B
    + _alt("beyond", "outside(?: of)?", "exceeds?", "not within", "outside the scope of")
    + " "
    + _alt(
        "my (?:abilit(?:y|ies)|capabilit(?:y|ies)|scope|capacity|expertise|programming|remit|function(?:s|ality)?"
        "|purview|knowledge(?: base)?|training|limits)",
        "what i (?:can|am able to|could|[’']m able to) (?:do|help with|provide|answer)",
    ),
    # "I'm not able to provide this request", "I cannot fulfil that question"
    _B
    + _EN_SUBJECT
    + f"(?: {_EN_ADVERB}){{0,2}} "
    + _EN_UNABLE
    + f"(?: {_EN_ADVERB})?(?: you)? "
    + _EN_HELP
    + " (?:(?:you|to you|with) )?(?:this|that|the|your|such an?) (?:request|question|task|query|prompt|inquiry)",
]

# --- Chinese word classes (Traditional and Simplified side by side) ---
_ZH_IN = _IN
_ZH_SUBJECT = "我(?:[^們们國国方校司院軍军隊队的.!?。！？\\n]" + _ZH_IN + "{0,5})?"  # 我 + up to 6 characters
# Inability that reads as a refusal on its own; the wider list adds softer verbs (不便, 不會, 難以 ...).
_ZH_UNABLE_STRICT_WORDS = (
    "無法",
    "无法",
    "不能夠",
    "不能够",
    "不能",
    "沒辦法",
    "没办法",
    "沒有辦法",
    "没有办法",
    "做不到",
    "未能",
    "無能為力",
    "无能为力",
    "恕難",
    "恕难",
)
_ZH_UNABLE = _alt(
    *_ZH_UNABLE_STRICT_WORDS,
    "不便",
    "不會",
    "不会",
    "拒絕",
    "拒绝",
    "不可以",
    "不宜",
    "不方便",
    "沒有能力",
    "没有能力",
    "無權",
    "无权",
    "難以",
    "难以",
)
_ZH_UNABLE_STRICT = _alt(*_ZH_UNABLE_STRICT_WORDS)
_ZH_HELP = _alt(
    "協助",
    "协助",
    "幫",
    "帮",
    "提供",
    "回答",
    "完成",
    "處理",
    "处理",
    "滿足",
    "满足",
    "執行",
    "执行",
    "給予",
    "给予",
    "給出",
    "给出",
    "進行",
    "进行",
    "生成",
    "撰寫",
    "撰写",
    "編寫",
    "编写",
    "寫",
    "写",
    "翻譯",
    "翻译",
    "解答",
    "回覆",
    "回复",
    "答覆",
    "答复",
    "討論",
    "讨论",
    "透露",
    "分享",
    "告訴",
    "告诉",
    "查詢",
    "查询",
    "預測",
    "预测",
    "判斷",
    "判断",
    "評論",
    "评论",
    "建議",
    "建议",
    "推薦",
    "推荐",
    "做",
    "辦",
    "办",
    "參與",
    "参与",
    "支援",
    "支持",
    "存取",
    "訪問",
    "访问",
    "取得",
    "獲取",
    "获取",
    "瀏覽",
    "浏览",
    "保證",
    "保证",
    "代替",
    "替代",
    "給",
    "给",
    "診斷",
    "诊断",
    "確認",
    "确认",
    "核實",
    "核实",
    "認可",
    "认可",
    "贊同",
    "赞同",
    "發表",
    "发表",
    "表達",
    "表达",
    "評估",
    "评估",
    "實現",
    "实现",
    "理解",
    "明白",
    "應對",
    "应对",
    "答",
)
# What a refusal says it cannot do when the subject is left out ("抱歉，無法提供相關資訊"); a business that cannot
# refund ("抱歉，目前無法提供退款") says something else.
_ZH_META = _alt(
    "回答",
    "解答",
    "協助",
    "协助",
    "幫助",
    "帮助",
    "幫忙",
    "帮忙",
    "幫你",
    "帮你",
    "幫您",
    "帮您",
    "回覆",
    "回复",
    "答覆",
    "答复",
    "滿足",
    "满足",
    "完成" + _alt("這", "这", "此", "該", "该", "您", "你"),
    "處理" + _alt("這", "此", "該", "您", "你"),
    "处理" + _alt("这", "此", "该", "您", "你"),
    "提供"
    + _ZH_IN
    + "{0,4}?"
    + _alt(
        "資訊",
        "信息",
        "建議",
        "建议",
        "意見",
        "意见",
        "答案",
        "內容",
        "内容",
        "協助",
        "协助",
        "幫助",
        "帮助",
        "解答",
        "回覆",
        "回复",
    ),
)
_ZH_APOLOGY = _alt(
    "抱歉", "對不起", "对不起", "很遺憾", "很遗憾", "不好意思", "恕我", "請見諒", "请见谅", "歉難", "歉难"
)
_ZH_AI = _alt(
    "AI",
    "人工智慧",
    "人工智能",
    "語言模型",
    "语言模型",
    "大型語言模型",
    "大型语言模型",
    "大語言模型",
    "大语言模型",
    "聊天機器人",
    "聊天机器人",
    "虛擬助理",
    "虚拟助理",
    "虚拟助手",
    "智能助手",
    "智慧助理",
    "機器人",
    "机器人",
)
_ZH_AI_TAIL = (
    "(?: ?"
    + _alt("語言模型", "语言模型", "模型", "助理", "助手", "程式", "程序", "系統", "系统", "聊天機器人", "聊天机器人")
    + ")?"
)
_ZH_AS = _alt("作為", "作为", "做為", "做为", "身為", "身为", "既然是", "由於我是", "由于我是", "因為我是", "因为我是")
_ZH_ONE = "(?:" + _alt("一個", "一个", "一名", "一款", "一種", "一种", "一位", "個", "个") + " ?)?"
_ZH_MAKER = "(?:由[^，,。.!?！？\\n]{1,12}(?:開發|开发|訓練|训练|打造|建立|設計|设计)的 ?)?"

_ZH_INABILITY = [
    # 我（目前／恐怕／真的）無法／沒辦法／不能 …（為您）提供／回答／協助
    _ZH_SUBJECT + _ZH_UNABLE + _ZH_IN + "{0,6}?" + _ZH_HELP,
    # 抱歉，（由於…）無法提供相關資訊
    _ZH_APOLOGY + _ZH_IN + "{0,20}?" + _ZH_UNABLE_STRICT + _ZH_IN + "{0,6}?" + _ZH_META,
]
_ZH_ALWAYS = [
    # 作為（一個）AI 語言模型，我 …
    _ZH_AS + _ZH_ONE + _ZH_MAKER + _ZH_AI + _ZH_AI_TAIL + "[，,、：: ]?我[^們们]",
    # 我只是一個 AI，…
    "我"
    + _alt(
        "只是",
        "僅是",
        "仅是",
        "是",
        "只不過是",
        "只不过是",
        "僅僅是",
        "仅仅是",
        "本身是",
        "並非人類，而是",
        "并非人类，而是",
        "不是人類，而是",
        "不是人类，而是",
    )
    + _ZH_ONE
    + _ZH_AI
    + _ZH_AI_TAIL
    + _alt("[，,。！；、：: !;:]", "所以", "因此", "並", "并", "無", "无", "不", "沒", "没"),
    # 我沒有個人意見／即時資料
    "我"
    + _alt("沒有", "没有", "無法", "无法", "不能", "並沒有", "并没有", "不具備", "不具备", "不具有")
    + _alt("個人", "个人", "真實", "真实", "自己")
    + "?的?"
    + _alt(
        "意見",
        "意见",
        "感情",
        "情感",
        "情緒",
        "情绪",
        "觀點",
        "观点",
        "喜好",
        "偏好",
        "感受",
        "即時",
        "即时",
        "實時",
        "实时",
        "上網",
        "上网",
        "連網",
        "联网",
        "網路存取",
        "网络访问",
        "瀏覽",
        "浏览",
        "意識",
        "意识",
    ),
    # 這超出了我的能力範圍、不在本助理的服務範圍
    _alt("超出", "超過", "超过", "不在", "超越", "超乎")
    + "了?"
    + _ZH_IN
    + "{0,6}?"
    + "(?:我|本(?:助理|助手|系統|系统|模型|AI))"
    + _ZH_IN
    + "{0,6}?"
    + _alt("能力", "職責", "职责", "知識", "知识", "服務", "服务", "權限", "权限", "專業", "专业"),
    "我的?能力" + _alt("範圍", "范围") + "?有限",
    _alt("力所不及", "非我所能"),
    # 我沒辦法協助這個請求：the request itself refused
    _ZH_SUBJECT
    + _ZH_UNABLE_STRICT
    + _ZH_IN
    + "{0,6}?"
    + _ZH_HELP
    + _ZH_IN
    + "{0,4}?"
    + _alt("這個", "这个", "此", "該", "该", "這項", "这项", "相關", "相关", "這類", "这类", "你的", "您的")
    + _ZH_IN
    + "{0,2}?"
    + _alt("請求", "请求", "要求", "問題", "问题", "任務", "任务", "資訊", "信息", "內容", "内容"),
]

# Any refusal construction anywhere: the screen, and the test of an instruction that itself holds one (a
# translation or rewrite of a refusal is no refusal).
REFUSAL_CORE = "(?i)" + "|".join(_EN_INABILITY + _ZH_INABILITY + _EN_ALWAYS + _ZH_ALWAYS)
# The constructions that are boilerplate even in a letter, where "I cannot attend" is content.
ALWAYS_CORE = "(?i)" + "|".join(_EN_ALWAYS + _ZH_ALWAYS)
# Quoted spans are blanked (to a line break, so no construction can form across one) before the opening is read.
QUOTED = '“[^”\\n]{0,200}”|「[^」\\n]{0,200}」|『[^』\\n]{0,200}』|"[^"\\n]{0,200}"|《[^》\\n]{0,60}》'
_QUOTED_RX = re.compile(QUOTED)
_CORE_RX = re.compile(REFUSAL_CORE)
_ALWAYS_RX = re.compile(ALWAYS_CORE)


@lru_cache(maxsize=16)
def refusal_opening_pattern(sentences: int, core: str = REFUSAL_CORE) -> str:
    """A construction of ``core`` starting within the first ``sentences`` sentences of a text (anchored at its
    start, so RE2 stops reading once those sentences are over)."""
    return f"(?i)^(?:{_IN}*[{_END}]+){{0,{max(sentences - 1, 0)}}}{_IN}*?(?:" + core[4:] + ")"


_END_RUN = re.compile(f"[{_END}]+")


def opens_with(rx: re.Pattern[str], text: str, sentences: int) -> bool:
    """``rx`` (a construction) starts within the first ``sentences`` sentences of ``text``: the leftmost match
    has at most ``sentences - 1`` runs of sentence ends before it. The same as ``refusal_opening_pattern``
    (which RE2 reads in one pass), without Python backtracking through it."""
    m = rx.search(text)
    return m is not None and len(_END_RUN.findall(text, 0, m.start())) < max(sentences, 1)


def refusal_head(text: str, chars: int) -> str:
    """The first ``chars`` characters of ``text`` with quoted spans blanked: what the opening test reads."""
    return _QUOTED_RX.sub("\n", text[:chars])


def last_paragraph(text: str, chars: int) -> str:
    """The text after the last line break (whitespace around it removed) when it is at most ``chars`` long
    (an appended remark, not a section), else ''."""
    body = text.strip()
    cut = body.rfind("\n")
    last = body[cut + 1 :].strip() if cut >= 0 else ""
    return last if len(last) <= chars else ""


# Tasks whose answer is a message in someone's voice (a letter declining an invitation), a role-play or a quoted
# dialogue: a first-person "I cannot attend" there is content, not a refusal.
COMPOSE = (
    r"(?i)(?:write|draft|compose|prepare|send|pen)[^.?!\n]{0,30}(?:letter|e-?mail|note|message|reply|memo|response|"
    r"apology|announcement|invitation|card|dialog|story|speech)|(?:^|[^a-z])reply to |respond to (?:the|this|a) "
    r"(?:customer|email|message|complaint)|role-?play|(?:^|[^a-z])(?:dialog|stor(?:y|ies)(?:[^a-z]|$))|"
    r"(?:寫|写|擬|拟|撰寫|撰写|起草|回)[^。？！\n]{0,8}(?:信|郵件|邮件|函|便條|便条|訊息|消息|通知|公告|聲明|声明|卡片)|"
    r"一封|回信|信件|對話|对话|故事|劇本|剧本|婉拒|道歉信|致歉"
)
_COMPOSE = re.compile(COMPOSE)


def refuses(output: str, instruction: str, context: str, sentences: int, chars: int) -> bool:
    """True when a refusal construction starts within the opening sentences of the answer, or of its last
    paragraph (up to ``chars`` long), unless the instruction/context itself holds one (translate, rewrite); when
    the task is to write a message in someone's voice, only the constructions of ``ALWAYS_CORE`` count."""
    last = last_paragraph(output, chars)
    heads = [refusal_head(h, chars) for h in ([output, last] if last else [output])]
    rx = _ALWAYS_RX if _COMPOSE.search(instruction) else _CORE_RX
    if not any(opens_with(rx, h, sentences) for h in heads):
        return False
    return not (_CORE_RX.search(instruction) or (context and _CORE_RX.search(context)))


# ================================================================================================================
# Merged tasks: a second question/answer (or role-label pair) after the first answer.
# ================================================================================================================

_MD = "(?:#{1,4}[ \\t]*)?(?:[*_]{1,2})?"  # markdown heading / bold around a label
_LABEL_END = "(?:[*_]{1,2})?[ \\t]*[:：](?:[*_]{1,2})?"
_HUMAN = _alt(
    "user",
    "human",
    "question",
    "q",
    "prompt",
    "instruction",
    "使用者",
    "用戶",
    "用户",
    "問",
    "问",
    "提問",
    "提问",
    "問題",
    "问题",
    "客戶",
    "客户",
    "顧客",
    "顾客",
    "人類",
    "人类",
)
_BOT = _alt(
    "assistant",
    "ai",
    "answer",
    "a",
    "bot",
    "chatbot",
    "gpt",
    "chatgpt",
    "model",
    "response",
    "output",
    "助理",
    "助手",
    "答",
    "回答",
    "解答",
    "答案",
    "客服",
    "機器人",
    "机器人",
    "ai ?助理",
    "ai ?助手",
    "系統",
    "系统",
    "回應",
    "回应",
    "輸出",
    "输出",
)
_NUM = "[0-9０-９一二三四五六七八九十]+"
_NEXT = _alt(
    "next (?:question|task|instruction|query|prompt|problem|one)",
    "new (?:question|task|instruction|query|prompt)",
    "下一(?:題|题|個問題|个问题|個任務|个任务|道題|道题|個指令|个指令|個|个|問|问)",
    "下個問題",
    "下个问题",
    "另一(?:個問題|个问题|題|题|個任務|个任务)",
    "another (?:question|task)",
)
_LABEL_WORD = _alt(
    "question",
    "task",
    "problem",
    "query",
    "instruction",
    "q",
    "問題",
    "问题",
    "題目",
    "题目",
    "任務",
    "任务",
    "指令",
    "提問",
    "提问",
    "問",
    "问",
    "題",
    "题",
)
_NUMBERED_LABEL = _LABEL_WORD + "[ \\t]*(?:#|no\\.?[ \\t]*)?" + _NUM
# The screen (a superset of what merged_turn() accepts): a role, next-task or numbered-task label, or a numbered
# item, at the start of a line after the first.
MERGED_SCREEN = (
    "(?i)\\n[ \\t]*"
    + _MD
    + _alt(_HUMAN + _LABEL_END, _BOT + _LABEL_END, _NEXT, _NUMBERED_LABEL, "第" + _NUM)
    + "|\\n[ \\t]*"
    + _MD
    + "[0-9]+[.)、．）]"
)
_ROLE_LINE = re.compile("(?i)^[ \\t]*" + _MD + "(?:(" + _HUMAN + ")|(" + _BOT + "))" + _LABEL_END)
_NEXT_LINE = re.compile("(?i)^[ \\t]*" + _MD + "(?:" + _NEXT + ")(?:[*_]{1,2})?[ \\t]*(?:[:：.．、)）]|[ \\t]+[^ \\t])")
_LABEL_NUM_LINE = re.compile(
    "(?i)^[ \\t]*"
    + _MD
    + "(?:("
    + _LABEL_WORD
    + ")[ \\t]*(?:#|no\\.?[ \\t]*)?("
    + _NUM
    + ")|(第)("
    + _NUM
    + ")(?:題|题|個問題|个问题|個任務|个任务|問|问))(?:[*_]{1,2})?[ \\t]*[:：.．、)）]"
)
_ITEM_NUM_LINE = re.compile("^([ \\t]*)" + _MD + "([0-9]+)(?:[.)．）][ \\t]+|、[ \\t]*)[^ \\t]")
_ASSISTANT_LINE = re.compile(
    "(?i)^[ \\t]*" + _MD + _alt("assistant", "助理", "助手", "ai ?助理", "ai ?助手") + _LABEL_END
)
_ZH_NUMS = {c: i for i, c in enumerate("一二三四五六七八九十", 1)}
# Instructions that ask for several questions, a dialogue or an FAQ, or hold several questions themselves.
_ASKS_FOR_TURNS = re.compile(
    r"(?i)(?:generate|write|create|list|give|make|compose|draft|prepare|come up with|produce|suggest|design)"
    r"[^.?!\n]{0,40}(?:questions|quiz|faq|q&a|dialog|conversation|interview|script|exam|problems|exercises)|"
    r"faq|q&a|quiz|dialog|conversation|transcript|interview|role-?play|"
    r"(?:生成|產生|产生|寫|写|列出|列舉|列举|提出|設計|设计|出|擬|拟|編寫|编写|整理)[^。？！\n]{0,12}"
    r"(?:問題|问题|題目|题目|問答|问答|測驗|测验|考題|考题|練習|练习)|"
    r"問答|问答|常見問題|常见问题|對話|对话|訪談|访谈|劇本|剧本"
)
_LIST_NUMBER_INSTR = re.compile(r"(?m)^[ \t]*(?:2|二)[.)、．）]")


def _number(token: str) -> int:
    token = unicodedata.normalize("NFKC", token)
    if token.isdigit():
        return int(token)
    if token == "十":
        return 10
    if len(token) == 2 and token[0] == "十":
        return 10 + _ZH_NUMS.get(token[1], 0)
    return _ZH_NUMS.get(token[0], 0) if len(token) == 1 else 0


def _several_questions(instruction: str) -> bool:
    return (
        bool(_ASKS_FOR_TURNS.search(instruction))
        or instruction.count("?") + instruction.count("？") >= 2
        or bool(_LIST_NUMBER_INSTR.search(instruction))
    )


def merged_turn(output: str, instruction: str) -> bool:
    """True when, after its first line, the answer goes on with another task: a user/assistant (Q/A, 問/答,
    使用者/助手) label pair, a human-labelled question, an assistant label, a "next question" label, a
    numbered task label ("Task 2:", "問題2：") or numbered item ("2.") that continues no numbering before it
    (at its indentation) and is followed by more lines; lines inside code fences are not read. Instructions
    that ask for questions or dialogues, or hold several
    questions, are exempt."""
    lines = output.split("\n")
    if len(lines) < 2:
        return False
    human_seen = False
    labels: dict[str, int] = {}  # numbered-label word -> last number seen
    items: dict[int, int] = {}  # indentation -> last list number seen there
    in_code = False
    for i, line in enumerate(lines):
        if _FENCE.match(line.lstrip()):
            in_code = not in_code
            continue
        if not line.strip() or in_code:
            continue
        later = [t for t in lines[i + 1 :] if t.strip()]
        first = i == 0
        item = _ITEM_NUM_LINE.match(line)
        if item:
            indent, n = len(item.group(1).expandtabs(4)), int(item.group(2))
            if not first and n >= 2 and n != items.get(indent, 0) + 1 and later:
                return not _several_questions(instruction)
            items[indent] = n
        lab = _LABEL_NUM_LINE.match(line)
        if lab:
            word = (lab.group(1) or lab.group(3)).lower()
            n = _number(lab.group(2) or lab.group(4))
            if not first and n >= 2 and labels.get(word, 0) != n - 1:
                return not _several_questions(instruction)
            labels[word] = n
        if first:
            continue
        role = _ROLE_LINE.match(line)
        if role and role.group(1):
            human_seen = True
            if "?" in line or "？" in line:
                return not _several_questions(instruction)
        elif role and (human_seen or _ASSISTANT_LINE.match(line)):
            return not _several_questions(instruction)
        if _NEXT_LINE.match(line):
            return not _several_questions(instruction)
    return False


# ================================================================================================================
# Echo: the answer's content minus the instruction's content is (near) empty.
# ================================================================================================================

# Question/answer labels at line starts ("Question:", "問題：", "Q:", "答："), removed from both sides first.
ECHO_LABEL = (
    "(?im)^[ \\t]*"
    + _MD
    + _alt(
        "question",
        "q",
        "instruction",
        "input",
        "prompt",
        "query",
        "task",
        "answer",
        "a",
        "response",
        "output",
        "user",
        "問題",
        "问题",
        "題目",
        "题目",
        "問",
        "问",
        "提問",
        "提问",
        "指令",
        "任務",
        "任务",
        "回答",
        "答",
        "答案",
        "輸入",
        "输入",
        "輸出",
        "输出",
        "使用者",
        "用戶",
        "用户",
        "回應",
        "回应",
    )
    + _LABEL_END
    + "[ \\t]*"
)
_ECHO_LABEL_RX = re.compile(ECHO_LABEL)
ECHO_DROP_PY = re.compile(r"[\W_]+")


def echo_norm(text: str) -> str:
    """Labels removed, NFKD, lowercase, letters and digits only: 'Question: Repeat me.' -> 'repeatme'."""
    return ECHO_DROP_PY.sub("", unicodedata.normalize("NFKD", _ECHO_LABEL_RX.sub("", text)).lower())


def bigram_dice(a: str, b: str) -> float:
    """Dice overlap of the two strings' character-bigram sets (1.0 for equal strings too short to have any)."""
    x = {a[i : i + 2] for i in range(len(a) - 1)}
    y = {b[i : i + 2] for i in range(len(b) - 1)}
    return 2 * len(x & y) / (len(x) + len(y)) if x and y else float(a == b)


def echo_candidate(out_len: int, ins_len: int, ratio: float) -> bool:
    """Raw lengths that allow an echo: a non-empty output at most ``ratio`` times the instruction (+40 for
    labels and separators)."""
    return 0 < out_len <= ratio * ins_len + 40


def echo_of(o: str, i: str, min_chars: int, residual_chars: int, overlap_ratio: float, overlap_max: int) -> bool:
    """On normalised texts (``echo_norm``): equal; the instruction once or more with at most ``residual_chars``
    (weighted) left over; a large part of the instruction; or a near restatement (bigram overlap)."""
    lo, li = len(o), len(i)
    if o == i:
        return True
    if lo < min_chars:
        return False
    if li >= min_chars and lo >= li and i in o and weighted_length(o.replace(i, "")) <= residual_chars:
        return True
    if lo <= li and lo * 10 >= li * 6 and o in i:
        return True
    return lo <= overlap_max and lo * 4 >= li * 3 and li * 4 >= lo * 3 and bigram_dice(o, i) >= overlap_ratio


# ================================================================================================================
# Closed questions: a one-character answer, or an answer without final punctuation, is fine.
# ================================================================================================================

_CLOSED = re.compile(
    r"(?i)true or false|t/f|yes or no|yes/no|y/n|\banswer (?:with )?(?:yes|no|true|false|the letter|a number|"
    r"the number|one word|only)|\b(?:choose|select|pick)\b|which (?:one|of)|multiple[- ]choice|how (?:many|much|old)|"
    r"what (?:year|number|percentage)|\b(?:calculate|compute|solve|evaluate|simplify|count)\b|"
    r"what is the (?:sum|product|difference|value|result|answer|total)|\d\s*[-+*/×÷^=]\s*\d|"
    r"^\s*(?:is|are|was|were|do|does|did|can|could|will|would|should|has|have|had|am)\s|"
    r"\b(?:title|heading|headline|slogan|keyword|tag|label|classify|sentiment|extract|name the|only the value|"
    r"letter only|number only|just the)\b|"
    r"是否|是不是|對不對|对不对|有沒有|有没有|能不能|可不可以|會不會|会不会|[嗎吗][?？]?\s*$|[嗎吗][?？]|"
    r"是非|對錯|对错|選擇|选择|選項|选项|哪一|哪個|哪个|哪項|哪项|多少|幾[個个歲岁年天次種种位名人號号點点分元項项]|"
    r"几[个岁年天次种位名人号点分元项]|計算|计算|等於|等于|求[出解值和積积]|只回答|只需回答|僅回答|仅回答|請回答|请回答|"
    r"只寫|只写|標題|标题|標語|标语|關鍵字|关键字|关键词|關鍵詞|分類|分类|情感|擷取|撷取|提取|抽取|答案|"
    # a name or a bare value asked for: "叫什麼名字", "直接給出", "不需解釋", "in one word" (a table lookup is not
    # closed as such: its answer may be a phrase or a sentence, see _value_answer)
    r"叫什[麼么]|稱為什[麼么]|称为什[么麼]|何[者種种時时處处]|"
    r"直接(?:回答|給出|给出|寫出|写出)|不(?:需|用|必)(?:要)?(?:解釋|解释|說明|说明)|無需(?:解釋|說明)|无需(?:解释|说明)|"
    r"一個詞|一个词|一句話|一句话|簡答|简答|"
    r"\bin (?:one|a few|two|three) words?\b"
)


def closed_question(instruction: str, task_type: str, closed_task_types: str) -> bool:
    """The instruction asks for a short or closed answer: yes/no, a choice, a number, a value, a title, a label,
    an extraction (or the task type says so)."""
    if closed_task_types and re.search(closed_task_types, task_type):
        return True
    return bool(_CLOSED.search(instruction))


_ONE_CHAR = re.compile(r"[0-9A-Za-z]")


def short_answer_ok(output: str, instruction: str, task_type: str, closed_task_types: str) -> bool:
    """A one-character answer (a digit, a letter) to a closed or math question is a complete answer."""
    return bool(_ONE_CHAR.fullmatch(output.strip())) and closed_question(instruction, task_type, closed_task_types)


# Zero-width characters count as blank for the length bounds: an answer of U+200B only is empty.
ZERO_WIDTH = "[\u200b\u200c\u200d\u2060\ufeff]"
_ZERO_WIDTH_RX = re.compile(ZERO_WIDTH)


def visible(text: str) -> str:
    """``text`` without zero-width characters and without leading/trailing whitespace."""
    return _ZERO_WIDTH_RX.sub("", text).strip()


# ================================================================================================================
# Truncation: no sentence-final mark, plus a reason to think the text goes on.
# ================================================================================================================

SENTENCE_FINAL = ".!?。！？…"
# A text ending with one of these is complete: a sentence, or a colon or semicolon that introduces what a
# source left out (a code sample after "try the following:").
COMPLETE_END = SENTENCE_FINAL + ":：;；"
OPENERS = "([{（「『【《“"
CLOSERS = ")]}）」』】》”"
_OPEN_RX = re.compile("[" + re.escape(OPENERS) + "]")
_CLOSE_RX = re.compile("[" + re.escape(CLOSERS) + "]")
# A list item's marker: a bullet, a number or letter with its mark, a circled number, a Chinese ordinal.
_MARKER = (
    r"(?:[-*+•·●○◦▪■□◆◇►▶➢✓✔–]|[0-9]+[.)、．）]|（[0-9]+）|\([0-9]+\)|[①-⑳]|[一二三四五六七八九十]+、|"
    r"（[一二三四五六七八九十]+）|[a-zA-Z][.)]|\([a-zA-Z]\)|(?:ii|iii|iv|vi|vii|viii|ix)[.)])"
)
_LIST_ITEM = re.compile(r"^[ \t]*" + _MARKER + r"[ \t]+\S")
_ITEM_MARKER = re.compile(r"^[ \t]*" + _MARKER + r"[ \t]+")
_LIST_MARKER_ONLY = re.compile(
    r"[ \t]*(?:[-*+•·●○◦▪■□◆◇►▶➢✓✔]|[0-9]+[.)、．）]|（[0-9]*）?|\([0-9]*\)?|[①-⑳]|[一二三四五六七八九十]+、)[ \t]*"
)
_HEADING = re.compile(r"^#{1,6}[ \t]")
# A last word that cannot end a sentence: articles and determiners, prepositions, conjunctions, relative words,
# possessives, copulas and auxiliaries (a verb must follow them). Words that also end clauses ("in", "on", "it",
# "do", "this", "then", "while" in "for a while") are left out.
_EN_DANGLING = frozenset(
    "a an the every various and or but nor of to for with from by at into onto than because although though if "
    "unless whereas whether when where which whose whom via per toward towards between among versus during "
    "including my your our their its his is are was were am be been being has have had can could should would "
    "will shall may might must as very".split()
)
# Capitalised, these are names ("released in May").
_EN_NAMES = frozenset({"May", "Will", "Can"})
_EN_DANGLING_PAIRS = frozenset({("such", "as"), ("so", "that"), ("well", "as"), ("in", "order")})
_LAST_WORDS = re.compile(r"([A-Za-z’']+)\W*?\s+([A-Za-z’']+)$|([A-Za-z’']+)$")
# The Chinese counterparts, in both scripts: conjunctions, prepositions, determiners, adverbs and auxiliaries
# that need a following clause, object or verb. A single character is dangling only where it is not the end of
# a word that closes a clause (參與 takes part, 普及 spreads, 不對 is wrong, 合併 merges, 總和 is a sum).
_ZH_DANGLING = re.compile(
    "(?:並且|并且|而且|但是|因為|因为|所以|如果|雖然|虽然|以及|或者|或是|對於|对于|關於|关于|為了|为了|由於|由于|例如|"
    "比如|諸如|诸如|包括|像是|以便|以免|甚至|不僅|不仅|不但|然而|而是|還有|还有|其中|首先|其次|此外|另外|尤其是|特別是|"
    "特别是|也就是|導致|导致|透過|透过|通過|通过|經由|经由|根據|根据|依據|依据|按照|針對|针对|基於|基于|藉由|借由|即使|"
    "即便|儘管|尽管|只要|只有|除了|除非|假如|一旦|直到|與其|与其|無論|无论|不論|不论|等於|等于|那麼|那么|然後|然后|"
    "接著|接着|於是|于是|因此|因而|從而|从而|進而|进而|否則|否则|不過|不过|可是|以致|使得|這些|这些|那些|一些|各種|各种|"
    "任何|所有|每個|每个|這種|这种|那種|那种|將會|将会|已經|已经|正在|能夠|能够|非常|"
    "(?<![參参給给授賦赋])[與与]|(?<![不來来普涉企遍])及|(?<![不配成一核面相絕绝反針针])[對对]|(?<![服無无隨随])[從从]|"
    "(?<![合吞兼])[並并]|(?<![總总求緩缓平調调溫温柔共附飽饱暖謙谦])和|(?<![轉转退禮礼])[讓让]|(?<![供配補补])[給给]|"
    "(?<![顯显名原土巨])[著着]|(?<![歸归償偿退交奉送])[還还]|(?<![應应活])[該该]|(?<![大天])使|(?<![自])如|"
    "(?<![無无])[幾几][個个種种]?|(?<![成造遷迁])就|[把被將将而但且於于或跟很最也再其每各某這这那若按])$"
)
# 的 ends a clause only in the 是…的 construction ("這個方法是非常麻煩的"); elsewhere a noun must follow it.
_ZH_DE_CLAUSE = re.compile("([^，,；;：:。！？!?]*)的$")
_DANGLING_PUNCT = ",，、-–—&+=\\(["
_SIGNOFF = re.compile(
    r"(?i)^(?:(?:best|kind|warm|warmest|warmly|many thanks|thanks|thank you|cheers|regards|sincerely|yours|"
    r"respectfully|cordially|fondly|all the best|with (?:best|kind|warm|warmest) (?:regards|wishes)|best wishes|"
    r"take care|love|talk soon|speak soon|see you|with apologies|with thanks|with gratitude|with appreciation|"
    r"gratefully|faithfully|stay safe|have a (?:good|great|nice) (?:day|week|weekend))(?:[ \t,.!:;]|$)|"
    r"敬祝|順頌|顺颂|敬頌|敬颂|頌安|颂安|此致|祝|謹上|谨上|敬上|拜上|謹啟|謹啓|谨启|敬啟|敬啓|敬启|謹致|谨致|敬禮|敬礼|敬請|敬请|"
    r"順祝|顺祝|順安|顺安|商祺|時祺|时祺|謝謝|谢谢|感謝|感谢|再會|再会|再見|再见|再次|致歉|致意|致敬|順心|顺心|保重|"
    r"期待|盼)"
)
# A letter opens with a greeting: "Dear Ms Lee,", "Hi team,", "親愛的…：", "…您好：".
_GREETING = re.compile(
    r"(?i)^(?:(?:dear|hi|hello|hey|greetings|good (?:morning|afternoon|evening))\b[^\n]{0,40}[,:!]?|"
    r"[^\n]{0,16}(?:您好|你好|大家好|各位好)[：:，,！!]?|(?:親愛的|亲爱的|尊敬的)[^\n]{0,16}[：:，,]?)$"
)
_EN_STOPWORDS = frozenset(
    "a an the and or but of to in on at for with from by as is are was were be been it its this that these those "
    "you your we our they their he she his her i my me if then than so not no can will would should could may "
    "might must do does did has have had which who what when where how there here into about over after before "
    "also only just more most such".split()
)
_URL_END = re.compile(r"(?:https?://|www\.|[\w.-]+@[\w-]+\.)\S*$")
_SPLIT_ENUM = re.compile(r"[,，、;；/|]")


_ASCII_LETTER = re.compile("[A-Za-z]")


def _letters(text: str) -> tuple[int, int]:
    return len(_HAN_RX.findall(text)), len(_ASCII_LETTER.findall(text))


def _chinese(text: str) -> bool:
    """Chinese running text: several Han characters, not mostly Latin."""
    han, latin = _letters(text)
    return han >= 4 and han * 4 >= latin


def _unbalanced(text: str) -> bool:
    return len(_OPEN_RX.findall(text)) > len(_CLOSE_RX.findall(text)) or text.count('"') % 2 == 1


def _dangling(line: str) -> bool:
    """The line ends with a word or mark that needs something after it."""
    end = line[-1:]
    if end in _DANGLING_PUNCT or end in OPENERS:
        return True
    if end.isascii():
        m = _LAST_WORDS.search(line[-40:])
        if m is None:
            return False
        last = m.group(3) or m.group(2)
        if last in _EN_NAMES:
            return False
        if m.group(3):
            return last.lower() in _EN_DANGLING
        return last.lower() in _EN_DANGLING or (m.group(1).lower(), last.lower()) in _EN_DANGLING_PAIRS
    de = _ZH_DE_CLAUSE.search(line[-40:])
    if de is not None and "是" not in de.group(1):
        return True
    return _ZH_DANGLING.search(line[-6:]) is not None


def _tail_group(text: str) -> int:
    """Where the bracketed or quoted group that ends ``text`` starts ("… (see udev(7))", "… “active”"), or -1."""
    if text.endswith('"'):
        return text.rfind('"', 0, len(text) - 1)
    if text[-1:] not in CLOSERS:
        return -1
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        if text[i] in CLOSERS:
            depth += 1
        elif text[i] in OPENERS:
            depth -= 1
            if depth == 0:
                return i
    return -1


def _ends_sentence(text: str) -> bool:
    return bool(text) and text[-1] in SENTENCE_FINAL


def _bare(line: str) -> tuple[str, bool]:
    """``line`` without the bracketed or quoted groups and emphasis marks that end it, and whether it ends its
    sentence all the same: with a mark, or a group that itself ends with one ("(Contributed by X.)", "「…。」").
    A closing bracket or quote is no sentence end in either language ("… 使用 UTC(GMT)" stops short all the
    same), so the checks judge what comes before it."""
    s = line.strip()
    for _ in range(4):
        s = s.rstrip("* \t")
        if not s:
            break
        if _ends_sentence(s):
            return s, True
        start = _tail_group(s)
        if start < 0:  # a closer whose opener is on an earlier line: what it closes may end with a mark
            rest = s.rstrip(CLOSERS + '"')
            return s, not rest or _ends_sentence(rest)
        if _ends_sentence(s[start + 1 : -1].rstrip("* \t")):
            return s, True
        s = s[:start]
    return s.rstrip(), False


# The end of a sentence inside a line: a Chinese final mark, or a Latin one before a space and a capital, digit
# or opening quote (an abbreviation or a single letter before the mark is no sentence: "e.g. Foo", "J. Smith").
_SENTENCE_END = re.compile(r'[。！？]+[」』”）)]*|[.!?]["\'”’)]*[ \t]+(?=["“(]?[A-Z0-9])')
_ABBREVIATIONS = frozenset("eg ie etc vs cf mr mrs ms dr no fig sec ch vol approx inc ltd co st".split())
_WORD_BEFORE = re.compile(r"([A-Za-z]+)\.?[A-Za-z]?$")


def _final_sentence(line: str) -> tuple[str, bool]:
    """The last sentence of ``line``, and whether an earlier sentence ends inside the line."""
    start = 0
    for m in _SENTENCE_END.finditer(line):
        if m.group()[0] in ".!?":
            word = _WORD_BEFORE.search(line[: m.start()])
            if word and (len(word.group(0)) == 1 or word.group(0).replace(".", "").lower() in _ABBREVIATIONS):
                continue
        start = m.end()
    return line[start:].strip(), start > 0


def _judged(line: str) -> bool | None:
    """Whether a line of the answer ends its sentence with a mark; None for lines that say nothing about the
    writer's habit: headings, table rows, code, short labels or names, lines that end with a colon or comma
    (they introduce what follows)."""
    t = line.strip()
    if t.startswith(("#", "|", "```", "~~~", ">")) or t[-1:] in ":：,，;；":
        return None
    bare, closed = _bare(_ITEM_MARKER.sub("", t))
    if closed:
        return True
    han, _ = _letters(bare)
    if han < 6 and len(_LATIN_WORD.findall(bare)) < 4:
        return None
    return False


def _marks_used(lines: list[str]) -> bool:
    """The writer ends sentences with marks: at least two thirds of the lines that can be judged do."""
    verdicts = [v for v in map(_judged, lines) if v is not None]
    return bool(verdicts) and sum(verdicts) * 3 >= len(verdicts) * 2


def _sign_off(text: str, lines: list[str]) -> bool:
    """A letter's closing: one of the last three lines is a sign-off, and what follows it is a short name; or a
    letter that opens with a greeting ends with a block of one to three short lines (a name, a title) after a
    paragraph that ends its sentence. A sign-off is short and whole: a Chinese clause that goes on after a comma
    ("感謝您的耐心，我們會盡快") is a sentence that begins like one."""
    tail = [t.strip() for t in lines[-3:] if t.strip()]
    for k, line in enumerate(tail):
        if _SIGNOFF.match(line) and weighted_length(line) <= 40 and not _dangling(line.rstrip(",，")):
            if _HAN_RX.search(line) and re.search("[，,]", line):
                continue
            if all(weighted_length(t) <= 24 and not _dangling(t) for t in tail[k + 1 :]):
                return True
    if not _GREETING.match(lines[0].strip()):
        return False
    paragraphs = [p for p in re.split(r"\n[ \t]*\n", text) if p.strip()]
    if len(paragraphs) < 3:
        return False
    closing = [t.strip() for t in paragraphs[-1].split("\n") if t.strip()]
    return (
        len(closing) <= 3
        and all(_name_like(t) for t in closing)
        and _judged(paragraphs[-2].strip().split("\n")[-1]) is not False
    )


def _name_like(line: str) -> bool:
    """A short line that names rather than says: a name, a title, a department, a date (no list item, no word
    that needs a continuation, no English function word)."""
    words = _LATIN_WORD.findall(line)
    return (
        weighted_length(line) <= 30
        and len(words) <= 4
        and not any(w.lower() in _EN_STOPWORDS for w in words)
        and not _LIST_ITEM.match(line)
        and not _dangling(line)
    )


def _prose_line(line: str, min_function_words: int) -> bool:
    """A line that reads as running text: Chinese with several Han characters, or English with function
    words that is not in Title Case."""
    if _chinese(line):
        return True
    words = _LATIN_WORD.findall(line)
    if sum(w.lower() in _EN_STOPWORDS for w in words) < min_function_words:
        return False
    content = [w for w in words if w.lower() not in _EN_STOPWORDS]
    capitalised = sum(w[0].isupper() for w in content)
    return capitalised * 10 < len(content) * 6


# A sentence just begun and cut: a sentence-final mark, then one or two words, the first capitalised
# ("... kept, unmodified. This"), not after an abbreviation ("e.g. foo", "Mr. Smith").
_STUB = re.compile(
    r"(?<![A-Za-z]\.[A-Za-z])(?<!\b[A-Z][a-z]\.)(?<!\b[A-Za-z]\.)[.!?][\"'”’)]?\s+[A-Z][\w’'-]*(?:\s+[\w’'-]+)?$"
)
_ABBREVIATION = re.compile(
    r"(?i)\b(?:e\.g|i\.e|etc|vs|cf|mr|mrs|ms|dr|no|fig|sec|ch|vol|approx|inc|ltd|co|st)\.[\"'”’)]?\s+\S+(?:\s+\S+)?$"
)
# A word cut in the middle: a last token used nowhere else in the record that is the start of a longer word the
# record uses ("... most acti" after "actively"), or one to three lowercase letters that are no short word or unit.
_SHORT_WORDS = frozenset(
    "a i an as at be by do go he if in is it me my no of oh ok on or so to up us we am and any are but can did "
    "due end few for get got had has her him his how its let lot may new nor not now off old one our out own per "
    "put ran run saw say see set she six ten the too top two use via was way who why yes yet you all add ago air "
    "big bit box bug buy cut day dog eat far fix fun gas key law log low man max men min mix net odd pay raw red "
    "row sum tab tag tax try war web win won yet zip bad bar bed bus car cat cpu cup dev doc env err etc faq fee "
    "fit fly gui hot ice job kit lab lay leg lid lie map mix mod msg nil ram ref rpm sed sql src ssh std sub sys "
    "tcp tmp tty udp uri url usb var vim xml yaml json km kg mb gb kb tb ms ns px pt em cm mm hz ghz mhz".split()
)
# The last word, not the tail of a name: a token glued to a dot, underscore, slash, digit or colon is an extension
# or a part of an identifier or path ("package_version.dsc", "x86_64", "a::b"), whole as it stands.
_LAST_TOKEN = re.compile(r"(?:^|[^A-Za-z0-9’'._/\\:@~$=-])([A-Za-z]+)$")
_WORD = re.compile(r"[A-Za-z]+")


# A dotted name cut after its dot ("object.__"): no name ends with a dot and underscores.
_CUT_NAME = re.compile(r"\w\._+$")


def _cut_word(line: str, record_text: str, min_words: int = 3) -> bool:
    """The last word of ``line`` is cut in the middle (see ``_SHORT_WORDS``); also one or two letters in Title
    Case that are no word ("... the Debian Bug Tr"), and a dotted name cut after its dot."""
    if len(line.split()) < min_words:
        return False
    if _CUT_NAME.search(line):
        return True
    m = _LAST_TOKEN.search(line)
    if m is None:
        return False
    token = m.group(1).lower()
    words = [w.lower() for w in _WORD.findall(record_text)]
    if words.count(token) > 1:
        return False  # a word the record uses elsewhere
    short = (len(token) <= 3 and m.group(1).islower()) or (len(token) <= 2 and m.group(1).istitle())
    if short and token not in _SHORT_WORDS and token not in _ABBREVIATIONS:
        return True
    return any(len(w) > len(token) and w.startswith(token) for w in words)


def _stub(line: str) -> bool:
    return _STUB.search(line) is not None and not _ABBREVIATION.search(line)


def _enumeration(line: str) -> bool:
    """A run of short items ("Apple, Google, Microsoft"; "蘋果、香蕉、橘子")."""
    parts = [p.strip() for p in _SPLIT_ENUM.split(line)]
    return len(parts) >= 3 and all(0 < weighted_length(p) <= 12 and len(p.split()) <= 2 for p in parts)


def _table_cut(lines: list[str]) -> bool:
    """A Markdown table whose last row has fewer cells than its header, or lacks the closing pipe the others
    have."""
    rows = [t.strip() for t in lines if t.strip().startswith("|")]
    last = rows[-1]
    header = rows[0]
    if last.count("|") < header.count("|"):
        return True
    return header.endswith("|") and not last.endswith("|")


# A final sentence of running text, in an answer that ends its other sentences with marks, is cut from these
# many Han characters (Chinese) or words (English) on: a name or a label is shorter.
_CONTEXT_MIN_HAN = 4
_CONTEXT_MIN_WORDS = 3
# A last sentence that introduces a sample the source left out ("For example, try the following", "on the
# console you will see"), or is nothing but such an introduction ("For example,").
_INTRODUCES = re.compile(
    r"(?i)(?:\bthe following|\bas follows|\bbelow|\bfor (?:example|instance)|\blike this|\b(?:will|would|should) see|"
    r"\bsomething like|\blooks? like)$"
)
_INTRODUCTION = re.compile(r"(?i)(?:for (?:example|instance)|e\.g\.|as follows|namely)[,:]?")


# Signs of a clause, not a heading or a noun phrase ("The refund policy for annual plans in detail"): an
# auxiliary, copula or modal, a subject pronoun, a verb in the past tense, a name followed by a verb in -s
# ("Netfilter provides", "md5sum(1) provides"), or more words than a heading has.
_CLAUSE_WORDS = frozenset(
    "is are was were be been being am has have had do does did can could will would shall should may might must "
    "it they we you he she i there".split()
)
_SUBJECT_VERB = re.compile(r"(?:\b[A-Z][\w.-]*|\w\(\d\))\s+(?:now\s+|also\s+|\w+ly\s+)?[a-z]{2,}[^su\W]s\b")
_HEADING_MAX_WORDS = 10


def _clause(text: str) -> bool:
    """The text reads as a clause (see ``_CLAUSE_WORDS``), so a missing final mark means it stopped short."""
    words = _LATIN_WORD.findall(text)
    if len(words) > _HEADING_MAX_WORDS or _SUBJECT_VERB.search(text):
        return True
    return any(w.lower() in _CLAUSE_WORDS or w.endswith("ed") for w in words)


def _running(sentence: str) -> bool:
    """A sentence long enough to read as running text rather than a name or label (see ``_CONTEXT_MIN_HAN``)."""
    if _chinese(sentence):
        return _letters(sentence)[0] >= _CONTEXT_MIN_HAN
    words = _LATIN_WORD.findall(sentence)
    return len(words) >= _CONTEXT_MIN_WORDS and _prose_line(sentence, 1) and not _INTRODUCES.search(sentence)


def _list_cut(lines: list[str], record_text: str) -> bool:
    """The last list item is cut: its siblings end with sentence-final marks and it does not; or its own earlier
    sentences end with marks and its last, running text, does not (while no sibling of several sentences ends
    without a mark); or its last word is cut in the middle. In a list whose items are phrases without marks, a
    last item without one is normal."""
    items = [_ITEM_MARKER.sub("", t).strip() for t in lines if _LIST_ITEM.match(t)]
    earlier = items[:-1]
    if not earlier:
        return False
    last, closed = _bare(items[-1])
    if closed:
        return False
    verdicts = [ends for bare, ends in map(_bare, earlier) if bare]
    if verdicts and sum(verdicts) * 3 >= len(verdicts) * 2:
        return True  # the siblings are sentences; this one, even a lone quoted term, stops short
    if not last:
        return False
    sentence, inner = _final_sentence(last)
    if inner and _running(sentence) and not any(_final_sentence(bare)[1] for bare, _ in map(_bare, earlier)):
        return True  # its own sentences end with marks but the last, unlike siblings written that way
    return _stub(items[-1]) or _cut_word(items[-1], record_text, min_words=1)


# A question that asks for a value ("…的「說明」是什麼？", "what does X do?"): its answer may be a phrase (a table
# cell, a name, a description) that needs no final mark.
_VALUE_QUESTION = re.compile(
    r"(?i)(?:什麼|什么|哪|何[者種种時时處处]|多少|幾|几|\bwhat\b|\bwhich\b|\bhow many\b)[^。！？!?\n]{0,80}[？?]"
)
_CLAUSE_PUNCT = re.compile("[，,；;：:、]")
# A single Chinese clause shorter than this many Han characters answers such a question as a phrase.
_VALUE_MAX_HAN = 20


def _value_answer(bare: str, lines: list[str], instruction: str) -> bool:
    """A one-line Chinese answer of a single short clause (no comma, fewer than ``_VALUE_MAX_HAN`` Han
    characters) to a question that asks for a value: a phrase, not a sentence cut short."""
    return (
        len(lines) == 1
        and not _CLAUSE_PUNCT.search(bare)
        and _letters(bare)[0] < _VALUE_MAX_HAN
        and _VALUE_QUESTION.search(instruction) is not None
    )


_TRANSLATION = re.compile(r"(?i)translat|翻譯|翻译|[譯译][成為为作]|翻成|[轉转]成|[轉转]換[成為]|转换[成为]")


def _mirrors_open_source(instruction: str, context: str, task_type: str) -> bool:
    """A translation of a source text that itself ends without a final mark (a title, a phrase)."""
    if not (_TRANSLATION.search(task_type) or _TRANSLATION.search(instruction)):
        return False
    source = (context if context.strip() else instruction).strip()
    return source[-1:] not in COMPLETE_END and not _bare(source)[1]


def code_truncation(output: str, task_type: str, fenced: bool) -> bool | None:
    """The code verdict (validate.codecheck.truncation_verdict) for code-task rows and rows with a fence, else
    None: code is recognised by task type and parsing, never by indentation."""
    if not (fenced or codecheck.CODE_TASK_TYPES.search(task_type)):
        return None
    return codecheck.truncation_verdict(output, task_type)


FENCE = "```|~~~"  # a Markdown code fence (validate.codecheck reads both kinds)
_FENCE = re.compile(FENCE)


def truncated(
    output: str,
    instruction: str,
    context: str,
    task_type: str,
    min_chars: int,
    min_chars_latin: int,
    dangling_min_chars: int,
    min_function_words: int,
    closed_task_types: str,
    model: tuple[float, float] = (-1000.0, 1000.0),
) -> bool:
    """True when the answer looks cut off.

    An odd number of ``` fences, or code that codecheck calls cut off, is truncated; complete code is not; a
    list whose last line is a bare marker ("3.") is. Other text ending with a sentence-final mark, a colon or a
    semicolon is complete, and so is a letter's closing. Otherwise it is cut when brackets or quotes are left
    open, a Markdown table's last row is short, the last line is a heading, or the last word needs a
    continuation (an article, preposition, conjunction, auxiliary, comma, open bracket: from
    ``dangling_min_chars`` weighted characters on). A list's last item is cut when its siblings end with marks
    and it does not (``_list_cut``). Past those, closing brackets and quotes are looked through, and a last line
    is cut when it is Chinese running text of ``min_chars`` weighted characters, or its last sentence is
    running text while the answer ends its other sentences with marks (``_marks_used``; not for code tasks,
    whose docstrings often lack them), or a new sentence has just begun, or its last word is cut in the middle,
    or it is English prose of ``min_chars_latin`` characters that reads as a clause (``_clause``; 0: never). The
    two length rules spare answers to closed questions (a value, a title, a label); a translation of a source
    that ends without a final mark is complete.
    """
    keep_at_most, cut_above = model
    if output.count("```") % 2:
        return True
    verdict = code_truncation(output, task_type, bool(_FENCE.search(output)))
    if verdict is not None:
        return verdict
    text = output.strip()
    if not text:
        return False
    lines = [t for t in text.split("\n") if t.strip()]
    last = lines[-1].strip()
    if len(lines) > 1 and _LIST_MARKER_ONLY.fullmatch(last):
        return True  # the list goes on to an item that never came ("3.")
    if text[-1] in COMPLETE_END:
        return False
    if _sign_off(text, lines):
        return False
    if _unbalanced(text):
        return True
    if last.startswith("|"):
        return _table_cut(lines)
    if text[0] in "{[":
        return False  # JSON: balanced brackets
    if text[-1] in "`|>~'":
        return False  # a code span, a table or quote mark: no sentence end to judge
    if len(lines) > 1 and _HEADING.match(last):
        return True
    if weighted_length(text) >= dangling_min_chars and _dangling(last):
        return not _INTRODUCTION.fullmatch(_final_sentence(last)[0])
    record = "\n".join((output, instruction, context))
    if len(lines) > 1 and _LIST_ITEM.match(last):
        return _list_cut(lines, record) and ending.cut_logit(output, task_type) > keep_at_most
    bare, closed = _bare(last)
    if closed or not bare or _enumeration(bare) or _URL_END.search(bare):
        return False
    if _mirrors_open_source(instruction, context, task_type):
        return False
    sentence, inner = _final_sentence(bare)
    # Docstrings, which code answers quote, often lack final marks: only the signs of a cut judge them.
    prose_task = not codecheck.CODE_TASK_TYPES.search(task_type)
    if prose_task and (inner or _marks_used(lines[:-1])) and _running(sentence):
        return ending.cut_logit(output, task_type) > keep_at_most  # running text among marked sentences
    if _chinese(bare):
        long_cut = weighted_length(bare) >= min_chars and not _value_answer(bare, lines, instruction)
    elif _stub(last) or _cut_word(last, record):
        return ending.cut_logit(output, task_type) > keep_at_most  # a sentence just begun, a word cut short
    else:
        long_cut = prose_task and bool(min_chars_latin) and weighted_length(bare) >= min_chars_latin
        long_cut = long_cut and _prose_line(bare, min_function_words) and _clause(bare) and not _INTRODUCES.search(bare)
    # A short or closed answer (a value, a title, a label) needs no final mark, however long.
    if closed_question(instruction, task_type, closed_task_types):
        return False
    z = ending.cut_logit(output, task_type)
    if long_cut:
        return z > keep_at_most
    return z > cut_above and weighted_length(bare) >= dangling_min_chars and not _INTRODUCES.search(bare)


# ================================================================================================================
# Mojibake: text that a wrong decoder garbled round-trips into clearly more plausible text.
# ================================================================================================================

# The screen for garbled text (all RE2): a rare Han character at most two characters from another or from a kana,
# Cyrillic, Greek or symbol character, or a Latin-1 letter followed by another non-ASCII character (UTF-8 read as
# cp1252) (``GARBLE_SCREEN``);
# characters only Traditional and characters only Simplified uses in one text (garbage decoded as Big5 inside
# Simplified text, or as GBK inside Traditional text); and, in a very short text, any rare Han or implausible
# character (``SHORT_SCREEN``).
# Characters garbling makes besides rare Han: kana, Hangul, Greek, Cyrillic, symbols, private use, U+FFFD.
_ODD = (
    "[\u0370-\u03ff\u0400-\u04ff\u2460-\u27bf\u3040-\u30ff\u3100-\u312f\u3130-\u318f\uac00-\ud7af\ue000-\uf8ff\ufffd]"
)
RARE_PAIR = RARE_HAN + "[^\\n]{0,2}(?:" + RARE_HAN + "|" + _ODD + ")|" + _ODD + "[^\\n]{0,2}" + RARE_HAN
_LATIN1_PAIR = "[\\xc0-\\xef][^\\x00-\\x7f]"
# Characters garbling produces and running text hardly has: kana, Hangul, Greek, Cyrillic, box drawing, Latin-1
# letters and symbols, private use, the replacement character.
IMPLAUSIBLE = (
    "[\u00a1-\u00ff\u0100-\u024f\u0370-\u03ff\u0400-\u04ff\u2460-\u27bf\u3040-\u30ff\u3100-\u312f"
    "\u3130-\u318f\uac00-\ud7af\ue000-\uf8ff\ufffd]"
)
GARBLE_SCREEN = RARE_PAIR + "|" + _LATIN1_PAIR
SHORT_TEXT = 8  # characters (raw length): a text this short is looked at for one rare or implausible character
SHORT_SCREEN = RARE_HAN + "|" + IMPLAUSIBLE
_SCREEN_RX = re.compile(GARBLE_SCREEN)
_TRAD_RX, _SIMP_RX = re.compile(TRAD_ONLY_CLASS), re.compile(SIMP_ONLY_CLASS)
_SHORT_RX = re.compile(SHORT_SCREEN)
_TOP_RX, _COMMON_RX = re.compile(TOP_HAN_CLASS), re.compile(COMMON_HAN_CLASS)
_IMPLAUSIBLE_RX = re.compile(IMPLAUSIBLE)
# (encoding the garbled text was wrongly decoded with, encoding it really was in).
ROUND_TRIPS = (
    ("gbk", "utf-8"),
    ("big5", "utf-8"),
    ("big5", "gbk"),
    ("gbk", "big5"),
    ("cp1252", "utf-8"),
    ("latin-1", "utf-8"),
)
# Garbage holds no real CJK punctuation (a wrong decoder turns "。" into "﹝", "，" into "ㄛ" or "锛"), so pieces
# between punctuation marks (and between runs of ASCII) are tried on their own as well as the whole text.
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+(?:[\x00-\x7f]{1,2}[^\x00-\x7f]+)*")
_CJK_PUNCT = re.compile("[，。、；：？！「」『』（）《》“”]+")


def screened(text: str) -> bool:
    """The text passes the cheap screen for garbling (``GARBLE_SCREEN``, or a very short text with a rare Han or
    implausible character)."""
    if _SCREEN_RX.search(text) or (_TRAD_RX.search(text) and _SIMP_RX.search(text)):
        return True
    return len(text) <= SHORT_TEXT and _SHORT_RX.search(text) is not None


def plausibility(text: str) -> float:
    """How much the text reads like real Chinese: its Han characters score 1 (among the 1,000 most frequent),
    0.5 (common) or 0 (rare), implausible characters 0; the mean, or 1.0 for a text with neither."""
    han = len(_HAN_RX.findall(text))
    total = han + len(_IMPLAUSIBLE_RX.findall(text))
    if not total:
        return 1.0
    return (len(_TOP_RX.findall(text)) + len(_COMMON_RX.findall(text))) / (2 * total)


def garbled(text: str, min_share: float, min_gain: float) -> bool:
    """True when the text (or a piece of it between ASCII runs and CJK punctuation, four characters or more)
    re-encoded the way a wrong
    decoder read it gives text whose plausibility is at least ``min_share`` and ``min_gain`` above the
    original's. Only texts that pass the screen are tried."""
    if not screened(text):
        return False
    pieces = [text]
    for run in _NON_ASCII_RUN.findall(text):
        pieces += [p for p in _CJK_PUNCT.split(run) if len(p) >= 4 and p != text]
    for piece in dict.fromkeys(pieces):
        before = plausibility(piece)
        if before + min_gain > 1.0:
            continue
        for wrong, right in ROUND_TRIPS:
            try:
                raw = piece.encode(wrong)
            except UnicodeEncodeError:
                continue
            after = plausibility(raw.decode(right, errors="replace"))
            if after >= min_share and after >= before + min_gain:
                return True
    return False


# ================================================================================================================
# Template leaks: a prompt template's unfilled slot, a chat template's special token or turn marker, reasoning
# residue. The gate screens whole columns with ``leak_pattern`` (gate_defaults.yaml, RE2); each match it finds is
# then judged here in its context, because the same characters are legitimate elsewhere: a slot in an f-string,
# ``"<|endoftext|>"`` in a tokenizer's source, ``<s>`` as HTML strikethrough, ``vector<s>`` as a C++ type.
# ================================================================================================================

# What a match is, read from its own text (so a user's own leak_pattern is judged by the same rules):
# a slot ``{context}`` / ``${input}`` / ``%(question)s``, a role line ``### Response:`` / ``Assistant:``, a
# bracket token ``[INST]`` / ``[PAD]``, a plain angle tag ``<s>`` / ``<question>`` (also an HTML or XML element),
# else a special token (``<|eot_id|>``, ``<｜User｜>``, ``<<SYS>>``, ``<start_of_turn>``, ``<think>``...).
_LEAK_ROLE = re.compile(r"[:：]$")
_LEAK_SLOT = re.compile(r"^(?:\$?\{|%\()")
_LEAK_TAG = re.compile(r"^<(/?)[ \t]*([A-Za-z" + HAN_CLASS + r"][\w -]*?)[ \t]*>$")
# Angle names that only a tokenizer uses: its specials (<eos>, <pad>, GLM <sop>, InternLM <eoa>, Gemma <unused0>),
# reasoning tags, and the grammars <start_of_turn>, <fim_prefix>, <extra_id_0>, <reserved_106>, <tool_call>,
# <BOS_TOKEN>.
_TOKEN_TAG_NAME = re.compile(
    r"(?i)^(?:bos|eos|pad|unk|mask|sep|cls|sop|eop|eo[ahs]|eosys|eot|think(?:ing)?|unused[0-9]+)$|_of_|^fim_"
    r"|^extra_id|^reserved_|_token$|^tool_"
)
# What a slot glued to notation has on its left: a name, a path or query separator, a LaTeX command's backslash.
_NOTATION_LEFT = "_\\/=#?&@"
# A command in prose around an angle tag: an option or a synopsis's [OPTIONS] within a few words of it, or a
# shell prompt opening its line.
_COMMAND_LINE = re.compile(r"(?:^|[ \t])--?[A-Za-z]|\[[A-Z][A-Z_]*\]")
_COMMAND_REACH = 40
_PROMPT_LINE = re.compile(r"[ \t]*[$#>][ \t]")
# What follows a role word and its colon in code: a type annotation, with or without a default.
_ANNOTATION = re.compile(
    r"[A-Za-z_][\w.]*(?:\[[^\]]*\])?(?:[ \t]*\|[ \t]*[A-Za-z_][\w.]*(?:\[[^\]]*\])?)*[ \t]*(?:=.*)?$"
)
# Quotes or backticks right around a token: the text names it ("ends with "<|endoftext|>"") rather than leaks it.
_MENTION_OPEN, _MENTION_CLOSE = "\"'`“‘「『", "\"'`”’」』"
# Comment syntax and multi-line strings per language (fence labels as codecheck.normalize_language gives them).
_HASH_COMMENT_LANGS = frozenset(
    "python bash sh shell console zsh yaml yml toml ruby rb perl r ini conf makefile make dockerfile powershell ps1"
    " cmake nix julia elixir tcl".split()
)
_TRIPLE_QUOTE_LANGS = frozenset({"python", "kotlin", "swift", "scala", "julia", "toml", None})
_BACKTICK_LANGS = frozenset({"javascript", "typescript", "tsx", "go", None})
# Characters of code syntax; a line with none of them outside its strings reads as a sentence, not a statement.
_CODE_MARKS = re.compile(r"[=;(){}\[\]<>+*/%&|^~@\\$]")
_PROSE_MARKS = re.compile(HAN + "|[：，。？！；、（）「」]")
_SENTENCE_WORDS = 3  # words of a line with no code marks that make it a sentence
# A label and a slot alone on a line ("Context: {context}", the slot already replaced by " x "): a template's
# field, though Python reads it as an annotation.
_LABEL_LINE = re.compile(r"^[ \t]*[A-Z][A-Za-z]*(?:[ \t][A-Za-z]+){0,3}[ \t]*[:：][ \t]*x[ \t]*$")
_MARKUP_LINE = re.compile(r"^<|>$")
# Markup no template leaves: a closing tag (but </s>, the end of sequence), a tag with attributes, a line break.
_OTHER_MARKUP = re.compile(r"</([A-Za-z][A-Za-z0-9-]*)>|<([A-Za-z][A-Za-z0-9-]*)[ \t\n][^<>]*=[^<>]*>|<(br|hr)[ /]*>")


def _literals(code: str, language: str | None) -> list[tuple[int, int, bool]]:
    """``(start, end, is_comment)`` of the string literals and comments of ``code``. A quote left open at the
    end of its line is an apostrophe ("Here's"), not a string; a multi-line string or comment cut off runs to
    the end. ``language`` None (an indented block, an unlabelled fence): the union of the common syntaxes, with
    ``#`` and ``//`` only after whitespace (``http://``, ``a#b`` are no comments)."""
    out: list[tuple[int, int, bool]] = []
    hashes = language in _HASH_COMMENT_LANGS or language is None
    slashes = language not in _HASH_COMMENT_LANGS
    triple, backtick = language in _TRIPLE_QUOTE_LANGS, language in _BACKTICK_LANGS
    i, n = 0, len(code)
    while i < n:
        c = code[i]
        spaced = i == 0 or code[i - 1] in " \t\n"
        if (hashes and c == "#" and (spaced or language == "python")) or (
            slashes and code.startswith("//", i) and (spaced or language is not None)
        ):
            j = code.find("\n", i)
            j = n if j < 0 else j
            out.append((i, j, True))
            i = j
            continue
        if slashes and code.startswith("/*", i):
            j = code.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append((i, j, True))
            i = j
            continue
        if c in "\"'" or (backtick and c == "`"):
            q = code[i : i + 3] if triple and code[i : i + 3] in ('"""', "'''") else c
            multiline = len(q) == 3 or q == "`"
            j = i + len(q)
            while j < n and not code.startswith(q, j) and (multiline or code[j] != "\n"):
                j += 2 if code[j] == "\\" else 1
            if code.startswith(q, j) or (multiline and j >= n):
                j = min(j + len(q), n)
                out.append((i, j, False))
                i = j
                continue
        i += 1
    return out


def _code_regions(text: str, task_type: str) -> list[tuple[int, int, str | None, bool]]:
    """``(start, end, language, inline)`` of the code in ``text``: the whole text when it is code (``is_code``),
    else its fenced blocks (their contents), indented blocks and inline `code` spans."""
    if "```" not in text and "~~~" not in text:
        if is_code(text, task_type):
            return [(0, len(text), codecheck.looks_like_code(text, task_type), False)]
        if "\n" not in text.strip() and "`" not in text:
            return []  # one line, no code: nothing to look for (looks_like_code would call it code)
    blocks = [b for b in codecheck.code_blocks(text, task_type) if b.fenced]
    regions: list[tuple[int, int, str | None, bool]] = []
    for s, e in codecheck.code_spans(text, task_type):
        if not blocks and (s, e) == (0, len(text)):
            continue  # one line of prose that parses in some grammar ("Summarise {context}"): not code here
        block = next((b for b in blocks if s <= b.start <= e), None)
        if block is not None:
            regions.append((block.start, block.end, block.language, False))
        else:
            regions.append((s, e, None, text[s] == "`"))
    return regions


def _line_at(text: str, pos: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return start, len(text) if end < 0 else end


def _reads_as_prose(line: str, language: str | None) -> bool:
    """A line of a code region that is a sentence, not a statement: CJK words or punctuation, a label and the
    slot (``Context: {context}``), or words with no code syntax at all: two that Python cannot parse ("Solve
    {instruction}"), three in other languages. ``line`` has its strings blanked and a slot replaced by a name."""
    if _PROSE_MARKS.search(line) or _LABEL_LINE.match(line):
        return True
    words = len(_LATIN_WORD.findall(line))
    if _CODE_MARKS.search(line) or words < 2:
        return False
    if language == "python":
        src = line.strip()
        try:
            ast.parse(src + " pass" if src.endswith(":") else src)
        except SyntaxError:
            return True
        return False
    return words >= _SENTENCE_WORDS


def _blanked_line(
    text: str, s: int, e: int, region: tuple[int, int, str | None, bool], literals: list[tuple[int, int, bool]]
) -> tuple[str, bool]:
    """The line of ``text[s:e]`` within its code region, each string and comment blanked to ``""`` and the match
    (when outside them) replaced by a name; and whether nothing else is on the line."""
    ls, le = _line_at(text, s)
    ls, le = max(ls, region[0]), min(le, region[1])
    parts, pos = [], ls
    for a, b, _comment in literals:
        if b > ls and a < le:
            parts.append(text[pos : max(a, pos)] + '""')
            pos = max(pos, min(b, le))
    parts.append(text[pos:le])
    line = "".join(parts)
    token = text[s:e]
    if token in line:
        line = line.replace(token, " x ", 1)
        return line, not line.replace(" x ", "", 1).strip()
    return line, False


def _leak_in_code(
    text: str, s: int, e: int, kind: str, region: tuple[int, int, str | None, bool], literals: list
) -> bool:
    """Is the match ``text[s:e]`` of kind ``kind`` inside a code region a leak? In a string or comment it is
    code's own text (a prompt template, a tokenizer's table of specials), unless its line outside them reads as
    prose (``參考資料："{instruction}"``); a role header written as a comment (``### Response:`` over the code)
    is the template's. Outside them: a special token or a closing ``[/INST]`` is never syntax; ``[PAD]`` is a
    list or an index, ``<s>`` after a name a type argument, a tag amid markup an element; a slot or a
    ``<query>`` (a shell example's metavariable) is syntax on a statement line, a leak on a line that reads as
    prose (``Answer using {context}:``) or as the bare slot at the code's edge; a role word is syntax only
    before a type annotation or as a key (``USER: str = "user"``, ``USER: "user",``), not before code
    (``ASSISTANT: @classmethod``)."""
    language = region[2]
    inside = next((comment for a, b, comment in literals if a <= s < b), None)
    line, bare = _blanked_line(text, s, e, region, literals)
    if inside is not None:
        return (inside and kind == "role") or _reads_as_prose(line, language)
    token = text[s:e]
    if kind == "bracket":
        return "/" in token
    if kind == "token":
        return True
    m = _LEAK_TAG.match(token) if kind == "tag" else None
    if m is not None:
        left = text[s - 1] if s > region[0] else " "
        generic = not m.group(1) and left.isascii() and (left.isalnum() or left in "_:.")
        if generic or _markup(text, s, e):
            return False  # a type argument (vector<s>), or an element of the HTML or XML the code writes
        if m.group(2).strip() == "s":
            return True
    if bare:
        ls, le = _line_at(text, s)
        return kind == "role" or _edge_slot(text, ls, le, region[0], region[1])
    if kind == "role":  # code has a role word before a colon only as an annotation (USER: str) or a key
        rest = line.split(" x ", 1)[-1].strip()
        return not (_ANNOTATION.match(rest) or rest.endswith((",", ";")))
    return _reads_as_prose(line, language)


def _edge_slot(text: str, ls: int, le: int, lo: int, hi: int) -> bool:
    """A line that is nothing but a slot: a leak at the first or last line of the code, or away from markup (a
    JSX child ``{text}`` sits between ``<p>`` lines)."""
    before = text[lo:ls].strip().split("\n")[-1].strip() if text[lo:ls].strip() else ""
    after = text[le:hi].strip().split("\n")[0].strip() if text[le:hi].strip() else ""
    if not before or not after:
        return True
    return not (_MARKUP_LINE.search(before) or _MARKUP_LINE.search(after))


def _markup(text: str, s: int, e: int) -> bool:
    """The tag ``text[s:e]`` is an HTML or XML element: ``<s>…</s>`` (or ``<answer>…</answer>``) opened and closed
    on one line without wrapping the whole text (a model's BOS/EOS wrap the whole answer, or stand alone), or a
    tag in a text with other markup (``<input>`` in a form)."""
    if _tag_partner(text, s, e):
        return True
    m = _LEAK_TAG.match(text[s:e])
    name = m.group(2).strip() if m else ""
    others = (o.group(o.lastindex or 0) for o in _OTHER_MARKUP.finditer(text))
    return any(o not in (name, "s") and not _TOKEN_TAG_NAME.search(o) for o in others)


def _tag_partner(text: str, s: int, e: int) -> bool:
    """The tag's other half on its line, the pair leaving some text outside it."""
    m = _LEAK_TAG.match(text[s:e])
    if m is None:
        return False
    name = m.group(2).strip()
    ls, le = _line_at(text, s)
    if m.group(1):
        j = text.rfind(f"<{name}>", ls, s)
        a, b = j, e
    else:
        j = text.find(f"</{name}>", e, le)
        a, b = s, j + len(name) + 3
    if j < 0:
        return False
    return bool(text[:a].strip() or text[b:].strip())


def _notation(text: str, s: int, e: int) -> bool:
    """A slot, bracket or tag that is part of some notation rather than a template's hole: glued to a name or a
    path on its left (LaTeX ``\\text{input}``, ``Optional[LEGACY_PATH]``, ``vector<s>``, a REST route's
    ``/{response_id}``); for an angle tag, also glued on both sides (the metavariables of
    ``<scheme>://<netloc>/<path>?<query>#<fragment>``) or on a command line (``sort -o <output> <input>``).
    A closing ``[/INST]`` or ``</s>`` is never notation."""
    if text[s + 1] == "/":
        return False
    left = text[s - 1] if s > 0 else " "
    if left.isascii() and (left.isalnum() or left in _NOTATION_LEFT):
        return True
    if text[s] != "<" or text[s:e] == "<s>":  # a BOS glued into text is still a BOS
        return False
    right = text[e] if e < len(text) else " "
    ls, le = _line_at(text, s)
    glued = all(c.isascii() and not c.isspace() for c in (left, right))
    near = text[max(ls, s - _COMMAND_REACH) : min(le, e + _COMMAND_REACH)]
    return glued or _COMMAND_LINE.search(near) is not None or _PROMPT_LINE.match(text[ls:le]) is not None


def _mentioned(text: str, s: int, e: int) -> bool:
    return s > 0 and e < len(text) and text[s - 1] in _MENTION_OPEN and text[e] in _MENTION_CLOSE


# A token named in a sentence has a word and a space (or a Chinese character) on its left and goes on with a space
# and a word, or ends a clause with punctuation: "BERT adds [CLS] and [SEP].", "加上 [CLS]，並在". A leaked one starts
# or ends a line, or sits glued after the sentence it follows ("capital.</s>", "capital. <|im_end|>").
_NAMING_RIGHT = frozenset(",.;:!?，。、；：！？)）」』”’")
_NAMING_STOPS = frozenset(".!?。！？:：")


def _named_in_sentence(text: str, s: int, e: int) -> bool:
    """A special token written into a sentence that talks about it, not one a template left around the answer."""
    left = text[s - 1] if s > 0 else "\n"
    if left == " ":
        before = text[s - 2] if s > 1 else "\n"
        if not (before.isalnum() or before in ",，、") or before in _NAMING_STOPS:
            return False
    elif not _HAN_RX.match(left):
        return False
    right = text[e] if e < len(text) else "\n"
    if right == " ":
        after = text[e + 1] if e + 1 < len(text) else "\n"
        return after.isalnum() or after in "[<`\"'“「"
    if right in _NAMING_RIGHT:
        return True
    return _HAN_RX.match(right) is not None


def _leak_kind(token: str) -> str:
    if _LEAK_ROLE.search(token):
        return "role"
    if _LEAK_SLOT.search(token):
        return "slot"
    if token.startswith("["):
        return "bracket"
    m = _LEAK_TAG.match(token)
    if m and not _TOKEN_TAG_NAME.search(m.group(2).strip()):
        return "tag"
    return "token"


@lru_cache(maxsize=64)
def _leak_rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def is_code(text: str, task_type: str) -> bool:
    """The whole text is source code (``codecheck.looks_like_code``), where braces and words such as
    ``instruction:`` are syntax: an f-string's ``{text}`` is no template placeholder, a parameter named
    ``instruction`` no second task. A single line counts only in a code task: short prose such as
    "Summarise {context}" parses in some grammar (Kotlin reads it as a call with a lambda)."""
    if "\n" not in text.strip() and not codecheck.CODE_TASK_TYPES.search(task_type):
        return False
    return codecheck.looks_like_code(text, task_type) is not None


def leak_outside_code(text: str, task_type: str, pattern: str) -> bool:
    """Some match of ``pattern`` (the template-leak family) in ``text`` is a leak where it stands.

    In prose every match is, except a token quoted or in inline `code` (the text names it), an angle tag closed
    on its line inside the text or amid other markup (HTML ``<s>``, an XML ``<answer>``), and a slot glued to
    the notation around it (``_notation``). In code (the whole text, a fenced or indented block) code's own
    text is exempt, line by line: strings and comments, slots on lines that are statements; a slot on a line
    that reads as prose, or a special token outside the strings, is still a leak (``_leak_in_code``)."""
    if not pattern:
        return False
    matches = list(_leak_rx(pattern).finditer(text))
    if not matches:
        return False
    regions: list[tuple[int, int, str | None, bool]] | None = None
    lexed: dict[int, list] = {}
    for m in matches:
        token = m.group(0).strip()
        if not token:
            continue
        s = m.start() + m.group(0).index(token)
        e = s + len(token)
        kind = _leak_kind(token)
        if regions is None:
            regions = _code_regions(text, task_type)
        region = next((r for r in regions if r[0] <= s < r[1]), None)
        if region is None:
            if kind in ("token", "bracket", "tag") and (_mentioned(text, s, e) or _named_in_sentence(text, s, e)):
                continue
            if kind == "tag" and _markup(text, s, e):
                continue
            if kind != "token" and kind != "role" and _notation(text, s, e):
                continue
            return True
        if region[3]:
            continue  # inline `code`: the text names it
        if region[0] not in lexed:
            lo, hi, language, _ = region
            lexed[region[0]] = [(a + lo, b + lo, c) for a, b, c in _literals(text[lo:hi], language)]
        if _leak_in_code(text, s, e, kind, region, lexed[region[0]]):
            return True
    return False
