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

import re
import unicodedata
from functools import lru_cache

from validate import codecheck
from validate.hanzi import COMMON_HAN_CLASS, RARE_HAN, SIMP_ONLY_CLASS, TOP_HAN_CLASS, TRAD_ONLY_CLASS

HAN = "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
_HAN_RX = re.compile(HAN)
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")


def _alt(*words: str) -> str:
    return "(?:" + "|".join(words) + ")"


def weighted_length(text: str) -> int:
    """Characters, each Han character counted 3 (as the gate's length bounds count them; no normalisation)."""
    return len(text) + 2 * len(_HAN_RX.findall(text))


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
    r"只寫|只写|標題|标题|標語|标语|關鍵字|关键词|關鍵詞|分類|分类|情感|擷取|提取|抽取|答案"
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
_LIST_ITEM = re.compile(
    r"^[ \t]*(?:[-*+•·]|[0-9]+[.)、．]|（[0-9]+）|\([0-9]+\)|[一二三四五六七八九十]+、|[a-zA-Z][.)])[ \t]+\S"
)
_LIST_MARKER_ONLY = re.compile(
    r"[ \t]*(?:[-*+•·]|[0-9]+[.)、．]|（[0-9]*）?|\([0-9]*\)?|[一二三四五六七八九十]+、)[ \t]*"
)
_HEADING = re.compile(r"^#{1,6}[ \t]")
# A last word that cannot end a sentence: articles, prepositions, conjunctions, possessives, copulas.
_EN_DANGLING = frozenset(
    "a an the and or but nor of to for with from by into onto than because although though if whether whose whom "
    "via per toward towards between among versus including my your our their its is are was were as very".split()
)
_EN_DANGLING_PAIRS = frozenset({("such", "as"), ("so", "that"), ("well", "as")})
_LAST_WORDS = re.compile(r"([A-Za-z’']+)\W*?\s+([A-Za-z’']+)$|([A-Za-z’']+)$")
# The Chinese counterparts: conjunctions and prepositions that need a following clause or object.
_ZH_DANGLING = re.compile(
    "(?:並且|并且|而且|但是|因為|因为|所以|如果|雖然|虽然|以及|或者|對於|对于|關於|关于|為了|为了|由於|由于|例如|比如|"
    "包括|像是|以便|以免|甚至|不僅|不仅|不但|然而|而是|還有|还有|其中|首先|其次|此外|另外|尤其是|特別是|特别是|也就是|"
    "導致|导致|透過|透过|通過|通过|根據|根据|藉由|即使|儘管|尽管|只要|只有|除了|直到|與其|与其|無論|无论|不論|不论|"
    "等於|等于|或|但|於|于)$"
)
_DANGLING_PUNCT = ",，、-–—&+=\\(["
_SIGNOFF = re.compile(
    r"(?i)^(?:(?:best|kind|warm|warmest|many thanks|thanks|thank you|cheers|regards|sincerely|yours|respectfully|"
    r"cordially|all the best|with (?:best|kind|warm) (?:regards|wishes)|best wishes|take care|love|talk soon|see you|"
    r"with apologies|with thanks|with gratitude|gratefully|faithfully)(?:[ \t,.!:;]|$)|"
    r"敬祝|順頌|顺颂|此致|祝|謹上|谨上|敬上|謹啟|谨启|敬禮|敬礼|敬請|敬请|順祝|顺祝|順安|顺安|商祺|時祺|时祺|謝謝|谢谢|"
    r"感謝|感谢|再會|再会|再見|再见|致意|致敬|順心|顺心|期待|盼)"
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
        if m.group(3):
            return m.group(3).lower() in _EN_DANGLING
        return m.group(2).lower() in _EN_DANGLING or (m.group(1).lower(), m.group(2).lower()) in _EN_DANGLING_PAIRS
    return _ZH_DANGLING.search(line[-4:]) is not None


def _sign_off(lines: list[str]) -> bool:
    """A letter's closing: one of the last three lines is a sign-off, and what follows it is a short name."""
    tail = [t.strip() for t in lines[-3:] if t.strip()]
    for k, line in enumerate(tail):
        if _SIGNOFF.match(line) and weighted_length(line) <= 40:
            if all(weighted_length(t) <= 24 for t in tail[k + 1 :]):
                return True
    return False


def _prose_line(line: str, min_function_words: int) -> bool:
    """A line that reads as running text: Chinese with several Han characters, or English with function
    words that is not in Title Case."""
    han, latin = _letters(line)
    if han >= 4 and han * 4 >= latin:
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
_LAST_TOKEN = re.compile(r"(?:^|[^A-Za-z’'-])([A-Za-z]+)$")
_WORD = re.compile(r"[A-Za-z]+")


def _cut_word(line: str, record_text: str) -> bool:
    m = _LAST_TOKEN.search(line)
    if m is None or len(line.split()) < 3:
        return False
    token = m.group(1).lower()
    words = [w.lower() for w in _WORD.findall(record_text)]
    if words.count(token) > 1:
        return False  # a word the record uses elsewhere
    if len(token) <= 3 and token.islower() and m.group(1).islower() and token not in _SHORT_WORDS:
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


def _list_cut(lines: list[str]) -> bool:
    """The last list item is cut: the earlier items end with sentence-final marks and it does not."""
    items = [t.strip() for t in lines if _LIST_ITEM.match(t)]
    earlier = items[:-1]
    if not earlier:
        return False
    closed = sum(t[-1:] in SENTENCE_FINAL for t in earlier)
    return closed * 3 >= len(earlier) * 2 and items[-1][-1:] not in SENTENCE_FINAL


_TRANSLATION = re.compile(r"(?i)translat|翻譯|翻译|譯成|译成|譯為|译为")


def _mirrors_open_source(instruction: str, context: str, task_type: str) -> bool:
    """A translation of a source text that itself ends without a final mark (a title, a phrase)."""
    if not (_TRANSLATION.search(task_type) or _TRANSLATION.search(instruction)):
        return False
    source = (context if context.strip() else instruction).strip()
    return source[-1:] not in COMPLETE_END


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
) -> bool:
    """True when the answer looks cut off.

    An odd number of ``` fences, or code that codecheck calls cut off, is truncated; complete code is not; a
    list whose last line is a bare marker ("3.") is. Other text ending with a sentence-final mark, a colon or a
    semicolon is complete. Otherwise it is cut when brackets or quotes are left
    open, a Markdown table's last row is short, the last line is a bare list marker or a heading, the last word
    needs a continuation (an article, preposition, conjunction, comma, open bracket: from
    ``dangling_min_chars`` weighted characters on), or a list's last item lacks the final mark its siblings
    have. Past those, a last line of Chinese running text is cut from ``min_chars`` weighted characters on; a
    Latin one when a new sentence has just begun, its last word is cut in the middle, or it is running prose of
    ``min_chars_latin`` characters (0: never). A letter's sign-off, a short answer to a closed question and a
    translation of a source that ends without a final mark are complete.
    """
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
    if _sign_off(lines):
        return False
    if _unbalanced(text):
        return True
    if last.startswith("|"):
        return _table_cut(lines)
    if text[0] in "{[":
        return False  # JSON: balanced brackets
    if text[-1] in CLOSERS or text[-1] in "`*|>~'\"":
        return False  # a balanced closing bracket, quote or code span
    if len(lines) > 1 and _HEADING.match(last):
        return True
    if weighted_length(text) >= dangling_min_chars and _dangling(last):
        return True
    if _LIST_ITEM.match(last) and len(lines) > 1:
        return _list_cut(lines)
    if _enumeration(last) or _URL_END.search(last):
        return False
    han, latin = _letters(last)
    if han >= 4 and han * 4 >= latin:  # Chinese running text: long enough without a final mark is cut
        cut = weighted_length(last) >= min_chars
    else:  # Latin text: a sentence just begun, a word cut in the middle, or long running prose
        cut = _stub(last) or _cut_word(last, "\n".join((output, instruction, context)))
        cut = cut or (
            bool(min_chars_latin) and weighted_length(last) >= min_chars_latin and _prose_line(last, min_function_words)
        )
    return cut and not (
        closed_question(instruction, task_type, closed_task_types)
        or _mirrors_open_source(instruction, context, task_type)
    )


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


_CODE_BRACES = re.compile(r"\{\{?[ \t]*[A-Za-z_][A-Za-z0-9_.]*[ \t]*\}?\}")


def is_code(text: str, task_type: str) -> bool:
    """The whole text is source code (``codecheck.looks_like_code``), where braces and words such as
    ``instruction:`` are syntax: an f-string's ``{text}`` is no template placeholder, a parameter named
    ``instruction`` no second task. A single line counts only in a code task: short prose such as
    "Summarise {context}" parses in some grammar (Kotlin reads it as a call with a lambda)."""
    if "\n" not in text.strip() and not codecheck.CODE_TASK_TYPES.search(task_type):
        return False
    return codecheck.looks_like_code(text, task_type) is not None


def leak_outside_code(text: str, task_type: str, pattern: str) -> bool:
    """``pattern`` (the template-leak family) matches ``text``; in code, brace placeholders do not count,
    while chat tokens and role tags still do (they are never code a model should write)."""
    if not is_code(text, task_type):
        return True
    return re.search(pattern, _CODE_BRACES.sub("", text)) is not None
