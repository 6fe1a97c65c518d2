"""C and C++ patterns tree-sitter misreads without a preprocessor (crawlers/code/lang_c.py), one source each."""

from __future__ import annotations

from collections import Counter

import pytest

from crawlers.code.extract import extract_repos
from crawlers.code.filters import FilterConfig
from crawlers.code.lang_c import language_for
from crawlers.code.units import extract_units


def names(source: str, language: str = "c") -> dict[str, tuple[int, bool]]:
    """qualified name -> (start line, has_error) of the functions and methods."""
    return {
        u.qualified_name: (u.start_line, u.has_error)
        for u in extract_units(source.encode(), language)
        if u.kind in ("function", "method")
    }


@pytest.mark.parametrize(
    ("source", "language", "expected"),
    [
        # export and calling-convention macros before the name
        ("ZSTDLIB_API size_t ZSTD_compress(void) { return 0; }", "c", "ZSTD_compress"),
        ("static void * CC name(int a) { return 0; }", "c", "name"),
        ("static BROTLI_INLINE void Save(int a) { return; }", "c", "Save"),
        ("API(int) foo(int a) { return a; }", "c", "foo"),
        ("XXH_PUBLIC_API XXH32_hash_t XXH32 (const void* p, size_t n)\n{ return 0; }", "c", "XXH32"),
        ("GTEST_API_ Cardinality AtLeast(int n) { return Between(n, 1); }", "cpp", "AtLeast"),
        # annotation macros after the parameter list
        ("int f(int n) LOCKS_EXCLUDED(mu) { return n; }", "c", "f"),
        ("int f(int n) LOCKS_EXCLUDED(mu) { return n; }", "cpp", "f"),
        # a function returning a function pointer is named by its own declarator
        ("void (*signal(int sig, void (*func)(int)))(int) { return 0; }", "c", "signal"),
    ],
)
def test_macro_words_around_the_name(source, language, expected):
    assert list(names(source, language)) == [expected]


def test_annotations_on_constructors_and_macros_in_a_class_body():
    source = """\
class SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex *mu) EXCLUSIVE_LOCK_FUNCTION(mu)
      : mu_(mu)  {
    mu_->Lock();
  }
  ~MutexLock() UNLOCK_FUNCTION() { mu_->Unlock(); }
  BINARY_OP(IsEq, ==)
  BINARY_OP(IsLt, <)
  template <class V>
  MutexLock& operator<<(const V& value) { return *this; }
};
"""
    assert set(names(source, "cpp")) == {"MutexLock.MutexLock", "MutexLock.~MutexLock", "MutexLock.operator<<"}


def test_statement_macros_keep_the_function_and_flag_it():
    source = "int good(void) {\n  FOREACH(x) { use(x) }\n  return 1;\n}\nint after(void) { return 2; }\n"
    got = names(source)
    assert got["good"] == (1, True) and got["after"] == (5, False)


def test_a_broken_header_is_never_named_wrongly():
    assert "broken" not in names("int broken(int x +) { return x; }\nint ok(void) { return 1; }\n")
    assert "ok" in names("int broken(int x +) { return x; }\nint ok(void) { return 1; }\n")


def test_a_macro_that_expands_to_a_function_does_not_swallow_the_next_one():
    source = """\
XXH_FORCE_INLINE XXH_TARGET_AVX512 XXH3_ACCUMULATE_TEMPLATE(avx512)

XXH_FORCE_INLINE XXH_TARGET_AVX512 void
XXH3_scrambleAcc_avx512(void* acc, const void* secret)
{ return; }
"""
    assert list(names(source)) == ["XXH3_scrambleAcc_avx512"]


def test_functions_made_by_macros_are_not_units_but_their_local_classes_are():
    source = """\
TEST(DBTest, Comparator) {
  class NewComparator : public Comparator {
   public:
    virtual const char* Name() const { return "x"; }
  };
}
static size_t FN(HashTypeLength)(void) { return 4; }
"""
    assert set(names(source, "cpp")) == {"NewComparator.Name"}


def test_if_zero_is_dead_code_and_its_else_is_not():
    source = """\
#if 0
int dead(void) { return 0; }
#else
int alive(void) { return 1; }
#endif
#if 0
int dead_too(void) { return 0; }
#elif defined(X)
int maybe(void) { return 1; }
#endif
#ifdef _WIN32
int windows(void) { return 1; }
#endif
"""
    assert set(names(source)) == {"alive", "maybe", "windows"}


def test_out_of_class_definitions_are_named_by_their_class():
    source = """\
void Ledger::post() {}
template <typename T> inline T* ns::Box<T>::get() noexcept { return 0; }
Ledger::~Ledger() {}
Ledger::operator bool() const { return true; }
Ledger::operator const char*() const { return ""; }
bool operator == (const A& a, const A& b) { return true; }
template <class F> Holder::operator Action<R(F)>() const { return {}; }
"""
    assert set(names(source, "cpp")) == {
        "Ledger.post",
        "Box.get",
        "Ledger.~Ledger",
        "Ledger.operator bool",
        "Ledger.operator const char*",
        "operator==",
        "Holder.operator Action<R(F)>",
    }


def test_doxygen_bang_comments_lose_their_marker():
    source = "/*! Adds one. */\nint inc(int x) { return x + 1; }\n"
    assert [u.docstring for u in extract_units(source.encode(), "c")] == ["Adds one."]


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("#pragma once\nnamespace fin {\nint f();\n}\n", "cpp"),
        ("template <typename T>\nT id(T x) { return x; }\n", "cpp"),
        ("class SCOPED_LOCKABLE MutexLock {\n};\n", "cpp"),
        ("struct Derived : public Base {};\n", "cpp"),
        ("#include <string>\nint f(std::string s);\n", "cpp"),
        ("/* Frees ::BrotliState (C++ words in a comment). */\nstruct ledger { int total; };\n", "c"),
        ('#ifdef __cplusplus\nextern "C" {\n#endif\nint f(void);\n', "c"),
        ("#include <stdint.h>\nstatic inline int f(int class_) { return class_; }\n", "c"),
    ],
)
def test_header_language_by_content(text, language):
    assert language_for("include/x.h", text) == language
    assert language_for("src/x.c", text) == "c" and language_for("src/x.hpp", text) == "cpp"


def test_cpp_header_units_and_error_count_in_a_repository(tmp_path):
    import subprocess

    (tmp_path / "ledger.h").write_text(
        "namespace fin {\nclass Ledger {\n public:\n  /// Posts.\n  void post(long c) { total_ += c; }\n"
        " private:\n  long total_;\n};\n}  // namespace fin\n"
    )
    (tmp_path / "util.c").write_text("int good(void) {\n  FOREACH(x) { use(x) }\n  return 1;\n}\n")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@localhost"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "x"], check=True)
    stats: Counter = Counter()
    units = extract_repos([str(tmp_path)], stats, FilterConfig.off(), 1)
    rows = {r.qualified_name: r for r in units.itertuples()}
    assert rows["Ledger.post"].language == "cpp" and rows["Ledger.post"].docstring == "Posts."
    assert rows["good"].language == "c"
    assert stats["units/with_parse_errors"] == 1


def test_conversion_operator_misread_as_a_return_type():
    # The grammar reads `Env::operator` as the return type and `napi_env()` as the declarator.
    src = "inline Env::operator napi_env() const {\n  return env_;\n}\n"
    assert names(src, "cpp") == {"Env.operator napi_env": (1, False)}


def test_namespace_opened_and_closed_only_under_a_condition():
    src = (
        "namespace Napi {\n#ifdef CUSTOM\nnamespace CUSTOM {\n#endif\n\n"
        "inline int Env::Global() const {\n  return 1;\n}\n\n"
        "int Free(int a) {\n  return a;\n}\n\n"
        "#ifdef CUSTOM\n}  // namespace CUSTOM\n#endif\n}  // namespace Napi\n"
    )
    assert names(src, "cpp") == {"Env.Global": (6, False), "Free": (10, False)}


def test_function_header_written_once_per_branch():
    src = (
        "template <typename Callable>\n#ifdef ALL\ninline int Wrap(int env, Callable c) {\n#else\n"
        "inline int Wrap(int, Callable c) {\n#endif\n  return c();\n}\n\nint after(int a) {\n  return a;\n}\n"
    )
    found = names(src, "cpp")
    assert found["after"] == (10, False)
    assert [k for k in found if k.endswith("Wrap")] and found[[k for k in found if k.endswith("Wrap")][0]][0] in (1, 3)


def test_banner_rule_line_is_not_doc_text():
    src = "/******************\n * CaptureListPool\n ******************/\n\nstatic int pool_new(void) { return 0; }\n"
    (unit,) = [u for u in extract_units(src.encode(), "c") if u.kind == "function"]
    assert unit.docstring == "CaptureListPool"


def docs(source: str, language: str = "c") -> dict[str, str]:
    return {u.symbol: u.docstring for u in extract_units(source.encode(), language) if u.kind in ("function", "method")}


def test_doc_above_macro_words_on_their_own_lines():
    # zstd and xxHash write the storage class and attribute macros above the return type; tree-sitter reads
    # them as a declaration of their own, which must not cut the function from its doc.
    source = (
        "/**\n * Wrapped difference.\n */\nMEM_STATIC\nZSTD_ALLOW_POINTER_OVERFLOW_ATTR\n"
        "ptrdiff_t diff(unsigned char const* a, unsigned char const* b)\n{\n    return a - b;\n}\n\n"
        "/*! Better code on GCC. */\nXXH_FORCE_INLINE XXH_CONSTF xxh_u64 shift(xxh_u64 v, int s)\n{ return v; }\n\n"
        "/* a plain note */\nint x;\nstatic INLINE_KEYWORD UNUSED_ATTR\nvoid after_code(void) {}\n"
    )
    got = docs(source)
    assert got["diff"] == "Wrapped difference."
    assert got["shift"] == "Better code on GCC."
    assert got["after_code"] == ""  # code, not a comment, is right above the macro words


def test_adjacent_doc_comments_merge_as_clang_merges_them():
    source = (
        "//! Construct from a stream\n/*! @param s The stream */\nArchive(std::ostream & s) {}\n\n"
        "/*! @ingroup XXH3 */\n\n/*! @brief Allocate. */\nvoid* create(void) { return 0; }\n"
    )
    got = docs(source, "cpp")
    assert got["Archive"] == "Construct from a stream\n@param s The stream"
    assert got["create"] == "@brief Allocate."  # a blank line between: the nearest block alone


def test_conditional_that_holds_only_part_of_a_construct():
    # node-addon-api: a template header under #ifdef above the method it templates, and an `if (...) {` in one
    # #ifndef whose `}` is in the next. Read as if the condition held, every function of the header is found.
    src = """\
namespace Napi {
template <typename T, typename Finalizer>
struct FinalizeData {
#ifdef NODE_API_EXPERIMENTAL_HAS_POST_FINALIZER
  template <typename F = Finalizer,
            typename = std::enable_if_t<std::is_invocable_v<F, T*>>>
#endif
  static inline void Wrapper(napi_env env, void* data) {
    WrapVoidCallback([&] { delete data; });
  }
};

template <typename T>
inline Buffer<T> Buffer<T>::NewOrCopy(napi_env env, T* data, size_t length) {
#ifndef NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED
  napi_value value;
  napi_status status = napi_create_external_buffer(env, length, data, &value);
  if (status == details::napi_no_external_buffers_allowed) {
#endif  // NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED
    return Buffer<T>::Copy(env, data, length);
#ifndef NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED
  }
  return Buffer(env, value);
#endif  // NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED
}

inline Object::Object(napi_env env, napi_value value) : TypeTaggable(env, value) {}
}  // namespace Napi
"""
    assert names(src, "cpp") == {
        "FinalizeData.Wrapper": (8, False),
        "Buffer.NewOrCopy": (14, False),
        "Object.Object": (27, False),
    }


def test_macros_that_stand_for_a_namespace_an_access_specifier_and_try():
    # nlohmann/json: NLOHMANN_JSON_NAMESPACE_BEGIN with a doc comment between it and the class it breaks,
    # JSON_PRIVATE_UNLESS_TESTED: for `private:`, and JSON_TRY / JSON_CATCH blocks for try / catch.
    src = """\
NLOHMANN_JSON_NAMESPACE_BEGIN

/// @brief an internal type for a backed binary type
template<typename BinaryType>
class byte_container_with_subtype : public BinaryType
{
  public:
    /// @sa https://json.nlohmann.me/api/byte_container_with_subtype/
    byte_container_with_subtype() noexcept(noexcept(container_type()))
        : container_type()
    {}

  JSON_PRIVATE_UNLESS_TESTED:
    /// set the iterator to the first value
    void set_begin() noexcept
    {
        m_it = 0;
    }

  public:
    reference at(size_type idx)
    {
        if (JSON_HEDLEY_LIKELY(is_array()))
        {
            JSON_TRY
            {
                return set_parent(m_value.array->at(idx));
            }
            JSON_CATCH (std::out_of_range&)
            {
                JSON_THROW(out_of_range::create(401, "out of range", this));
            }
        }
        else
        {
            JSON_THROW(type_error::create(304, "cannot use at()", this));
        }
    }

    size_type size() const noexcept
    {
        return 1;
    }
};

NLOHMANN_JSON_NAMESPACE_END
"""
    got = {k: line for k, (line, _) in names(src, "cpp").items()}
    assert got == {
        "byte_container_with_subtype.byte_container_with_subtype": 9,
        "byte_container_with_subtype.set_begin": 15,
        "byte_container_with_subtype.at": 21,
        "byte_container_with_subtype.size": 40,
    }
    assert docs(src, "cpp")["set_begin"] == "set the iterator to the first value"


def test_braced_default_argument_is_no_header_error():
    # `= {}` reads as a compound literal whose type is MISSING; the name and parameters are not in doubt.
    src = (
        "struct basic_json {\n  static basic_json array(initializer_list_t init = {})\n"
        "  {\n    return basic_json(init);\n  }\n};\n"
    )
    assert names(src, "cpp") == {"basic_json.array": (2, True)}


def test_doc_above_a_friend_function_defined_in_its_class():
    # nlohmann/json documents its friend operators; the comment is the friend declaration's, not the function's.
    src = (
        "struct json_pointer {\n    /// @brief write to stream\n"
        "    friend std::ostream& operator<<(std::ostream& o, const json_pointer& p)\n    {\n        return o;\n    }\n"
        "    /// @brief comparison: equal\n    template<typename S, typename std::enable_if<\n"
        "                 std::is_scalar<S>::value, int>::type = 0>\n"
        "    friend bool operator==(const json_pointer& l, S r) noexcept\n    {\n        return true;\n    }\n};\n"
    )
    assert docs(src, "cpp") == {"operator<<": "@brief write to stream", "operator==": "@brief comparison: equal"}


# The repair's speed-ups (issue 14's 2x-parse goal) must not change what it finds; these pin each of them.
_SCAN_TEXT = b"""namespace NS {
class EXPORT_API SCOPED Widget : public Base {
 JSON_PRIVATE_UNLESS_TESTED:
  int get() const LOCKS_EXCLUDED(mu) { return 1; }
  BINARY_OP(IsEq, ==)
  NAPI_MACRO
  DEFINE_DEFAULT(unsigned char, '\\\\0');
};
JSON_TRY
{
  f();
}
#ifdef X
template <typename F = T>
#endif
#if defined(A)
  int a() {
#else
  int a(int) {
#endif
struct declassified; union reunion x; struct MACRO_NAME Thing {};
  XXH_ASSERT(x);
XXH_FORCE_INLINE
XXH_hash_t XXH_f(void)
}
"""


@pytest.mark.parametrize("start", [0, 1, 15, 16, 120])
def test_hinted_scans_find_what_finditer_finds(start):
    """``_matches`` tries a pattern only where its hint says it can match, and yields finditer's matches."""
    from crawlers.code import lang_c

    lo = _SCAN_TEXT.rfind(b"\n", 0, start) + 1  # windows start at line starts
    for text in (_SCAN_TEXT, _SCAN_TEXT.replace(b"\n", b"\n\n"), b"\n" + _SCAN_TEXT):
        windows = [(lo, len(text) // 2), (len(text) // 2, len(text))]
        windows = [(text.rfind(b"\n", 0, a) + 1, b) for a, b in windows]
        for pattern, _ in lang_c._MISREAD:
            want = [(m.span(), m.group()) for a, b in windows for m in pattern.finditer(text, a, b)]
            got = [(m.span(), m.group()) for m in lang_c._matches(pattern, text, windows)]
            assert got == want, pattern.pattern
        assert any(lang_c._matches(lang_c._OWN_LINE, text, [(0, len(text))]))
        assert any(lang_c._matches(lang_c._CLASS_MACRO, text, [(0, len(text))]))


def test_error_spans_count_the_bytes_error_bytes_counts():
    from tree_sitter_language_pack import get_parser

    from crawlers.code import lang_c
    from crawlers.code.nodes import error_bytes

    for source, language in ((_SCAN_TEXT, "cpp"), (b"int f(int x +) { return }\nint g() { h( }\n", "c")):
        tree = get_parser(language).parse(source)
        starts, ends, lost = lang_c._error_spans(tree.root_node)
        assert lost == error_bytes(tree.root_node) > 0
        assert starts == sorted(starts) and len(starts) == len(ends)


@pytest.mark.parametrize("order", ["sorted", "reversed"])
def test_reparse_after_same_length_edits_equals_a_fresh_parse(order):
    """Rows and columns of each edit are counted between edits; edits out of order are counted from the start."""
    from tree_sitter_language_pack import get_parser

    from crawlers.code.nodes import reparse

    source = (
        b"int f(int n) LOCKS_EXCLUDED(mu) {\n  return n;\n}\nclass SCOPED_LOCKABLE M {\n};\nint g(void) { return 1; }\n"
    )
    edits = [(source.index(w), b" " * len(w)) for w in (b"LOCKS_EXCLUDED(mu)", b"SCOPED_LOCKABLE")]
    edits = sorted(edits, reverse=order == "reversed")
    parser = get_parser("cpp")
    masked, tree = reparse(parser, source, parser.parse(source), edits)
    assert masked == source.replace(b"LOCKS_EXCLUDED(mu)", b" " * 18).replace(b"SCOPED_LOCKABLE", b" " * 15)
    assert str(tree.root_node) == str(parser.parse(masked).root_node)
    assert not tree.root_node.has_error


def test_units_inside_errors_and_beside_bodiless_structs_are_still_found():
    """The C/C++ candidate query leaves out ERROR nodes and `struct x` uses; units inside either are kept."""
    source = """
struct list *head(struct list *l) { return l; }
int outer(void) {
    struct local { int a; } v;
    struct list *p = 0;
    return v.a;
}
int broken(int x +) { return x; }
int after(void) { return 0; }
"""
    units = {(u.kind, u.qualified_name) for u in extract_units(source.encode(), "c")}
    assert {("function", "head"), ("function", "outer"), ("class", "outer.local"), ("function", "after")} <= units
    assert not any(name == "list" for _, name in units)
