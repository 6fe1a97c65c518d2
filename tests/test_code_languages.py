"""Functions, methods, classes and their docs for every language in the table but Python/JS/Go.

Each fixture is a small hand-written file in the language's usual style: a class with fields,
a constructor, documented methods, a free function, an undocumented one, and a declaration
without a body (prototype, abstract or interface method) that must not become a unit.
"""

import pytest

from crawlers.code.units import EXTENSIONS, SPECS, extract_units

JAVA = """\
package finance.book;

import java.util.ArrayList;
import java.util.List;

/**
 * A ledger of postings.
 */
@Deprecated
public class Ledger {
    private final String name;
    private final List<Long> entries = new ArrayList<>();

    /** Creates an empty ledger. */
    public Ledger(String name) {
        this.name = name;
    }

    /**
     * Posts an amount.
     *
     * @param cents amount in cents
     */
    @Override
    public void post(long cents) {
        entries.add(cents);
    }

    // Sum of all postings.
    public long balance() {
        long total = 0;
        for (long e : entries) {
            total += e;
        }
        return total;
    }

    /** Formats cents; Java has no free functions, a static method stands in. */
    static String format(long cents) {
        return String.format("%d.%02d", cents / 100, cents % 100);
    }

    public String name() { return name; }

    interface Auditor {
        /** No body: not a unit. */
        boolean audit(Ledger ledger);
    }
}

enum Currency { EUR, USD }
"""

TYPESCRIPT = """\
import { Entry } from "./entry";

/** A ledger of postings. */
@Injectable()
export class Ledger {
  private entries: number[] = [];

  /** Creates an empty ledger. */
  constructor(private readonly name: string) {}

  /**
   * Posts an amount.
   * @param cents amount in cents
   */
  @Log()
  post(cents: number): void {
    this.entries.push(cents);
  }

  // Sum of all postings.
  balance(): number {
    return this.entries.reduce((a, b) => a + b, 0);
  }

  /** Handler kept as a field. */
  onReset = (): void => {
    this.entries = [];
  };
}

export interface Auditor {
  audit(ledger: Ledger): boolean;
}

export abstract class Report {
  abstract render(): string;
}

/** Formats cents. */
export function formatCents(cents: number): string {
  return (cents / 100).toFixed(2);
}

function undocumented(x: number) {
  return x * 2;
}
"""

TSX = """\
import React from "react";

interface Props {
  cents: number;
  onPost(cents: number): void;
}

/** Shows one amount. */
export function Amount({ cents }: Props) {
  return <span className="amount">{(cents / 100).toFixed(2)}</span>;
}

// A row of the ledger table.
export const Row = ({ cents }: Props) => (
  <tr>
    <td>
      <Amount cents={cents} onPost={() => {}} />
    </td>
  </tr>
);

/** The whole ledger. */
export class LedgerView extends React.Component<Props> {
  private rows: number[] = [];

  constructor(props: Props) {
    super(props);
  }

  /** Renders every row. */
  render() {
    return <table>{this.rows.map((c) => <Row cents={c} onPost={this.props.onPost} />)}</table>;
  }
}

function undocumented() {
  return <div />;
}
"""

RUST = """\
//! Crate-level docs: they belong to the crate, not to the next item.

use std::fmt;

/// A ledger of postings.
#[derive(Debug, Default)]
pub struct Ledger {
    name: String,
    entries: Vec<i64>,
}

impl Ledger {
    /// Creates an empty ledger.
    pub fn new(name: &str) -> Self {
        Ledger { name: name.to_string(), entries: Vec::new() }
    }

    /// Posts an amount.
    ///
    /// Amounts are in cents.
    #[inline]
    #[must_use]
    pub fn post(&mut self, cents: i64) -> usize {
        self.entries.push(cents);
        self.entries.len()
    }

    // Sum of all postings.
    pub fn balance(&self) -> i64 {
        self.entries.iter().sum()
    }
}

impl<'a> fmt::Display for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.name)
    }
}

/// Something that audits.
pub trait Auditor {
    fn audit(&self, ledger: &Ledger) -> bool;

    /// Default body: a method.
    fn name(&self) -> String {
        "auditor".into()
    }
}

/** Formats cents. */
pub fn format_cents(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

mod util {
    //! Inner doc of `util`, not of `clamp`.
    pub fn clamp(x: i64) -> i64 {
        x.max(0)
    }
}
"""

C = """\
#include <stdio.h>

/* A ledger of postings. */
struct ledger {
    const char *name;
    long total;
};

typedef struct entry {
    long cents;
} entry_t;

/* A prototype: not a unit. */
int ledger_audit(const struct ledger *l);

/**
 * Posts an amount.
 * Amounts are in cents.
 */
void ledger_post(struct ledger *l, long cents)
{
    l->total += cents;
}

// Name of the ledger.
static const char *
ledger_name(const struct ledger *l)
{
    return l->name;
}

static int counter = 0; /* trails code: not a doc */
static int undocumented(int x) { return x * 2 + counter; }
"""

CPP = """\
#include <string>
#include <vector>

namespace fin {

/// A ledger of postings.
class Ledger : public Book {
 public:
  /// Creates an empty ledger.
  explicit Ledger(std::string name) : name_(std::move(name)) {}

  /** Declared here, defined out of line. */
  void post(long cents);

  // Sum of all postings.
  long balance() const {
    long total = 0;
    for (long e : entries_) total += e;
    return total;
  }

  virtual bool audit() const = 0;

 private:
  std::string name_;
  std::vector<long> entries_;
};

}  // namespace fin

/** Posts an amount. */
void fin::Ledger::post(long cents) {
  entries_.push_back(cents);
}

/// Formats cents.
template <typename T>
std::string format_cents(T cents) {
  return std::to_string(cents / 100);
}

int undocumented(int x) { return x * 2; }
"""

KOTLIN = """\
package finance.book

import java.time.Instant

/**
 * A ledger of postings.
 */
@Serializable
class Ledger(private val name: String) {
    private val entries = mutableListOf<Long>()

    /** Creates a ledger with one opening entry. */
    constructor(name: String, opening: Long) : this(name) {
        entries.add(opening)
    }

    /**
     * Posts an amount.
     * @param cents amount in cents
     */
    @Synchronized
    fun post(cents: Long) {
        entries.add(cents)
    }

    // Sum of all postings.
    fun balance(): Long = entries.sum()

    companion object {
        /** Makes an empty ledger. */
        fun empty(): Ledger = Ledger("")
    }
}

interface Auditor {
    fun audit(ledger: Ledger): Boolean
}

/** Formats cents. */
fun formatCents(cents: Long): String = "%d.%02d".format(cents / 100, cents % 100)

fun undocumented(x: Int): Int {
    return x * 2
}
"""

CSHARP = """\
using System.Collections.Generic;

namespace Finance.Book
{
    /// <summary>A ledger of postings.</summary>
    [Serializable]
    public class Ledger
    {
        private readonly string name;
        private readonly List<long> entries = new List<long>();

        /// <summary>Creates an empty ledger.</summary>
        public Ledger(string name)
        {
            this.name = name;
        }

        /// <summary>Posts an amount.</summary>
        /// <param name="cents">Amount in cents.</param>
        [Obsolete("use Post2")]
        public void Post(long cents)
        {
            entries.Add(cents);
        }

        // Sum of all postings.
        public long Balance() => entries.Sum();

        public string Name { get; }
    }

    public interface IAuditor
    {
        bool Audit(Ledger ledger);
    }

    public abstract class Report
    {
        public abstract string Render();

        protected static int Undocumented(int x)
        {
            return x * 2;
        }
    }

    public record Entry(long Cents);
}
"""

# language -> (source, expected (kind, qualified_name) set, expected docstrings, expected (start, end) lines)
CASES = {
    "java": (
        JAVA,
        {
            ("class", "Ledger"),
            ("method", "Ledger.Ledger"),
            ("method", "Ledger.post"),
            ("method", "Ledger.balance"),
            ("method", "Ledger.format"),
            ("method", "Ledger.name"),
            ("class", "Ledger.Auditor"),
            ("class", "Currency"),
        },
        {
            "Ledger": "A ledger of postings.",
            "Ledger.post": "Posts an amount.\n\n@param cents amount in cents",
            "Ledger.balance": "",  # a plain `//` comment: javadoc reads only /** */
            "Ledger.name": "",
        },
        {"Ledger.post": (24, 27), "Ledger": (9, 49)},
    ),
    "typescript": (
        TYPESCRIPT,
        {
            ("class", "Ledger"),
            ("method", "Ledger.constructor"),
            ("method", "Ledger.post"),
            ("method", "Ledger.balance"),
            ("method", "Ledger.onReset"),
            ("class", "Auditor"),
            ("class", "Report"),
            ("function", "formatCents"),
            ("function", "undocumented"),
        },
        {
            "Ledger": "A ledger of postings.",
            "Ledger.post": "Posts an amount.\n@param cents amount in cents",
            "Ledger.onReset": "Handler kept as a field.",
            "undocumented": "",
        },
        {"Ledger.post": (16, 18), "formatCents": (40, 42)},
    ),
    "tsx": (
        TSX,
        {
            ("class", "Props"),
            ("function", "Amount"),
            ("function", "Row"),
            ("class", "LedgerView"),
            ("method", "LedgerView.constructor"),
            ("method", "LedgerView.render"),
            ("function", "undocumented"),
        },
        {
            "Amount": "Shows one amount.",
            "Row": "A row of the ledger table.",
            "LedgerView.render": "Renders every row.",
            "LedgerView.constructor": "",
        },
        {"Row": (14, 20), "LedgerView.render": (31, 33)},
    ),
    "rust": (
        RUST,
        {
            ("class", "Ledger"),
            ("method", "Ledger.new"),
            ("method", "Ledger.post"),
            ("method", "Ledger.balance"),
            ("method", "Ledger.fmt"),
            ("class", "Auditor"),
            ("method", "Auditor.name"),
            ("function", "format_cents"),
            ("function", "clamp"),
        },
        {
            "Ledger": "A ledger of postings.",
            "Ledger.post": "Posts an amount.\n\nAmounts are in cents.",
            "format_cents": "Formats cents.",
            "clamp": "",
        },
        {"Ledger.post": (23, 26), "Ledger": (7, 10)},
    ),
    "c": (
        C,
        {
            ("class", "ledger"),
            ("class", "entry"),
            ("function", "ledger_post"),
            ("function", "ledger_name"),
            ("function", "undocumented"),
        },
        {
            "ledger": "A ledger of postings.",
            "ledger_post": "Posts an amount.\nAmounts are in cents.",
            "ledger_name": "Name of the ledger.",
            "undocumented": "",
        },
        {"ledger_name": (26, 30)},
    ),
    "cpp": (
        CPP,
        {
            ("class", "Ledger"),
            ("method", "Ledger.Ledger"),
            ("method", "Ledger.balance"),
            ("method", "Ledger.post"),
            ("function", "format_cents"),
            ("function", "undocumented"),
        },
        {
            "Ledger": "A ledger of postings.",
            "Ledger.post": "Posts an amount.",
            "format_cents": "Formats cents.",
            "undocumented": "",
        },
        {"Ledger.post": (32, 34), "format_cents": (38, 40)},
    ),
    "kotlin": (
        KOTLIN,
        {
            ("class", "Ledger"),
            ("method", "Ledger.constructor"),
            ("method", "Ledger.post"),
            ("method", "Ledger.balance"),
            ("method", "Ledger.empty"),
            ("class", "Auditor"),
            ("function", "formatCents"),
            ("function", "undocumented"),
        },
        {
            "Ledger": "A ledger of postings.",
            "Ledger.post": "Posts an amount.\n@param cents amount in cents",
            "Ledger.empty": "Makes an empty ledger.",
            "undocumented": "",
        },
        {"Ledger.post": (21, 24), "Ledger": (8, 33)},
    ),
    "csharp": (
        CSHARP,
        {
            ("class", "Ledger"),
            ("method", "Ledger.Ledger"),
            ("method", "Ledger.Post"),
            ("method", "Ledger.Balance"),
            ("class", "IAuditor"),
            ("class", "Report"),
            ("method", "Report.Undocumented"),
            ("class", "Entry"),
        },
        {
            "Ledger": "<summary>A ledger of postings.</summary>",
            "Ledger.Post": '<summary>Posts an amount.</summary>\n<param name="cents">Amount in cents.</param>',
            "Ledger.Balance": "",  # a plain `//` comment: C#'s compiler reads only /// docs
            "Report.Undocumented": "",
        },
        {"Ledger.Post": (20, 24), "Ledger.Balance": (27, 27)},
    ),
}


@pytest.mark.parametrize("language", sorted(CASES))
def test_units_docs_and_lines(language):
    source, names, docs, lines = CASES[language]
    units = list(extract_units(source.encode(), language))
    assert {(u.kind, u.qualified_name) for u in units} == names
    by_name = {u.qualified_name: u for u in units}
    assert len(by_name) == len(units), "qualified names are unique in these fixtures"
    for name, doc in docs.items():
        assert by_name[name].docstring == doc, name
    for name, (start, end) in lines.items():
        unit = by_name[name]
        assert (unit.start_line, unit.end_line) == (start, end), name
        text = "\n".join(source.splitlines()[start - 1 : end])
        # The code is the unit itself: without its indent or an `export const` wrapper, with its annotations.
        assert unit.code in text and text.splitlines()[0].endswith(unit.code.splitlines()[0]), name
    for unit in units:
        assert unit.symbol in unit.signature, unit.signature
        assert unit.signature.splitlines()[0] == unit.signature


def test_signatures_stop_before_the_body_and_skip_annotation_lines():
    def sig(source, language, name):
        return {u.qualified_name: u.signature for u in extract_units(source.encode(), language)}[name]

    assert sig(JAVA, "java", "Ledger.post") == "public void post(long cents)"
    assert sig(CSHARP, "csharp", "Ledger.Post") == "public void Post(long cents)"
    assert sig(C, "c", "ledger_name") == "static const char * ledger_name(const struct ledger *l)"
    assert sig(CPP, "cpp", "Ledger.post") == "void fin::Ledger::post(long cents)"
    assert sig(RUST, "rust", "Ledger.post") == "pub fn post(&mut self, cents: i64) -> usize"
    assert sig(KOTLIN, "kotlin", "Ledger.balance") == "fun balance(): Long"


def test_every_extension_maps_to_a_spec():
    assert set(EXTENSIONS.values()) <= set(SPECS)
    assert {"java", "typescript", "tsx", "rust", "c", "cpp", "kotlin", "csharp"} <= set(EXTENSIONS.values())
    assert EXTENSIONS[".h"] == "c" and EXTENSIONS[".hpp"] == "cpp" and EXTENSIONS[".kts"] == "kotlin"
    for language in set(EXTENSIONS.values()):
        assert SPECS[language].name == language


BROKEN = {
    "java": "class A {{\n  int good() {{ return 1; }}\n  {}\n  int after() {{ return 2; }}\n}}\n",
    "csharp": "class A {{\n  int good() {{ return 1; }}\n  {}\n  int after() {{ return 2; }}\n}}\n",
    "typescript": "function good() {{ return 1; }}\n{}\nfunction after() {{ return 2; }}\n",
    "tsx": "function good() {{ return <a />; }}\n{}\nfunction after() {{ return 2; }}\n",
    "rust": "fn good() -> i32 {{ 1 }}\n{}\nfn after() -> i32 {{ 2 }}\n",
    "c": "int good(void) {{ return 1; }}\n{}\nint after(void) {{ return 2; }}\n",
    "cpp": "int good() {{ return 1; }}\n{}\nint after() {{ return 2; }}\n",
    "kotlin": "fun good(): Int {{ return 1 }}\n{}\nfun after(): Int {{ return 2 }}\n",
}
BROKEN_UNIT = {
    "java": "int broken(int x) { return x +; }",
    "csharp": "int broken(int x) { return x +; }",
    "typescript": "function broken(x: number) { return x +; }",
    "tsx": "function broken(x: number) { return x +; }",
    "rust": "fn broken(x: i32) -> i32 { x + }",
    "c": "int broken(int x) { return x +; }",
    "cpp": "int broken(int x) { return x +; }",
    "kotlin": "fun broken(x: Int): Int { return x + }",
}


@pytest.mark.parametrize("language", sorted(BROKEN))
def test_syntax_error_in_one_function_keeps_the_others(language):
    source = BROKEN[language].format(BROKEN_UNIT[language])
    units = list(extract_units(source.encode(), language))
    symbols = {u.symbol for u in units}
    assert {"good", "after"} <= symbols
    if language in ("c", "cpp"):
        # C and C++ keep a function whose error is confined to its body (mostly macros tree-sitter cannot
        # expand), flagged so extract counts it (crawlers/code/lang_c.py).
        assert [u.has_error for u in units if u.symbol == "broken"] == [True]
    else:
        assert "broken" not in symbols


def test_rust_impl_with_a_broken_method_keeps_its_good_methods():
    # An impl block is only a scope, so an error in one method does not drop the others.
    source = b"impl Ledger {\n    fn good(&self) {}\n    fn broken(&self) { 1 + }\n    fn after(&self) {}\n}\n"
    assert {u.qualified_name for u in extract_units(source, "rust")} == {"Ledger.good", "Ledger.after"}
