"""Decode crawled HTML bytes to text without trusting charset declarations that the bytes contradict.

Many sites we crawl are Traditional Chinese (Big5) or Simplified Chinese (GB2312/GBK/GB18030) pages whose charset
is missing, too narrow ("big5" for text that needs the Windows superset, "gb2312" for GBK text) or plainly wrong
(a server-wide "utf-8" or "iso-8859-1" header in front of Big5 bytes). A browser follows the declaration and shows
mojibake; in a dataset that mojibake is poison. So here a declaration is only evidence:

1. A byte order mark wins: it is part of the bytes themselves, so it cannot disagree with them. Without one,
   UTF-16/32 shows in its bytes too: the ASCII markup becomes NUL bytes at every other (every fourth) offset. A
   body with that layout is decoded accordingly whatever an ASCII-compatible label says; a UTF-16/32 label is
   believed only for a body whose layout, or failing any layout evidence whose reading, agrees with it.
2. The HTTP Content-Type charset, then ``<meta charset>`` / ``<meta http-equiv=Content-Type>`` in the first ~4 KB,
   each TRUSTED ONLY IF the body decodes strictly with it, after widening legacy labels to the superset real pages
   are written in, and, for legacy encodings, only if detection does not find a clearly more plausible reading.
   UTF-8 needs no plausibility check: legacy CJK bytes are essentially never valid UTF-8.
3. Detection: valid UTF-8 first; otherwise charset_normalizer's guesses plus a fixed CJK/Western candidate list,
   ranked by a plausibility score that knows which Chinese characters are common (see ``_score``), because
   charset_normalizer alone reads short Big5 pages as Shift_JIS and short GB pages as EUC-KR.
4. Fallback: UTF-8 with errors="replace", so the caller always gets text.

Stray NUL bytes in an ASCII-compatible page are dropped before decoding and the decoded text never contains NUL.
The common case (UTF-8 declared and valid) costs one strict decode and nothing else.

Measured on the sample site's Traditional paragraphs (Big5) and a set of Simplified ones (GB18030), wrapped in
HTML without any declaration: correct from 2 CJK characters up. A WRONG declaration that happens to decode
strictly is overruled from about 4 characters; with 2-3 characters both readings are often common words
(測試 in Big5 is 代刚 in GB) and the declaration is kept. Ties favour Chinese, then cp1252, so very short
undeclared Korean/Japanese/Turkish snippets can lose to those; they are not what we crawl.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from typing import Literal

from charset_normalizer import from_bytes
from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding, read_bom, resolve_encoding

__all__ = ["decode_html", "is_probably_binary"]

How = Literal["header", "bom", "meta", "detected", "fallback"]


# --- strict decoding -------------------------------------------------------------------------------------------


def _gb18030_euro(exc: UnicodeError) -> tuple[str, int]:
    # GBK (cp936) pages use the single byte 0x80 for the euro sign, and the WHATWG gb18030 decoder accepts it, but
    # Python's gb18030 codec rejects it. Map exactly that byte and stay strict about everything else, so a GBK page
    # with a price in euros is not rejected as "not GB".
    if isinstance(exc, UnicodeDecodeError) and exc.object[exc.start] == 0x80:
        return "\u20ac", exc.start + 1
    raise exc


codecs.register_error("dataagent_gb18030_strict", _gb18030_euro)


def _strict(body: bytes, encoding: str) -> str | None:
    """``body`` decoded with ``encoding``, or None if any byte sequence is invalid in it."""
    try:
        return body.decode(encoding, "dataagent_gb18030_strict" if encoding == "gb18030" else "strict")
    except (UnicodeDecodeError, LookupError):
        return None


# --- declared labels -------------------------------------------------------------------------------------------

# What a Big5 label really means. Taiwan pages are produced on Windows, i.e. in cp950: Big5 plus the ETEN
# characters 碁銹裏墻恒粧嫺 (0xF9D6-0xF9DC), box drawing (0xF9DD-0xF9FE) and the euro sign (0xA3E1). Python's plain
# "big5" codec rejects all of those. "big5hkscs" (what w3lib maps big5 to) has the ETEN characters but not the
# euro, maps punctuation Taiwan text uses constantly to other code points (0xA145 ‧ -> •, 0xA1E3 ～ -> ∼,
# 0xA244 ￥ -> ¥) and cannot even encode "‧" or "～". cp950 decodes 臺灣/裏/碁/€/‧/～ as written, so it goes
# first; big5hkscs is the second try, for Hong Kong pages with HKSCS characters (嘅, 啲, 咗) that cp950 rejects.
_BIG5_FAMILY = ("cp950", "big5hkscs")


@lru_cache(maxsize=128)
def _widen(encoding: str | None, from_meta: bool = False) -> tuple[str, ...]:
    """Codecs to try, in order, for a label already passed through w3lib's ``resolve_encoding``.

    resolve_encoding already widens labels as browsers do: gb2312/gbk/gb_2312-80 -> gb18030 (a superset; GBK text
    declared gb2312 is the norm, e.g. 镕 is GBK-only), iso-8859-1/latin-1/ascii -> cp1252 (the curly quotes and
    dashes at 0x80-0x9F), euc-kr -> cp949, shift_jis -> cp932, big5 -> big5hkscs (replaced by _BIG5_FAMILY).
    """
    if encoding is None:
        return ()
    if encoding in ("big5", "big5hkscs", "cp950"):
        return _BIG5_FAMILY
    if from_meta and encoding.startswith(("utf-16", "utf-32")):
        # A <meta> readable as ASCII cannot be in UTF-16/32; HTML says to treat such a declaration as UTF-8.
        return ("utf-8",)
    if encoding in ("utf-16", "utf-32"):
        # Without a BOM (a BOM is handled before any label) Python's "utf-16"/"utf-32" codecs silently assume the
        # machine's byte order. Try both, explicitly; the layout check picks the one the bytes agree with.
        return (f"{encoding}-le", f"{encoding}-be")
    return (encoding,)


def _header_encoding(header_encoding: str | None) -> str | None:
    """Accept a full Content-Type value ("text/html; charset=big5") or a bare charset label ("big5")."""
    if not header_encoding:
        return None
    if any(c in header_encoding for c in "=/;"):
        return http_content_type_encoding(header_encoding)
    return resolve_encoding(header_encoding.strip().strip("\"'"))


# --- plausibility score ----------------------------------------------------------------------------------------
#
# Why a score: Big5 bytes decode "strictly" as GB18030 (it assigns nearly every double-byte sequence), GB bytes
# often decode as big5hkscs/cp949/EUC-JP, and everything decodes as cp1252. charset_normalizer's mess detector gives
# such mojibake ~0 chaos on short pages (a 12-character Big5 sentence comes back as Shift_JIS half-width katakana,
# an 8-character GB sentence as EUC-KR hangul). What separates the right reading from the wrong ones: real text is
# made of COMMON characters in a consistent script, a wrong reading spreads uniformly over the code space (rare
# hanzi, private-use code points, half-width katakana, hangul glued to hanzi, Latin letters in long non-ASCII runs
# or with impossible case patterns). The score is the mean plausibility of the non-ASCII characters (ASCII, i.e.
# the markup, reads the same under every candidate), between -3 and 1.


def _decode_table(encoding: str, leads: range, trails: range) -> frozenset[str]:
    """Every character ``encoding`` assigns to a double-byte code lead+trail within the given ranges."""
    chars = set()
    for lead in leads:
        for trail in trails:
            try:
                chars.add(bytes((lead, trail)).decode(encoding))
            except UnicodeDecodeError:
                pass
    return frozenset(chars)


# The national standards' level-1 tables are their frequently used characters by construction: GB2312 level 1
# (0xB0A1-0xD7F9, 3755 hanzi) and Big5 常用字 (0xA440-0xC67E, 5401 hanzi); level 2 holds the less common ones.
# Everything else in CJK Unified Ideographs is rare in running text, and the extension/compatibility blocks rarer.
# Built from the codecs at import time (a few ms), so no data file is needed.
_HAN_LEVEL1 = _decode_table("gb2312", range(0xB0, 0xD8), range(0xA1, 0xFF)) | _decode_table(
    "cp950", range(0xA4, 0xC7), range(0x40, 0xFF)
)
_HAN_LEVEL2 = (
    _decode_table("gb2312", range(0xD8, 0xF8), range(0xA1, 0xFF))
    | _decode_table("cp950", range(0xC9, 0xFA), range(0x40, 0xFF))
) - _HAN_LEVEL1

# Frequency matters more than membership: a GB page read as EUC-JP or Big5 yields level-1 characters too, just
# random ones. Real running text is ~90% made of the ~1200 most frequent characters (92-93% on our sample pages,
# Traditional and Simplified), a wrong decoding only ~15%. Below: the most frequent Simplified characters, in
# frequency order, then the Traditional forms of those among them that Big5 cannot encode (这->這, 发->發, ...) and
# a few forms Traditional text uses instead of a Big5-encodable Simplified one (里->裡/裏, 后->後, 台->臺, ...).
_COMMON_SIMPLIFIED = (
    "的一是不了在人有我他这个们中来上大为和国地到以说时要就出会可也你对生能而子那得于着下自之年过发后作里"
    "用道行所然家种事成方多经么去法学如都同现当没动面起看定天分还进好小部其些主样理心她本前开但因只从想实"
    "日军者意无力它与长把机十民第公此已工使情明性知全三又关点正业外将两高间由问很最重并物手应战向头文体政"
    "美相见被利什二等产或新己制身果加西斯月话合回特代内信表化老给世位次度门任常先海通教儿原东声提立及比员"
    "解水名真论处走义各入几口认条平系气题活尔更别打女变四神总何电数安少报才结反受目太量再感建务做接必场件"
    "计管期市直德资命山金指克许统区保至队形社便空决治展马科司五基眼书非则听白却界达光放强即像难且权思王象"
    "完设式色路记南品住告类求据程北边死张该交规万取拉格望觉术领共确传师观清今切院让识候带导争运笑飞风步改"
    "收根干造言联持组每济车亲极林服快办议往元英士证近失转夫令准布始怎呢存未远叫台单影具罗字爱击流备兵连调"
    "深商算质团集百需价花党华城石级整府离况亚请技际约示复病息究线似官火断精满支视消越器容照须九增研写称企"
    "八功吗包片史委乎查轻易早曾除农找装广显吧阿李标谈吃图念六引历首医局突专费号尽另周较注语仅考落青随选列"
    "武红响虽推势参希古众构房半节土投某案黑维革划敌致陈律足态护七兴派孩验责营星够章音跟志底站严巴例防族供"
    "效续施留讲型料终答紧黄绝奇察母京段依批群项故按河米围江织害斗双境客纪采举杀攻父苏密低朝友诉止细愿千值"
    "仍男钱破网热助倒育属坐帝限船脸职速刻乐否刚威毛状率甚独球般普怕弹校苦创假久错承印晚兰试股拿脑预谁益阳"
    "若哪微尼继送急血惊伤素药适波夜省初喜卫源食险待述陆习置居劳财环排福纳欢雷警获模充负云停木游龙树疑层冷"
    "洲冲射略范竟句室异激汉村哈策演简卡罪判担州静退既衣您宗积余痛检差富灵协角占配征修皮挥胜降阶审沉坚善妈"
    "刘读啊超免压银买皇养伊怀执副乱抗犯追帮宣佛岁航优怪香著田铁控税左右份穿艺背阵草脚概恶块顿敢守酒岛托央"
    "户烈洋哥索胡款靠评版宝座释景顾弟登货互付伯慢欧换闻危忙核暗姐介坏讨丽良序升监临亮露永呼味野架域沙掉括"
    "舰鱼杂误湾吉减编楚肯测败屋跑梦散温困剑渐封救贵枪缺楼县尚毫移娘朋画班智亦耳恩短掌恐遗固席松秘谢鲁遇康"
    "虑幸均销钟诗藏赶剧票损忽巨炮旧端探湖录叶春乡附吸予礼港雨呀板庭妇归睛饭额含顺输摇招婚脱补谓督毒油疗旅"
    "泽材灭逐莫笔亡鲜词圣择寻厂睡博勒烟授诺伦岸奥唐卖俄炸载洛健堂旁宫喝借君禁阴园谋宋避抓荣姑孙逃牙束跳顶"
    "玉镇雪午练迫爷篇肉嘴馆遍凡础洞卷坦牛宁纸诸训私庄祖丝翻暴森塔默握戏隐熟骨访弱蒙歌店鬼软典欲萨伙遭盘爸"
    "扩盖弄雄稳忘亿刺拥徒姆杨齐赛趣曲刀床迎冰虚玩析窗醒妻透购替塞努休虎扬途侵刑绿兄迅套贸毕唯谷轮库迹尤竞"
    "街促延震弃甲伟麻川申缓潜闪售灯针哲络抵朱埃抱鼓植纯夏忍页杰筑折郑贝尊吴秀混臣雅振染盛怒舞圆搞狂措姓残"
    "秋培迷诚宽宇猛摆梅毁伸摩盟末乃悲拍丁赵逼郭"
)
_COMMON_TRADITIONAL_FORMS = (
    "這個們來為國說時會對過發經學現當沒動還進樣開從實軍無長關點業將兩間問應戰頭見產話內給門東聲員論處義認"
    "條題爾別變總電數報結務場計資許統區隊決馬書則卻達強難權設記類邊張該規覺術領傳師觀讓識帶導爭運飛風聯組"
    "濟車親辦議證轉遠單羅愛擊備連調質團華級況亞請際約線斷滿視須寫稱嗎輕農裝廣顯標談圖歷醫專費號盡較語僅隨"
    "選紅響雖勢參眾節維敵陳態護興驗責營夠嚴續講終緊黃絕項圍織雙紀舉殺蘇訴細錢熱屬臉職樂剛狀獨彈創錯蘭試腦"
    "預誰陽繼傷藥衛險陸習勞財環納歡獲負龍樹層衝漢簡擔靜積檢靈協揮階審堅媽劉讀壓銀買養執亂幫歲鐵稅藝陣腳惡"
    "塊頓島戶評寶釋顧貨歐換聞討麗監臨艦魚雜誤灣減編測敗夢溫劍漸貴槍樓縣畫遺謝魯慮銷鐘詩劇損舊錄葉鄉禮婦歸"
    "飯額順輸搖脫補謂療澤滅筆鮮詞擇尋煙諾倫奧賣載宮陰園謀榮孫頂鎮練爺館礎紙諸訓絲戲隱訪軟薩盤擴蓋穩億擁楊"
    "齊賽虛購揚綠貿畢輪庫跡競棄偉緩潛閃燈針絡純頁鄭貝吳圓殘誠寬擺毀趙裡裏後幹乾臺於麼雲範餘徵穀鬥準製復複"
    "據價黨確採兒幾萬與體機寧劃廠網繳災"
)
_HAN_COMMON = frozenset(_COMMON_SIMPLIFIED + _COMMON_TRADITIONAL_FORMS)
# Same idea for Korean, only so that GB text read as EUC-KR (charset_normalizer's favourite mistake on short GB
# pages) loses to the right reading: the most frequent Hangul syllables, then the rest of KS X 1001 (EUC-KR). The
# other 8822 UHC syllables are almost never used.
_COMMON_HANGUL = frozenset(
    "이다의는에하고을가를지한서기로사도대리자시수으나어일들게인적주정해아전부상있라그국되것장구없제소보만"
    "요과성와면회동거중방신원관학연문여내경공개우생계위무때말식화용선분실모까운치된했않더진세물마오금각조"
    "통저발당행민미할었및후명안감간려결단합니습께드러르레록류률른름린립양업역영예외월유육은음응입잘작재점"
    "접좋종좌준즉증직질집차참창책처천철청체초최추축출충취측친크큰타태터토특파판편평포표품프피필함항허현형"
    "호혹확환활황효훈흐희히년날럼테써든뿐밖네죠십겠"
)
_HANGUL_KSX1001 = _decode_table("euc_kr", range(0xB0, 0xC9), range(0xA1, 0xFF))

# Punctuation real CJK text is full of; a wrong reading turns it into something else.
_CJK_PUNCT = frozenset("，。、；：？！「」『』（）《》〈〉【】…—─·・‧～“”‘’　￥％＋－＝／")
# Punctuation real Western text in cp1252 uses next to ASCII.
_WESTERN_PUNCT = frozenset("\u00a0“”‘’–—…•€£¥©®°±·«»§¶×÷¡¿™‰†‡")

_HAN, _KANA, _HANGUL, _OTHER = "han", "kana", "hangul", "other"


@lru_cache(maxsize=8192)
def _script(ch: str) -> str:
    """Coarse script of a non-ASCII character; for letters of alphabetic scripts, the first word of its name."""
    o = ord(ch)
    if 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x3FFFF:
        return _HAN
    if 0x3040 <= o <= 0x30FF:
        return _KANA
    if 0xAC00 <= o <= 0xD7A3:
        return _HANGUL
    if unicodedata.category(ch).startswith("L"):
        return unicodedata.name(ch, _OTHER).split(" ", 1)[0]
    return _OTHER


@lru_cache(maxsize=65536)
def _char_score(ch: str, run_scripts: frozenset[str], short_run: bool, glued_to_ascii: bool, mixed_case: bool) -> float:
    """Plausibility of one non-ASCII character given its run (maximal non-ASCII stretch) and the word around it."""
    o = ord(ch)
    cat = unicodedata.category(ch)
    if ch == "\ufffd" or 0xE000 <= o <= 0xF8FF or cat in ("Cc", "Cs", "Co", "Cn"):
        return -3.0  # replacement character, private use area, C1 controls, unassigned: never real text
    if 0xFF61 <= o <= 0xFF9F:
        return -2.0  # half-width katakana: the signature of Big5/GB read as Shift_JIS
    script = _script(ch)
    if script == _HAN:
        if _HANGUL in run_scripts:
            return -1.0  # modern Korean does not glue hanja to hangul; GB read as EUC-KR does
        if ch in _HAN_COMMON:
            return 1.0
        if ch in _HAN_LEVEL1:
            return 0.3
        if ch in _HAN_LEVEL2:
            return -0.2
        return -0.6 if 0x4E00 <= o <= 0x9FFF else -1.5  # rare URO; extension A+ / compatibility ideographs
    if script == _HANGUL:
        if _HAN in run_scripts:
            return -1.0
        if ch in _COMMON_HANGUL:
            return 1.0
        return 0.3 if ch in _HANGUL_KSX1001 else -1.0
    if script == _KANA:
        # Legitimate in Japanese, but Big5 read as GB18030 sprinkles single kana between hanzi: a low weight lets
        # the hanzi decide.
        return 0.3
    if ch in _CJK_PUNCT:
        return 1.0
    if ch in _WESTERN_PUNCT:
        return 1.0 if short_run else -0.5
    if cat.startswith("L"):
        # A letter of an alphabetic script. Real words keep to one script and one case pattern (no "bŧO"), and
        # Cyrillic/Greek/... words are never glued to ASCII letters. Latin words carry at most a couple of accented
        # letters in a row, while CJK bytes read as cp1252 give long runs of them ("Â²©ö³W¹º"). IPA and modifier
        # letters (U+0250-U+02FF) only turn up in such mojibake.
        if len(run_scripts) > 1 or mixed_case:
            return -1.0
        if script == "LATIN":
            return 1.0 if short_run and not 0x250 <= o <= 0x2FF else -1.0
        return -1.0 if glued_to_ascii else 1.0
    if cat.startswith("M"):
        return 0.0  # combining marks: neutral
    return -0.5  # other symbols: box drawing, math, leftovers of CJK symbol rows


_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
_SCORE_SAMPLE = 3000  # non-ASCII characters: plenty to decide, and keeps big pages cheap


def _score(text: str) -> float:
    """Mean plausibility of the non-ASCII characters of ``text`` (1.0 for pure ASCII)."""
    total = 0.0
    count = 0
    for match in _NON_ASCII_RUN.finditer(text):
        start, end = match.span()
        end = min(end, start + _SCORE_SAMPLE - count)  # a page of solid CJK is one run: cap it
        run = text[start:end]
        scripts = frozenset(_script(c) for c in run) - {_OTHER}
        # The word around the run: the run plus the ASCII letters glued to either side of it.
        word_start, word_end = start, end
        while word_start > 0 and text[word_start - 1].isascii() and text[word_start - 1].isalpha():
            word_start -= 1
        while word_end < len(text) and text[word_end].isascii() and text[word_end].isalpha():
            word_end += 1
        word = text[word_start:word_end]
        glued = word_start < start or word_end > end
        mixed_case = any(a.islower() and b.isupper() for a, b in zip(word, word[1:], strict=False))
        short_run = match.end() - start <= 2
        for ch in run:
            total += _char_score(ch, scripts, short_run, glued, mixed_case)
        count += len(run)
        if count >= _SCORE_SAMPLE:
            break
    return total / count if count else 1.0


# --- UTF-16 / UTF-32 without a BOM ------------------------------------------------------------------------------
#
# Any even-length byte string "decodes" as UTF-16, so neither a strict decode nor a label proves anything. What does:
# HTML is full of ASCII markup, and in UTF-16LE every ASCII character is a code unit whose high byte is zero
# ("<\0h\0t\0m\0l\0"), at even offsets only; in UTF-16BE the zero comes first, in UTF-32 three zeros per unit. An
# ASCII-compatible page has no NUL bytes at all, or a few stray ones, never in that rhythm.

_WIDE_CODECS = ("utf-32-le", "utf-32-be", "utf-16-le", "utf-16-be")  # UTF-32 first: its layout also fits UTF-16
_WIDE_SAMPLE = 4096  # bytes: the markup at the top of a page is plenty
# Share of code units that must be ASCII in a given layout. Markup alone usually gives 30-90% even on dense CJK
# pages; stray NULs in an ASCII-compatible page give well under 1%.
_WIDE_MIN_ASCII_SHARE = 0.1
_PRINTABLE_ASCII = frozenset(b"\t\n\r" + bytes(range(0x20, 0x7F)))
# Control characters that never occur in text; NUL counts (a UTF-16 reading that yields U+0000 is a wrong one).
_TEXT_CONTROLS = frozenset(chr(c) for c in (*range(0x09), *range(0x0E, 0x20), 0x7F, 0xFFFD))
_MAX_CONTROL_SHARE = 0.02
# A UTF-16/32 reading must also be plausible text (see _score; symbols such as emoji are left out, since an
# English page in UTF-16 may have nothing else outside ASCII). Real text in any script scores above 0.5 (Japanese,
# Hindi ~0.55), while a wrong reading of ASCII, UTF-8 or legacy CJK bytes lands on rare hanzi, symbols and private
# use (below -0.4). With the NUL layout as evidence the bar is low: it only has to rule out NULs that happen to
# fall at regular offsets in an ASCII-compatible body. Without it (hardly any ASCII in the body) it is higher.
_MIN_WIDE_SCORE_WITH_LAYOUT = 0.0
_MIN_WIDE_SCORE = 0.5


def _is_wide(encoding: str) -> bool:
    return encoding.startswith(("utf-16", "utf-32"))


def _unit(codec: str) -> int:
    return 4 if codec.startswith("utf-32") else 2


def _ascii_share(sample: bytes, codec: str) -> float:
    """Share of ``sample``'s code units that are a printable ASCII character in the UTF-16/32 ``codec``."""
    width = _unit(codec)
    count = len(sample) // width
    if not count:
        return 0.0
    zeros = bytes(width - 1)
    little = codec.endswith("le")
    hits = 0
    for i in range(0, count * width, width):
        unit = sample[i : i + width]
        char, high = (unit[0], unit[1:]) if little else (unit[-1], unit[:-1])
        hits += high == zeros and char in _PRINTABLE_ASCII
    return hits / count


def _decode_wide(body: bytes, codec: str) -> str:
    """``body`` in a UTF-16/32 ``codec`` already judged right: a truncated last unit is dropped, and a stray bad
    unit (lone surrogate) becomes U+FFFD rather than sending the page to a byte-oriented decoder."""
    body = body[: len(body) - len(body) % _unit(codec)]
    text = _strict(body, codec)
    return text if text is not None else body.decode(codec, "replace")


def _reads_as_text(text: str, min_score: float) -> bool:
    if not text or sum(ch in _TEXT_CONTROLS for ch in text) > _MAX_CONTROL_SHARE * len(text):
        return False
    letters = "".join(" " if unicodedata.category(ch)[0] == "S" else ch for ch in text)
    return _score(letters) >= min_score


def _sniff_wide(body: bytes) -> str | None:
    """The UTF-16/32 codec whose ASCII layout the body's NUL bytes follow, or None (no such rhythm)."""
    sample = body[:_WIDE_SAMPLE]
    if b"\x00" not in sample:
        return None
    shares = {codec: _ascii_share(sample, codec) for codec in _WIDE_CODECS}
    for codec in _WIDE_CODECS:
        other = max(v for c, v in shares.items() if c != codec and _unit(c) == _unit(codec))
        if shares[codec] >= _WIDE_MIN_ASCII_SHARE and shares[codec] > 4 * other:
            return codec if _reads_as_text(_decode_wide(sample, codec), _MIN_WIDE_SCORE_WITH_LAYOUT) else None
    return None


def _plausible_wide(body: bytes, codec: str) -> bool:
    """Whether ``body`` without any ASCII layout evidence still reads as text in the declared UTF-16/32 ``codec``."""
    return _reads_as_text(_decode_wide(body[:_WIDE_SAMPLE], codec), _MIN_WIDE_SCORE)


def _declared_wide(body: bytes, codec: str, sniffed: str | None) -> str | None:
    """``body`` decoded with a DECLARED UTF-16/32 ``codec``, or None where the bytes contradict the declaration."""
    if sniffed is not None:
        return _decode_wide(body, codec) if sniffed == codec else None
    return _decode_wide(body, codec) if _plausible_wide(body, codec) else None


# --- detection -------------------------------------------------------------------------------------------------

# Candidates tried besides charset_normalizer's own guesses: its confusions are among exactly these. Ties go to
# the earlier candidate: Chinese first (a couple of characters that read as common text either way are far more
# often Chinese than Japanese or Korean on the sites we crawl), then cp1252 (what browsers assume for Western
# pages: "Café crème" reads the same in cp1250 except for è/č), then charset_normalizer's ranking.
_PREFERRED = ("cp950", "gb18030", "cp1252")
_CANDIDATES = ("cp932", "cp949")
# Multi-byte codec families (Python codec names); everything else is single-byte.
_MULTI_BYTE = ("utf", "big5", "cp950", "gb", "hz", "cp936", "cp932", "shift_jis", "euc", "cp949", "johab", "iso2022")
# A few CJK characters read in a single-byte encoding can look like a couple of accented words ("在臺灣，通訊" read
# as iso8859-16 is "Šb»OÆWĄAłq°T", letter for letter plausible). A genuine Western page does not feel this
# handicap: its bytes either fail to decode as CJK or read as rare hanzi and score far lower.
_SINGLE_BYTE_HANDICAP = 0.2
# charset_normalizer only orders the candidates here, so it need not read a whole large page.
_NORMALIZER_SAMPLE = 65536


def _rank(text: str, codec: str) -> float:
    return _score(text) - (0.0 if codec.startswith(_MULTI_BYTE) else _SINGLE_BYTE_HANDICAP)


def _detect(body: bytes, use_normalizer: bool = True) -> tuple[str, str, float] | None:
    """(text, codec, rank) of the most plausible strict decoding of ``body``, or None if nothing decodes."""
    text = _strict(body, "utf-8")
    if text is not None:
        return text, "utf-8", 1.0  # valid UTF-8 with any non-ASCII byte is UTF-8; pure ASCII reads the same
    order: list[str] = list(_PREFERRED)
    if use_normalizer:
        for guess in from_bytes(body[:_NORMALIZER_SAMPLE]):
            codec = resolve_encoding(guess.encoding)
            # UTF-16/32 is settled by the layout check before detection runs; here any even-length garbage would
            # "decode" into random CJK.
            if codec is not None and not _is_wide(codec):
                order.append(_widen(codec)[0])
    order.extend(_CANDIDATES)
    best: tuple[str, str, float] | None = None
    for codec in dict.fromkeys(order):
        for candidate in _widen(codec):
            decoded = _strict(body, candidate)
            if decoded is None:
                continue
            rank = _rank(decoded, candidate)
            if best is None or rank > best[2]:  # strictly greater: ties go to the earlier candidate
                best = (decoded, candidate, rank)
            break  # the first member of a family that decodes is that family's reading
    return best


# A declared legacy encoding is overruled only if detection ranks another reading higher by this much:
# declarations are usually right, and on a few characters two readings can be close. Single-byte declarations
# get a smaller margin, because "iso-8859-1" in front of CJK bytes is a server default, not a statement.
_OVERRULE_MARGIN = 0.3
_OVERRULE_MARGIN_SINGLE_BYTE = 0.1


def _trusted(body: bytes, text: str, encoding: str, alternative: Callable[[], tuple[str, str, float] | None]) -> bool:
    """Whether a declared ``encoding`` that decoded ``body`` strictly into ``text`` should be believed."""
    if encoding == "utf-8" or body.isascii():
        return True
    if _strict(body, "utf-8") is not None:
        # A legacy label on a body that is valid UTF-8 with non-ASCII bytes: the label is a stale server default
        # (Apache's AddDefaultCharset ISO-8859-1) and believing it would produce "Ã©"-style mojibake.
        return False
    multi_byte = encoding.startswith(_MULTI_BYTE)
    declared = _rank(text, encoding) + (_OVERRULE_MARGIN if multi_byte else _OVERRULE_MARGIN_SINGLE_BYTE)
    if declared >= 1.0:
        return True  # no reading can rank higher than 1.0: skip detection (the usual case for a correct label)
    best = alternative()
    return best is None or best[1] == encoding or best[2] <= declared


# --- public API ------------------------------------------------------------------------------------------------


def decode_html(body: bytes, header_encoding: str | None = None) -> tuple[str, str, How]:
    """Decode an HTML (or other text) response body.

    ``header_encoding`` is the HTTP Content-Type value ("text/html; charset=big5") or just its charset label.
    Returns ``(text, encoding_used, how)``: ``encoding_used`` is a Python codec name and ``how`` the evidence that
    decided: "bom", "header", "meta", "detected", or "fallback" (UTF-8 with U+FFFD, when nothing decodes).
    The text never contains NUL: stray NUL bytes (a CMS padding a field, a botched write) carry no text, and
    downstream tools (lxml, JSON Lines readers, tokenizers) choke on them.
    """
    text, encoding, how = _decode(body, header_encoding)
    return text.replace("\x00", "") if "\x00" in text else text, encoding, how


def _decode(body: bytes, header_encoding: str | None) -> tuple[str, str, How]:
    bom_encoding, bom = read_bom(body)
    if bom_encoding is not None and bom is not None:
        payload = body[len(bom) :]
        text = _strict(payload, bom_encoding)
        if text is None:  # still the BOM's encoding: a few bad bytes don't make the BOM lie
            text = payload.decode(bom_encoding, "replace")
        return text, bom_encoding, "bom"

    wide = _sniff_wide(body)
    # Stray NULs in an ASCII-compatible page are dropped before decoding: a NUL between a Big5/GB lead and trail
    # byte would otherwise fail every strict decode, and they only add noise to detection.
    narrow = body.replace(b"\x00", b"") if wide is None and b"\x00" in body else body
    memo: list[tuple[str, str, float] | None] = []

    def alternative() -> tuple[str, str, float] | None:
        # Detection over the fixed candidates only, shared by the header and meta checks.
        if not memo:
            memo.append(_detect(narrow, use_normalizer=False))
        return memo[0]

    for encoding in _widen(_header_encoding(header_encoding)):
        if _is_wide(encoding):
            text = _declared_wide(body, encoding, wide)
        elif wide is None:
            text = _strict(narrow, encoding)
            if text is not None and not _trusted(narrow, text, encoding, alternative):
                text = None
        else:
            text = None  # an ASCII-compatible label in front of UTF-16/32 bytes is a server default
        if text is not None:
            return text, encoding, "header"

    if wide is not None:
        # The <meta> prescan reads bytes as ASCII, so in a UTF-16/32 body it can only be checked after decoding.
        text = _decode_wide(body, wide)
        meta = html_body_declared_encoding(text[:_WIDE_SAMPLE])
        return text, wide, "meta" if meta is not None and _is_wide(meta) else "detected"

    label = html_body_declared_encoding(narrow)
    if label is not None and _is_wide(label) and narrow is not body:
        # <meta charset=utf-16> found only once the NULs are gone: a UTF-16/32 body with too little ASCII for the
        # layout check. Believe it if a byte order reads as plausible text; otherwise HTML's rule (UTF-8) applies.
        for encoding in _widen(label):
            text = _declared_wide(body, encoding, None)
            if text is not None:
                return text, encoding, "meta"
    for encoding in _widen(label, from_meta=True):
        text = _strict(narrow, encoding)
        if text is not None and _trusted(narrow, text, encoding, alternative):
            return text, encoding, "meta"

    detected = _detect(narrow)
    if detected is not None:
        return detected[0], detected[1], "detected"
    return narrow.decode("utf-8", "replace"), "utf-8", "fallback"


# Content types that are never text, even when a server serves them from an HTML-looking URL.
_BINARY_PREFIXES = ("image/", "audio/", "video/", "font/", "application/vnd.openxmlformats-officedocument.")
_BINARY_TYPES = frozenset(
    {
        "application/pdf",
        "application/zip",
        "application/gzip",
        "application/x-gzip",
        "application/x-tar",
        "application/x-bzip2",
        "application/x-xz",
        "application/x-7z-compressed",
        "application/x-rar-compressed",
        "application/vnd.rar",
        "application/octet-stream",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/x-msdownload",
        "application/x-shockwave-flash",
        "application/wasm",
    }
)


# File signatures of formats that are never text, whatever the Content-Type claims (a misconfigured server sends
# images and archives as text/html). Only signatures with non-ASCII or control bytes, or long enough that no text
# page starts with them.
_MAGIC = (
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"\xff\xd8\xff",  # JPEG
    b"II*\x00",  # TIFF
    b"MM\x00*",
    b"%PDF-",
    b"PK\x03\x04",  # zip, and so docx/xlsx/epub/jar/apk
    b"PK\x05\x06",  # empty zip
    b"\x1f\x8b\x08",  # gzip (a body compressed twice)
    b"BZh",  # bzip2, confirmed below
    b"\xfd7zXZ\x00",
    b"7z\xbc\xaf\x27\x1c",
    b"Rar!\x1a\x07",
    b"\x28\xb5\x2f\xfd",  # zstd
    b"\x7fELF",
    b"\xca\xfe\xba\xbe",  # Java class / Mach-O fat binary
    b"\xcf\xfa\xed\xfe",  # Mach-O 64-bit
    b"\xce\xfa\xed\xfe",
    b"\x00asm",  # WebAssembly
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",  # OLE: .doc/.xls/.ppt/.msi
    b"SQLite format 3\x00",
    b"OggS\x00",
    b"fLaC",
    b"wOFF",
    b"wOF2",
    b"\x1aE\xdf\xa3",  # Matroska / WebM
)
_BINARY_SAMPLE = 8192
# Bytes that never occur in text in any encoding we decode: C0 controls other than \t \n \v \f \r, ESC (ISO-2022)
# and SO/SI (ISO-2022-KR), plus NUL.
_BINARY_BYTES = bytes((*range(0x00, 0x09), *range(0x10, 0x1B), *range(0x1C, 0x20)))
# How many such bytes a text page may carry: a few stray NULs are a CMS bug, not a format. Compressed or encrypted
# data has ~10% of them, executables and other structured binaries far more.
_BINARY_BYTES_ALLOWED = 8
_BINARY_BYTES_MAX_SHARE = 0.05


def _has_magic(head: bytes) -> bool:
    if head.startswith(_MAGIC):
        return not head.startswith(b"BZh") or head[4:10] == b"1AY&SY"
    # DOS/Windows executables: "MZ" alone could start a text page; the header that follows is mostly NUL bytes.
    if head.startswith(b"MZ") and head[:64].count(0) >= 8:
        return True
    return head[4:8] == b"ftyp"  # MP4 / QuickTime / HEIF / AVIF


def is_probably_binary(body: bytes, content_type: str | None) -> bool:
    """True for bodies that should not be decoded as text at all.

    Either the Content-Type names a binary format (image/*, audio/*, video/*, font/*, PDF, archives, Office
    documents, application/octet-stream), or the body starts with a binary file signature, or its first 8 KB hold
    more than a few control bytes (NUL, and C0 controls other than whitespace and ESC) that text never contains.
    UTF-16/32 text is full of NUL bytes, so a body with a UTF-16/32 BOM, or whose NULs follow the UTF-16/32 layout
    of ASCII characters, or that reads as text in a UTF-16/32 charset its Content-Type declares, is text.
    """
    if content_type:
        mime = content_type.split(";", 1)[0].strip().lower()
        if mime.startswith(_BINARY_PREFIXES) or mime in _BINARY_TYPES:
            return True
    head = body[:_BINARY_SAMPLE]
    if _has_magic(head):
        return True
    if b"\x00" not in head:
        return False  # the common case; control bytes alone (old pages carry a few) are no proof
    bom_encoding, _ = read_bom(head)
    if bom_encoding is not None and bom_encoding != "utf-8":
        return False
    if _sniff_wide(head) is not None:
        return False
    declared = _header_encoding(content_type) if content_type else None
    if any(_is_wide(codec) and _plausible_wide(head, codec) for codec in _widen(declared)):
        return False
    bad = len(head) - len(head.translate(None, _BINARY_BYTES))
    return bad > max(_BINARY_BYTES_ALLOWED, _BINARY_BYTES_MAX_SHARE * len(head))
