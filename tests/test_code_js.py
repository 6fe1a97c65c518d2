"""JavaScript and TypeScript functions that are values: named by what they are assigned to (issue 14).

One short source per pattern; the convention is the one ``bench/truth_js.py`` measures against the
TypeScript compiler on real npm packages (``tests/test_code_real_js.py``).
"""

from __future__ import annotations

import inspect

import pytest

from crawlers.code.units import EXTENSIONS, extract_units


def units(source: str, language: str = "javascript") -> dict[str, tuple[str, int, int, str]]:
    """qualified name -> (kind, start line, end line, doc) of the functions and methods."""
    got = extract_units(inspect.cleandoc(source).encode(), language)
    return {u.qualified_name: (u.kind, u.start_line, u.end_line, u.docstring) for u in got if u.kind != "class"}


def test_functions_assigned_to_properties_take_the_last_name():
    got = units("""
        obj.name = function name() {};
        exports.parse = function () {};
        module.exports.format = (x) => x;
        Foo.prototype.render = function () {};
        Foo.bar = async () => {};
        a.b.c = function* () {};
        registry['on-load'] = function () {};
        this.handler = () => {};
        exports.one = exports.two = function () {};
    """)
    assert set(got) == {"obj.name", "parse", "format", "Foo.render", "Foo.bar", "a.b.c", "registry.on-load",
                        "handler", "two"}  # fmt: skip
    assert got["Foo.render"][0] == "method" and got["parse"][0] == "function"


@pytest.mark.parametrize(
    ("source", "name"),
    [("module.exports = function () {};", "exports"), ("module.exports = function create() {};", "create")],
)
def test_module_exports_takes_the_function_s_own_name(source, name):
    assert set(units(source)) == {name}


def test_object_literal_members_are_qualified_by_the_object():
    got = units("""
        var api = {
          get() {},
          post: function () {},
          'put-all': () => 1,
          [Symbol.iterator]: function* () {},
          get size() { return 0; },
          nested: { deep() {} },
          value: 42,
        };
        module.exports = { exported() {} };
        Foo.prototype = { method: function () {} };
    """)
    assert set(got) == {"api.get", "api.post", "api.put-all", "api.[Symbol.iterator]", "api.size",
                        "api.nested.deep", "exported", "Foo.method"}  # fmt: skip
    assert got["api.post"][1] == 3 and got["api.post"][0] == "method"


@pytest.mark.parametrize("language", ["javascript", "typescript"])
def test_class_fields_holding_functions_are_methods(language):
    got = units(
        """
        class Button {
          onClick = () => {};
          static create = function () {};
          #secret = () => 1;
          label = 'x';
          render() {}
        }
        """,
        language,
    )
    assert set(got) == {"Button.onClick", "Button.create", "Button.#secret", "Button.render"}
    assert {kind for kind, *_ in got.values()} == {"method"}


def test_functions_nested_in_function_values_are_found_at_any_depth():
    got = units("""
        const outer = () => {
          function inner() {
            const deeper = function () {
              return { leaf() {} };
            };
          }
        };
        exports.run = function () { const helper = () => 1; };
    """)
    assert set(got) == {"outer", "outer.inner", "outer.inner.deeper", "outer.inner.deeper.leaf", "run", "run.helper"}


def test_callbacks_are_not_units_but_functions_inside_them_are():
    got = units("""
        items.forEach(function (item) {
          function visit() {}
        });
        define(['jquery'], function ($) {
          $.fn.plugin = function () {};
        });
        setTimeout(() => 1);
        (function () { var hidden = function () {}; })();
    """)
    assert set(got) == {"visit", "$.fn.plugin", "hidden"}


def test_jsdoc_of_an_assignment_or_pair_is_its_doc():
    got = units("""
        /**
         * Parses a date.
         */
        exports.parse = function (s) {};

        // Formats a date.
        Foo.prototype.format = function () {};

        var o = {
          /** Adds. */
          add: (a, b) => a + b,
        };
    """)
    assert got["parse"][3] == "Parses a date."
    assert got["Foo.format"][3] == "Formats a date."
    assert got["o.add"][3] == "Adds."
    assert got["parse"][1:3] == (4, 4)


def test_class_heritage_and_decorator_arguments_are_walked():
    got = units(
        """
        class Lower extends transform({ decode: (s) => s.toLowerCase() }) {
          check() {}
        }
        """,
        "typescript",
    )
    assert set(got) == {"decode", "Lower.check"}


def test_typescript_generic_call_signatures_on_new_lines_do_not_lose_the_function():
    # The grammar reads `): void` + newline + `<E, A>(` as `void < E, A > (...)` and fails.
    source = """
        export const run: {
          (a: string): void
          <E, A>(
            effect: Effect<A, E>,
            options?: { readonly teardown?: Teardown | undefined }
          ): void
        } = (a: any) => {}

        export const interfaces: Array<Runner> = []
        export interface Runner {
          (a: string): void
          <E, A>(effect: Effect<A, E>): void
        }
    """
    got = {u.qualified_name: u for u in extract_units(inspect.cleandoc(source).encode(), "typescript")}
    assert {"run", "Runner"} <= set(got)
    assert (got["run"].start_line, got["run"].end_line) == (1, 7)
    assert "void\n  <E, A>(" in got["run"].code  # the `;` the grammar is given is not in the text


def test_typescript_generic_tagged_templates_keep_their_text():
    source = """
        const q = {
          latest: (id: string) =>
            sql<{ max: number }>`SELECT max(seq) FROM t WHERE id = ${id}`.pipe(first),
        }
    """
    got = {u.symbol: u for u in extract_units(inspect.cleandoc(source).encode(), "typescript")}
    assert "sql<{ max: number }>`SELECT" in got["latest"].code  # the rewrite for the grammar is not in the text
    assert (got["latest"].start_line, got["latest"].end_line) == (2, 3)


def test_typescript_escaped_backticks_in_template_types():
    source = """
        type Missing<U extends string> = `Missing \\`Self\\` generic - use \\`class Self extends ${U}<Self>()\\``

        export function make(): void {}
    """
    assert "make" in units(source, "typescript")


@pytest.mark.parametrize(("ext", "language"), [(".jsx", "javascript"), (".mjs", "javascript"),
                                               (".cjs", "javascript"), (".mts", "typescript"),
                                               (".cts", "typescript"), (".tsx", "tsx")])  # fmt: skip
def test_module_and_jsx_extensions(ext, language):
    assert EXTENSIONS[ext] == language
