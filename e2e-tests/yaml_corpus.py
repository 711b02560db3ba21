#!/usr/bin/env python3
"""Differential test of the runner's YAML reader against libyaml itself.

    e2e-tests/yaml_corpus.py [--write FILE] [--no-run]

Generates a corpus of YAML documents (indentation variants, flow collections
over several lines, multi-line plain and quoted scalars, block scalars with
indicators, anchors, aliases and merge keys, comments in odd places, tabs,
document markers, byte order marks, scalars YAML 1.1 resolves, and invalid
documents), reads each one with PyYAML's CSafeLoader, which parses with
libyaml (the C library that go-yaml, under kubectl, was ported from), and
turns what it read into the JSON kubectl would send, by go-yaml v2's rules
(the normalisations listed below). Then it runs the runner's ignored test
`kube_yaml::tests::libyaml_corpus`, which reads every document with
`kube_yaml::parse` and fails unless each one is accepted or refused as here,
with the same JSON, and a syntax error at the same line and column.

PyYAML is installed with pip when it is missing; without its libyaml-backed
CSafeLoader this test fails rather than skips.
"""

import base64
import json
import math
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def import_yaml():
    try:
        import yaml  # noqa: F401
    except ImportError:
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "pyyaml"]
        if subprocess.run(pip, check=False).returncode != 0:
            # a distribution's Python that leaves its packages to the system (PEP 668)
            subprocess.run(pip + ["--user", "--break-system-packages"], check=False)
    import yaml

    if not getattr(yaml, "__with_libyaml__", False) or not hasattr(yaml, "CSafeLoader"):
        sys.exit("yaml_corpus: PyYAML has no CSafeLoader (libyaml): cannot compare with libyaml")
    return yaml


yaml = import_yaml()

# ---------------------------------------------------------------------------
# From what PyYAML (YAML 1.1, libyaml's parser) reads to what go-yaml v2 and
# sigs.k8s.io/yaml give the API server. Each normalisation, and why:
#
# Resolution of plain scalars (the resolver below):
#  N1 timestamps stay strings: go-yaml v2 keeps a timestamp as its text when
#     decoding into interface{}, PyYAML makes a datetime.
#  N2 `=` stays a string: PyYAML resolves it to !!value (and cannot construct
#     it), go-yaml has no such tag.
#  N3 sexagesimal `1:20` and `1:20.5` stay strings: go-yaml v2 has no base 60.
#  N4 `y Y n N` are booleans too: go-yaml v2's table has them, PyYAML's not.
#  N5 integers are Go's strconv.ParseInt(s, 0, 64) after removing `_`:
#     `0o17`, `0X1F`, `0B11` are integers there, strings in PyYAML.
#  N6 floats are go-yaml v2's `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
#     (after removing `_`): `1e3` and `08` are floats there, strings in PyYAML.
# Construction (the constructor below):
#  N7 local and unknown tags (`!foo x`) keep the node's plain value: go-yaml
#     ignores tags it does not know, PyYAML's safe loader refuses them.
#  N8 `!!binary` becomes the decoded bytes as a string (invalid UTF-8 as
#     U+FFFD): go-yaml decodes it into a Go string, JSON replaces bad bytes.
#  N9 a key given twice in one mapping (merged keys aside; the same key once
#     both are JSON keys: `yes` and `true`, `1` and "1") is an error, as the
#     runner reads it (go-yaml's strict mode); PyYAML keeps the last.
#  N9b `!!null` and `!!bool` must hold a null or a YAML 1.1 boolean, as in
#     go-yaml ("cannot decode"); PyYAML's constructors ignore or look up the
#     text.
# To JSON (to_json below), as sigs.k8s.io/yaml converts YAML to JSON:
#  N10 keys become strings (`true`, `1`); a null, list or map key is an error.
#  N11 NaN and infinities are errors: JSON cannot hold them.
#  N12 an integral float is an integer (Go's JSON writes `1` for 1.0 and the
#      API machinery reads it back as an int64); an integer outside int64 is a
#      float (ParseInt fails, the float syntax matches).
#  N13 a node that contains itself (`&a [*a]`) is an error: go-yaml refuses
#      it ("anchor 'a' value contains itself"), PyYAML builds a cycle.
#  N14 null documents are left out, as both leave out empty ones.
# Where PyYAML's own composer (not libyaml) differs from go-yaml, the corpus
# gives go-yaml's answer by hand (GO_YAML below):
#  N15 an anchor defined again replaces the earlier one in go-yaml (and YAML
#      1.2); PyYAML's composer refuses it ("found duplicate anchor").
#  N16 the non-specific tag `!` keeps a scalar's text in go-yaml (it is not a
#      tag go-yaml resolves); PyYAML resolves `! 12` as the plain `12`.
#  N17 `%YAML 1.2` is refused by go-yaml ("found incompatible YAML document":
#      only 1.1 is taken), libyaml 0.2.5 takes 1.1 and 1.2.
#  N18 the escape `\/` in a double-quoted scalar is refused by go-yaml ("found
#      unknown escape character"); libyaml 0.2.5 reads it as `/`.
# ---------------------------------------------------------------------------

INT_RE = re.compile(r"^[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$")
FLOAT_RE = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
GO_NUMBER = re.compile(r"^[-+0-9.][-+0-9._a-fA-FxXoO]*$")


class GoLoader(yaml.CSafeLoader):
    """libyaml's parser, with go-yaml v2's scalar resolution."""


def _resolvers():
    table = {}
    for first, entries in yaml.resolver.Resolver.yaml_implicit_resolvers.items():
        kept = [
            (tag, regexp)
            for tag, regexp in entries
            # N1, N2, and N3/N5/N6: int and float come back below, Go's way
            if tag
            not in (
                "tag:yaml.org,2002:timestamp",
                "tag:yaml.org,2002:value",
                "tag:yaml.org,2002:int",
                "tag:yaml.org,2002:float",
                "tag:yaml.org,2002:bool",
            )
        ]
        table[first] = kept
    return table


GoLoader.yaml_implicit_resolvers = _resolvers()
GoLoader.add_implicit_resolver(  # N4
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$"),
    list("yYnNtTfFoO"),
)
GoLoader.add_implicit_resolver(  # N5, N6: Go parses numbers, see construct_go_number
    "tag:go,number",
    GO_NUMBER,
    list("-+0123456789."),
)
GoLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+."),
)


def go_number(text):
    """go-yaml v2's resolution of a plain scalar that starts like a number."""
    plain = text.replace("_", "")
    if INT_RE.match(plain):
        sign = -1 if plain.startswith("-") else 1
        body = plain.lstrip("+-").lower()
        if body.startswith(("0x", "0o", "0b")):
            value = int(body[2:], {"x": 16, "o": 8, "b": 2}[body[1]])
        elif len(body) > 1 and body.startswith("0"):
            value = int(body[1:], 8)
        else:
            value = int(body)
        return sign * value
    if FLOAT_RE.match(plain):
        return float(plain)
    return text


def construct_go_number(loader, node):
    return go_number(loader.construct_scalar(node))


def construct_go_int(loader, node):
    value = go_number(loader.construct_scalar(node))
    if isinstance(value, str) or isinstance(value, bool):
        raise yaml.constructor.ConstructorError(None, None, f"cannot decode {value!r} as a !!int", node.start_mark)
    return value


def construct_go_float(loader, node):
    text = loader.construct_scalar(node)
    special = {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf, ".nan": math.nan}
    if text.lower() in special:
        return special[text.lower()]
    value = go_number(text)
    if isinstance(value, str):
        raise yaml.constructor.ConstructorError(None, None, f"cannot decode {value!r} as a !!float", node.start_mark)
    return float(value)


def construct_binary(loader, node):  # N8
    text = "".join(loader.construct_scalar(node).split("\n")).replace("\r", "")
    try:
        return base64.b64decode(text, validate=True).decode("utf-8", "replace")
    except ValueError as err:
        raise yaml.constructor.ConstructorError(None, None, "invalid base64", node.start_mark) from err


def construct_unknown(loader, suffix, node):  # N7
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


def construct_go_null(loader, node):
    text = loader.construct_scalar(node)
    if text not in ("", "~", "null", "Null", "NULL"):
        raise yaml.constructor.ConstructorError(None, None, f"cannot decode {text!r} as a !!null", node.start_mark)
    return None


def construct_go_bool(loader, node):
    text = loader.construct_scalar(node)
    if text in ("y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE"):
        return True
    if text in ("n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE"):
        return False
    raise yaml.constructor.ConstructorError(None, None, f"cannot decode {text!r} as a !!bool", node.start_mark)


def construct_mapping(loader, node):  # N9, then PyYAML's merge (`<<`)
    seen = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, (list, dict)):
            raise yaml.constructor.ConstructorError(None, None, "unhashable key", key_node.start_mark)
        name = json_key(key)
        if name in seen:
            raise yaml.constructor.ConstructorError(None, None, "duplicate key", key_node.start_mark)
        seen.add(name)
    data = {}
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, (list, dict)):
            raise yaml.constructor.ConstructorError(None, None, "unhashable key", key_node.start_mark)
        data[json_key(key)] = loader.construct_object(value_node, deep=True)


def json_key(key):  # N10
    if key is None:
        raise yaml.constructor.ConstructorError(None, None, "null key", None)
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        if math.isnan(key) or math.isinf(key):
            return {True: ".inf", False: "-.inf"}[key > 0] if math.isinf(key) else ".nan"
        # Go's FormatFloat(f, 'g', -1, 32) for the simple keys the corpus uses
        text = repr(key)
        return text[:-2] if text.endswith(".0") else text
    return key


GoLoader.add_constructor("tag:go,number", construct_go_number)
GoLoader.add_constructor("tag:yaml.org,2002:int", construct_go_int)
GoLoader.add_constructor("tag:yaml.org,2002:float", construct_go_float)
GoLoader.add_constructor("tag:yaml.org,2002:binary", construct_binary)
GoLoader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))
GoLoader.add_constructor("tag:yaml.org,2002:map", construct_mapping)
GoLoader.add_constructor("tag:yaml.org,2002:null", construct_go_null)
GoLoader.add_constructor("tag:yaml.org,2002:bool", construct_go_bool)
GoLoader.add_multi_constructor("!", construct_unknown)
GoLoader.add_multi_constructor("tag:", construct_unknown)


class NotJson(Exception):
    pass


I64 = 2**63


def to_json(value, depth=0, path=()):
    """N11, N12, N13: the JSON sigs.k8s.io/yaml would give."""
    if any(value is p for p in path):
        raise NotJson("a node contains itself")
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if -I64 <= value < I64 else to_json(float(value))
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise NotJson("NaN or infinity")
        if value.is_integer() and -I64 <= value < I64:
            return int(value)
        return value
    if isinstance(value, list):
        return [to_json(v, depth + 1, path + (value,)) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v, depth + 1, path + (value,)) for k, v in value.items()}
    raise NotJson(f"unexpected {type(value).__name__}")


GO_YAML = {
    "anchor redefined": {"docs": [{"a": 1, "b": 1, "c": 2, "d": 2}]},  # N15
    "tagged '! 12'": {"docs": [{"v": "12"}]},  # N16
    "yaml directive 1.2": {"error": {"line": 1, "column": 1}},  # N17
    "double quoted escapes": {"error": None},  # N18
    "double quoted slash": {"error": None},  # N18
}


def expected(text):
    """What the runner must read: the documents' JSON, or an error (with the
    1-based line and column when libyaml's scanner or parser refused it)."""
    try:
        docs = list(yaml.load_all(text, Loader=GoLoader))
    except yaml.MarkedYAMLError as err:
        from_libyaml = isinstance(err, (yaml.scanner.ScannerError, yaml.parser.ParserError))
        mark = err.problem_mark
        if from_libyaml and mark is not None:
            return {"error": {"line": mark.line + 1, "column": mark.column + 1, "problem": err.problem}}
        return {"error": None}
    except yaml.YAMLError:
        return {"error": None}
    except RecursionError:
        return {"error": None}
    try:
        return {"docs": [to_json(d) for d in docs if d is not None]}  # N14
    except NotJson:
        return {"error": None}


# ---------------------------------------------------------------------------
# The corpus.
# ---------------------------------------------------------------------------


def corpus():
    cases = []

    def add(name, text):
        cases.append((name, text))

    # The three shapes of issue #20: libyaml reads them, saphyr-parser did not.
    add("shape1 quoted continued at the key's indentation", "metadata:\n  annotations:\n    x: '[\n        1\n    ]'\n")
    add("shape2 flow sequence closed at the key's indentation",
        "spec:\n  containers:\n  - name: a\n    args: [\n      \"-a\",\n    ]\n")
    add("shape3 flow sequence continued at the key's indentation",
        "spec:\n  containers:\n  - name: a\n    args: [\"a\",\n    \"b\"]\n")

    # Indentation of block mappings and sequences.
    for step in range(1, 5):
        pad = " " * step
        add(f"indent {step} mapping", f"a:\n{pad}b:\n{pad}{pad}c: 1\n{pad}d: 2\ne: 3\n")
        add(f"indent {step} sequence under key", f"a:\n{pad}- 1\n{pad}- b: 2\n{pad}  c: 3\n")
        add(f"indent {step} sequence of sequences", f"-{pad}- 1\n {pad}- 2\n- 3\n")
        add(f"indent {step} compact nested", f"- a: 1\n{pad}  b: 2\n")
        add(f"indent {step} mismatched sibling", f"a:\n{pad}  b: 1\n{pad}c: 2\n")
        add(f"indent {step} less indented sibling", f"a:\n{pad}{pad}b: 1\n{pad}c: 2\n")
    add("sequence at key's indentation", "a:\n- 1\n- 2\nb: 3\n")
    add("sequence items at two indentations", "a:\n  - 1\n - 2\n")
    add("sequence entry then key at same indentation", "- a\nb: 1\n")
    add("nested sequence same line", "- - - x\n    - y\n  - z\n")

    # Flow collections over several lines, closed and continued at various
    # indentations relative to their key.
    for key_indent in (0, 2, 4):
        kpad = " " * key_indent
        parent = "" if key_indent == 0 else "".join(f"{' ' * i}p{i}:\n" for i in range(0, key_indent, 2))
        for cont in (0, 1, 2, 4, 6, 8):
            cpad = " " * cont
            for close in sorted({0, 2, key_indent, key_indent + 2}):
                clpad = " " * close
                add(f"flow seq key@{key_indent} items@{cont} close@{close}",
                    f"{parent}{kpad}k: [\n{cpad}a,\n{cpad}\"b\",\n{clpad}]\n{kpad}z: 1\n")
                add(f"flow map key@{key_indent} items@{cont} close@{close}",
                    f"{parent}{kpad}k: {{\n{cpad}a: 1,\n{cpad}b: [x,\n{cpad}y]\n{clpad}}}\n{kpad}z: 1\n")
            add(f"flow seq continued key@{key_indent} at@{cont}",
                f"{parent}{kpad}k: [a,\n{cpad}b, c]\n{kpad}z: 1\n")
            add(f"flow map continued key@{key_indent} at@{cont}",
                f"{parent}{kpad}k: {{a: 1,\n{cpad}b: 2}}\n{kpad}z: 1\n")
            add(f"flow in sequence item@{key_indent} at@{cont}",
                f"{parent}{kpad}- [a,\n{cpad}b]\n{kpad}- c\n")
    add("flow trailing comma", "a: [1, 2, ]\nb: {x: 1, }\n")
    add("flow double comma", "a: [1, , 2]\n")
    add("flow empty", "a: []\nb: {}\nc: [ ]\n")
    add("flow nested deep", "a: [[[[1]], {b: [c, {d: e}]}]]\n")
    add("flow single pair in sequence", "a: [b: 1, c: 2]\n")
    add("flow colon without space", "a: [b:c, 'd':e, \"f\":g]\n")
    add("flow url value", "a: [http://x.example/a, {u: http://y}]\n")
    add("flow unclosed", "a: [1, 2\nb: 3\n")
    add("flow unclosed map", "a: {x: 1\n")
    add("flow extra closer", "a: [1]]\n")
    add("flow key on next line", "{a\n: 1}\n")
    add("flow multiline key", "{a: 1, ? b\n  c : 2}\n")
    add("flow plain multiline", "[a\n  b, c]\n")
    add("flow quoted multiline", "['a\n  b', \"c\n\n  d\"]\n")
    add("top flow then block", "[a, b]\nc: d\n")
    add("flow block sequence inside", "[- a]\n")

    # Multi-line scalars.
    for cont in (0, 1, 2, 3, 6):
        cpad = " " * cont
        add(f"plain multiline at {cont}", f"a:\n  b: one\n{cpad}two\n{cpad}  three\n  c: 1\n")
        add(f"single quoted multiline at {cont}", f"a:\n  b: 'one\n{cpad}two ''q''\n\n{cpad}three'\n  c: 1\n")
        add(f"double quoted multiline at {cont}", f"a:\n  b: \"one\\\n{cpad}two \\\"q\\\"\n\n{cpad}  three\\tx\"\n  c: 1\n")
        add(f"plain multiline top at {cont}", f"one\n{cpad}two\n")
        add(f"plain in sequence at {cont}", f"- one\n{cpad}two\n- three\n")
    add("plain with colon and hash", "a: b:c d#e f # comment\n")
    add("plain starting with indicator", "a: -b\nb: ?c\nc: :d\n")
    add("plain colon space inside", "a: b: c\n")
    add("double quoted escapes", 'a: "\\x41\\u00e9\\U0001F600\\n\\t\\\\\\/\\0\\a\\b\\e\\f\\r\\v\\N\\_\\L\\P"\n')
    add("double quoted bad escape", 'a: "\\q"\n')
    add("double quoted slash", 'a: "x\\/y"\n')
    add("double quoted backslash then slash", 'a: "x\\\\/y"\n')
    add("single quoted unterminated", "a: 'b\nc: d\n")
    add("double quoted unterminated", "a: \"b\n")
    add("quoted then junk", "a: 'b' c\n")
    add("quoted key", "'a b': 1\n\"c\\td\": 2\n")
    add("multiline quoted key", "'a\n  b': 1\n")
    add("long plain key", "a" * 1100 + ": 1\n")

    # Block scalars with indicators.
    headers = ["|", "|-", "|+", ">", ">-", ">+", "|2", ">1", "|-2", ">+1", "|2-", "| # c", ">-  # c"]
    bodies = [
        "  line1\n  line2\n",
        "  line1\n\n  line2\n\n\n",
        "\n\n  after blanks\n",
        "  folded\n  text\n    more indented\n  back\n",
        "    deep\n  shallow\n",
        "  \ttab inside\n",
        "",
    ]
    for h in headers:
        for i, body in enumerate(bodies):
            add(f"block {h!r} body {i}", f"a: {h}\n{body}b: 1\n")
            add(f"block {h!r} body {i} at end", f"a: {h}\n{body}")
            add(f"block {h!r} body {i} in sequence", f"- {h}\n{body}- x\n")
    add("block indicator 0", "a: |0\n  x\n")
    add("block indicator bad", "a: |x\n  x\n")
    add("block less indented than indicator", "a: |4\n  x\n")
    add("block top level", "--- |\n  text\n...\n")
    add("block keep at stream end", "a: |+\n  x\n\n\n")

    # Anchors, aliases and merge keys.
    add("anchor scalar", "a: &x 1\nb: *x\n")
    add("anchor map", "a: &m {x: 1, y: 2}\nb: *m\n")
    add("anchor seq", "a: &s [1, 2]\nb: *s\n")
    add("merge one", "base: &b {x: 1, z: 2}\nobj:\n  <<: *b\n  z: 3\n")
    add("merge list", "a: &a {x: 1}\nb: &b {x: 2, w: 3}\nc:\n  <<: [*a, *b]\n  v: 4\n")
    add("merge inline", "a:\n  <<: {x: 1}\n  z: 2\n")
    add("merge block after keys", "b: &b\n  x: 1\nc:\n  z: 2\n  <<: *b\n")
    add("merge override later", "b: &b {x: 1}\nc:\n  <<: *b\n  x: 2\n")
    add("merge scalar refused", "a:\n  <<: 5\n")
    add("merge quoted is a key", "'<<': 1\n")
    add("merge list with scalar", "a: &a {x: 1}\nb:\n  <<: [*a, 3]\n")
    add("anchor redefined", "a: &x 1\nb: *x\nc: &x 2\nd: *x\n")
    add("alias undefined", "a: *nope\n")
    add("alias recursive", "a: &x [1, *x]\n")
    add("alias as key", "a: &k key\n*k : 1\n")
    add("anchor on empty", "a: &e\nb: *e\n")
    add("anchor in flow", "[&a x, *a, {&b k: *a}]\n")
    add("anchor before sequence entry", "a: &s\n- 1\n- 2\nb: *s\n")
    add("anchor and tag", "a: !!str &x 1\nb: &y !!int '2'\nc: [*x, *y]\n")
    add("alias with anchor", "a: &x 1\nb: &y *x\n")

    # Comments in odd places.
    add("comment after key", "a: # c\n  b\n")
    add("comment between items", "- a\n# c\n- b\n  # d\n- c\n")
    add("comment in flow", "a: [b, # c\n  d]\n")
    add("comment in flow map", "a: {x: 1, # c\n  y: 2}\n")
    add("hash without space", "a: b#c\nd: 'e'#f\n")
    add("comment in block scalar", "a: |\n  x\n  # not a comment\nb: 1\n")
    add("comment after block scalar", "a: |\n  x\n# a comment\nb: 1\n")
    add("comment more indented after block", "a: |\n  x\n    # inside\n")
    add("comment at column 0 in mapping", "a:\n  b: 1\n# c\n  d: 2\n")
    add("comment only", "# only\n")
    add("comment after document marker", "--- # c\na: 1\n... # d\n")

    # Tabs.
    add("tab after colon", "a:\tb\n")
    add("tab indentation", "a:\n\tb: 1\n")
    add("tab after indentation", "a:\n  \tb: 1\n")
    add("tab in quoted", "a: 'x\ty'\nb: \"x\ty\"\n")
    add("tab in flow", "a: [\tb,\tc]\n")
    add("tab before comment", "a: b\t# c\n")
    add("tab in plain", "a: b\tc\n")
    add("tab after dash", "-\ta\n")
    add("tab line in block scalar", "a: |\n  x\n\t\n")

    # Document markers and directives.
    add("two documents", "a: 1\n---\nb: 2\n")
    add("document end marker", "a: 1\n...\n---\nb: 2\n")
    add("marker with value", "--- a\n--- [b]\n")
    add("empty documents", "---\n---\n...\n---\na: 1\n")
    add("yaml directive 1.1", "%YAML 1.1\n---\na: 1\n")
    add("yaml directive 1.2", "%YAML 1.2\n---\na: 1\n")
    add("yaml directive 2.0", "%YAML 2.0\n---\na: 1\n")
    add("tag directive", "%TAG !e! tag:example.com,2000:\n---\na: !e!x 1\n")
    add("directive without marker", "%YAML 1.1\na: 1\n")
    add("marker inside quoted", "a: '\n---\n'\n")
    add("document end then content", "a: 1\n...\nb: 2\n")
    add("null document", "~\n---\nnull\n")
    add("marker in plain", "a: b\n--- \nc: d\n")

    # Byte order marks.
    add("bom at start", "\ufeffa: 1\n")
    add("bom at later document", "a: 1\n---\n\ufeffb: 2\n")
    add("bom in value", "a: x\ufeffy\n")

    # Scalars YAML 1.1 resolves (go-yaml's way, after the normalisations).
    scalars = [
        "yes", "No", "ON", "off", "y", "N", "true", "False", "~", "null", "Null", "NULL", "", "nul",
        "0644", "0o17", "0x1F", "0b101", "-0b11", "1_000", "+5", "08", "09.5", "1.0", "1.5", ".5", "1e3", "1E-2",
        "-1.5e+3", "1.", "2001-12-14", "2001-12-14t21:59:43.10-05:00", "1:20", "1:20.5", "=", "0x", "1.2.3",
        "9223372036854775807", "9223372036854775808", "-9223372036854775808", "18446744073709551616",
        ".inf", "-.Inf", ".NaN", "<<", "-", "+", ".", "0", "-0", "00", "0.0", "+.5", "1__0", "_1", "0_7",
    ]
    for s in scalars:
        add(f"scalar {s!r} plain", f"v: {s}\n" if s else "v:\n")
        add(f"scalar {s!r} single", f"v: '{s}'\n")
        add(f"scalar {s!r} in flow", f"v: [{s}]\n" if s else "v: [ ]\n")
        if s and s not in ("<<", "-", "=") and len(s) < 16:
            add(f"scalar {s!r} as key", f"{s}: v\n")
    tagged = [
        "!!str 1", "!!str yes", "!!int '12'", "!!int \"0x10\"", "!!int abc", "!!float 3", "!!float '1e3'",
        "!!bool 'yes'", "!!null ''", "!!null 'x'", "!!binary aGVsbG8=", "!!binary '=='", "!!binary |\n  aGVs\n  bG8=",
        "!!binary /w==", "!local 1", "!local {a: 1}", "!local [1]", "! 12", "!<tag:example.com,2000:x> y",
        "!!timestamp 2001-12-14", "!!str", "!!map {a: 1}", "!!seq [1]",
    ]
    for t in tagged:
        add(f"tagged {t!r}", f"v: {t}\n")

    # Keys.
    add("duplicate key", "a: 1\na: 2\n")
    add("duplicate key nested", "m:\n  a: 1\n  b: 2\n  a: 3\n")
    add("duplicate after resolution", "yes: 1\ntrue: 2\n")
    add("duplicate flow", "{a: 1, a: 2}\n")
    add("null key", "~: 1\n")
    add("empty key", ": 1\n")
    add("complex key", "? [a]\n: 1\n")
    add("complex map key", "? {a: 1}\n: 1\n")
    add("explicit key", "? a\n: 1\n? b\n")
    add("explicit key multiline", "? |\n  block key\n: 1\n")
    add("int and bool keys", "1: a\n0x10: b\nno: c\n")
    add("float key", "1.5: a\n")

    # Invalid documents.
    add("key value on one line twice", "a: b: c\n")
    add("bad indentation value", "a:\n  b: 1\n c: 2\n")
    add("sequence in mapping value line", "a: - b\n")
    add("mapping after sequence", "- a\n- b\nc: d\n")
    add("unexpected end of flow", "]\n")
    add("alias with content", "a: *x y\n")
    add("anchor without name", "a: & b\n")
    add("tag without suffix", "a: !<> b\n")
    add("reserved indicator", "a: @b\nc: `d\n")
    add("tab then text at top", "\ta: 1\n")
    add("control character", "a: b\x07c\n")
    add("unpaired surrogate escape", "a: \"\\ud800\"\n")
    add("invalid utf8 escape range", "a: \"\\U00110000\"\n")
    add("block mapping in flow", "[a: b: c]\n")
    add("missing colon in block", "a:\n  b\n  c: 1\n")
    add("key without value at end", "a: 1\nb\n")
    add("question mark alone", "?\n")
    add("deep nesting", "a: " + "[" * 50 + "]" * 50 + "\n")
    add("very long line", "a: " + "x" * 5000 + "\n")
    add("unicode", "é: ü\n日本: 語\n")
    add("crlf line endings", "a: 1\r\nb:\r\n  - x\r\n  - 'y\r\n    z'\r\n")
    add("cr only", "a: 1\rb: 2\r")
    add("nbsp in plain", "a: b\u00a0c\n")
    add("line separator", "a: b\u2028c\n")
    add("nel", "a: b\u0085c\n")

    # Kubernetes-shaped documents with the above mixed in.
    add("deployment", (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web  # c\n  labels: {app: web,\n    tier: front}\n"
        "spec:\n  template:\n    spec:\n      containers:\n      - name: a\n        args: [\n          \"--x\",\n        ]\n"
        "        env:\n        - {name: A, value: 'on'}\n        - name: B\n          value: >-\n            folded\n            text\n"
        "      volumes:\n      - name: s\n        secret: {secretName: s, defaultMode: 0440}\n"))
    return cases


def main():
    args = sys.argv[1:]
    write = None
    if "--write" in args:
        write = args[args.index("--write") + 1]
    cases = corpus()
    names = [n for n, _ in cases]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        sys.exit(f"yaml_corpus: duplicate case names: {sorted(dupes)[:5]}")
    records = []
    for name, text in cases:
        records.append({"name": name, "text": text, "expect": GO_YAML.get(name) or expected(text)})
    accepted = sum(1 for r in records if "docs" in r["expect"])
    refused = len(records) - accepted
    path = write or os.path.join(tempfile.mkdtemp(prefix="yaml-corpus-"), "corpus.json")
    with open(path, "w", encoding="utf-8") as out:
        json.dump(records, out, ensure_ascii=False, indent=0)
    print(f"yaml_corpus: {len(records)} documents ({accepted} accepted, {refused} refused by libyaml + go-yaml rules) in {path}")
    if "--no-run" in args:
        return 0
    env = dict(os.environ, KUBE_YAML_CORPUS=path)
    cmd = [
        os.environ.get("CARGO", "cargo"), "test", "--release", "--locked",
        "--manifest-path", os.path.join(ROOT, "runner", "Cargo.toml"),
        "--bin", "policy-runner", "libyaml_corpus", "--", "--ignored", "--nocapture",
    ]
    try:
        return subprocess.run(cmd, env=env, check=False).returncode
    finally:
        if not write:
            os.remove(path)
            os.rmdir(os.path.dirname(path))


if __name__ == "__main__":
    sys.exit(main())
