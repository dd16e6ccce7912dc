"""What a controller's metric measures: PromQL-style queries read as an error ratio, a success ratio
or a latency quantile (of the canary, or of the canary against the stable version), threshold
conditions such as `result[0] >= 0.99`, and how often a Job check passes.

The reading is deliberately narrow: a shape it does not recognise is reported as unknown (the
importer then warns), never guessed.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

Metric = Literal["error_rate", "success_rate", "p50", "p99", "saturation"]


@dataclass(frozen=True)
class Shape:
    """A query read as `value = measure × scale` (a ratio as a share, a latency in milliseconds).

    baseline: the query compares the canary with the stable version: for a ratio, canary − factor ×
    stable; for a latency or saturation, canary ÷ stable (factor unused).
    """

    metric: Metric
    scale: float = 1.0
    baseline: bool = False
    factor: float = 1.0
    quantile: float | None = None
    unit_guessed: bool = False


# ---- limits: the readers below recurse into brackets and build one array per operator ----

#: A PromQL query or a Job's shell arithmetic is a line or a few; these leave ample room for real ones.
MAX_CHARS = 10_000
MAX_NESTING = 50
MAX_OPERATORS = 200


class TooComplex(ValueError):
    """An expression past the reader's limits: the importer refuses it in one line (never a
    RecursionError deep inside the reader)."""


def _bounded(expr: str) -> str:
    if len(expr) > MAX_CHARS:
        raise TooComplex(f"{len(expr):,} characters is over the limit of {MAX_CHARS:,} for an expression")
    depth = deepest = 0
    for c in expr:
        if c in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif c in _CLOSE:
            depth -= 1
    if deepest > MAX_NESTING:
        raise TooComplex(f"brackets nested {deepest} deep, over the limit of {MAX_NESTING}")
    return expr


# ---- a tiny reader of the top level of an expression ----

_OPEN, _CLOSE = "([{", ")]}"


def _strip(expr: str) -> str:
    expr = " ".join(expr.split())
    while expr.startswith("(") and _closing(expr, 0) == len(expr) - 1:
        expr = expr[1:-1].strip()
    return expr


def _closing(expr: str, start: int) -> int:
    depth, quote = 0, ""
    for i in range(start, len(expr)):
        c = expr[i]
        if quote:
            quote = "" if c == quote else quote
        elif c in "\"'`":
            quote = c
        elif c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
            if depth == 0:
                return i
    return -1


def _split(expr: str, ops: str) -> list[tuple[str, str]]:
    """Top-level operands of a chain of the given binary operators: [(op_before, operand), ...]."""
    parts: list[tuple[str, str]] = []
    depth, quote, start, op = 0, "", 0, ""
    for i, c in enumerate(expr):
        if quote:
            quote = "" if c == quote else quote
        elif c in "\"'`":
            quote = c
        elif c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
        elif depth == 0 and c in ops and i > 0:
            prev = expr[:i].rstrip()
            if c in "+-" and (not prev or prev[-1] in "+-*/" or re.search(r"[0-9.]e$", prev)):
                continue  # a sign or an exponent, not an operator
            parts.append((op, expr[start:i].strip()))
            op, start = c, i + 1
    parts.append((op, expr[start:].strip()))
    return parts


def _num(text: str) -> float | None:
    try:
        return float(_strip(text))
    except ValueError:
        return None


# ---- recognising the parts ----

_QUANTILE = re.compile(r"^histogram_quantile\s*\(\s*([0-9.]+)\s*,(.*)\)$", re.S)
_MATCHER = re.compile(r"(\w+)\s*(=~|!~|!=|=)\s*\"([^\"]*)\"")
_STATUS_LABELS = ("code", "status", "response_code", "status_code", "http_status", "response_status")
_STABLE_WORDS = ("stable", "baseline", "primary")
_CANARY_WORDS = ("canary", "latest", "preview")


def _side(text: str) -> str:
    low = text.lower()
    if any(w in low for w in _STABLE_WORDS):
        return "stable"
    return "canary" if any(w in low for w in _CANARY_WORDS) else "any"


def _counter_kind(text: str) -> str | None:
    """'error' or 'success' for a counter selection that picks failed or non-failed requests,
    'all' for all requests, None for something else."""
    for label, op, value in _MATCHER.findall(text):
        if label.lower() in _STATUS_LABELS and value.startswith("5"):
            return "error" if op in ("=", "=~") else "success"
    names = [n.lower() for n in re.findall(r"([A-Za-z_:][\w:]*)\s*[{\[]", text)]
    if any("error" in n or "fail" in n or "5xx" in n for n in names):
        return "error"
    if any("success" in n for n in names):
        return "success"
    if any(n.endswith(("_total", "_count")) or "request" in n for n in names):
        return "all"
    return None


def _latency_unit_ms(text: str) -> tuple[float, bool]:
    """Milliseconds per unit of the histogram the quantile is read from (Prometheus' base unit is the
    second; the unit is guessed as seconds when the metric name does not say)."""
    low = text.lower()
    if "millisecond" in low or re.search(r"_ms(_|\b)", low):
        return 1.0, False
    if "microsecond" in low or re.search(r"_us(_|\b)", low):
        return 1e-3, False
    if "second" in low:
        return 1000.0, False
    return 1000.0, True


def _utilisation(text: str) -> bool:
    low = text.lower()
    return any(w in low for w in ("utilization", "utilisation", "saturation"))


def _term(text: str) -> Shape | None:
    """A product/quotient chain: numbers scale it, and its one or two measurements say what it is."""
    chain = _split(_strip(text), "*/")
    scale, measures = 1.0, []
    for op, operand in chain:
        n = _num(operand)
        if n is not None:
            scale = scale / n if op == "/" else scale * n
        else:
            measures.append((op, _strip(operand)))
    if len(measures) == 1:
        body = measures[0][1]
        q = _QUANTILE.match(body)
        if q is not None and measures[0][0] != "/":
            ms_per_unit, guessed = _latency_unit_ms(q.group(2))
            quantile = float(q.group(1))
            metric: Metric = "p50" if quantile <= 0.75 else "p99"
            return Shape(metric, scale / ms_per_unit, quantile=quantile, unit_guessed=guessed)
        if _utilisation(body) and measures[0][0] != "/":
            return Shape("saturation", scale)
        inner = _shape(body) if body != _strip(text) else None
        if inner is not None and measures[0][0] != "/":
            return Shape(
                inner.metric,
                inner.scale * scale,
                inner.baseline,
                inner.factor,
                inner.quantile,
                inner.unit_guessed,
            )
        return None
    if len(measures) == 2 and measures[0][0] in ("", "*") and measures[1][0] == "/":
        top, bottom = measures[0][1], measures[1][1]
        qt, qb = _QUANTILE.match(top), _QUANTILE.match(bottom)
        if qt and qb and _side(top) == "canary" and _side(bottom) == "stable":
            quantile = float(qt.group(1))
            return Shape("p50" if quantile <= 0.75 else "p99", scale, baseline=True, quantile=quantile)
        if _utilisation(top) and _side(top) == "canary" and _side(bottom) == "stable":
            return Shape("saturation", scale, baseline=True)
        kind, whole = _counter_kind(top), _counter_kind(bottom)
        if kind in ("error", "success") and whole is not None and whole != kind:
            return Shape("error_rate" if kind == "error" else "success_rate", scale)
    return None


def _shape(text: str) -> Shape | None:
    terms = _split(_strip(text), "+-")
    if len(terms) == 1:
        return _term(terms[0][1])
    if len(terms) == 2 and terms[1][0] == "-":
        left, right = terms[0][1], terms[1][1]
        n = _num(left)
        inner = _term(right)
        if n is not None and inner is not None and inner.metric in ("error_rate", "success_rate"):
            if abs(n - inner.scale) <= 1e-9 * max(1.0, n):  # 1 − success = errors, 100 − error% = success%
                flipped: Metric = "success_rate" if inner.metric == "error_rate" else "error_rate"
                return Shape(flipped, inner.scale)
            return None
        a, b = _term(left), _term(right)
        if (
            a is None
            or b is None
            or a.metric != b.metric
            or a.scale <= 0
            or _side(left) != "canary"
            or _side(right) != "stable"
        ):
            return None
        if a.metric == "error_rate":  # canary errors − factor × stable errors
            return Shape("error_rate", a.scale, baseline=True, factor=b.scale / a.scale)
        if a.metric == "saturation" and abs(b.scale - a.scale) <= 1e-9:  # canary use − stable use
            return Shape("saturation", a.scale, baseline=True)
    return None


def classify(query: str) -> Shape | None:
    """What a query measures, or None when it is not one of the shapes the simulation has a judge for.
    Raises TooComplex past the limits."""
    return _shape(_bounded(query))


def lookback_s(query: str, placeholder_s: float | None = None) -> float | None:
    """The longest range selector ([1m], [5m]) in the query, in seconds; `{{ interval }}` placeholders
    (Flagger's metric interval) count as `placeholder_s`."""
    found = [
        float(n) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[u]
        for n, u in re.findall(r"\[\s*(\d+(?:\.\d+)?)([smhd])\s*\]", query)
    ]
    if placeholder_s is not None and re.search(r"\[\s*\{\{\s*\.?interval\s*\}\}\s*\]", query, re.I):
        found.append(placeholder_s)
    return max(found) if found else None


# ---- conditions ----

_CMP = re.compile(r"\bresult(?:\s*\[\s*0\s*\])?\s*(>=|<=|>|<|==)\s*(-?[0-9.]+(?:e-?\d+)?)")
_FLIP = {">=": "<=", "<=": ">=", ">": "<", "<": ">", "==": "=="}
_CMP_REV = re.compile(r"(-?[0-9.]+(?:e-?\d+)?)\s*(>=|<=|>|<|==)\s*result(?:\s*\[\s*0\s*\])?")


@dataclass(frozen=True)
class Condition:
    op: str  # one of >=, <=, >, <, ==
    value: float
    extra: bool  # the expression says more than this one comparison (an `||`, `isNaN`, ...)

    @property
    def upper(self) -> bool:
        """True for `result <= x` / `result < x`: the condition holds below the value."""
        return self.op in ("<=", "<")


def parse_condition(expr: str | None) -> Condition | None:
    """The comparison of `result` with a number in an Argo condition expression."""
    if not expr:
        return None
    found = [(op, float(v)) for op, v in _CMP.findall(expr)]
    found += [(_FLIP[op], float(v)) for v, op in _CMP_REV.findall(expr)]
    if len(found) != 1:
        return None
    op, value = found[0]
    rest = _CMP.sub("", _CMP_REV.sub("", expr)).strip()
    return Condition(op, value, bool(rest.strip("() ")))


# ---- Job checks ----

_ASSIGN = re.compile(r"(\w+)=\$\(\((.*?)\)\)(?=\s*(?:&&|;|$))")
_EXIT = re.compile(r"\bexit\s+(\$\w+|\$\{\w+\}|-?\d+|\$\(\((.*?)\)\))\s*$")


def _arith(expr: str) -> str:
    """Bash arithmetic as a Python expression: nested $(( )) become parentheses, $RANDOM becomes R."""
    out = expr.replace("$((", "((").replace("$RANDOM", "R").replace("${RANDOM}", "R")
    return re.sub(r"\bRANDOM\b", "R", out)


_ALLOWED = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Compare,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Mod,
    ast.Div,
    ast.FloorDiv,
    ast.USub,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.Eq,
    ast.NotEq,
)


def _eval(expr: str, r: np.ndarray) -> np.ndarray:
    """Evaluate bash integer arithmetic in R for every value of the array r at once."""
    operators = sum(c in "+-*/%<>=!" for c in expr)  # counted before parsing: the parser recurses too
    if operators > MAX_OPERATORS:
        raise TooComplex(
            f"{operators:,} operators is over the limit of {MAX_OPERATORS} for an arithmetic expression"
        )
    try:
        tree = ast.parse(_bounded(expr).strip().replace("/", "//"), mode="eval")
    except (RecursionError, MemoryError):  # a belt: the limits above keep the parser shallow
        raise TooComplex(f"nested too deeply for the limit of {MAX_NESTING}") from None
    nodes = list(ast.walk(tree))
    for node in nodes:
        if not isinstance(node, _ALLOWED):
            raise ValueError("unsupported")
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, int)
            and not -(2**63) <= node.value < 2**63
        ):
            raise ValueError("unsupported")  # bash's integers are 64-bit

    cmp = {
        ast.Lt: np.less,
        ast.LtE: np.less_equal,
        ast.Gt: np.greater,
        ast.GtE: np.greater_equal,
        ast.Eq: np.equal,
        ast.NotEq: np.not_equal,
    }

    def ev(node: ast.AST) -> np.ndarray:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return np.full_like(r, node.value)
        if isinstance(node, ast.Name) and node.id == "R":
            return r
        if isinstance(node, ast.UnaryOp):
            return -ev(node.operand)
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            return cmp[type(node.ops[0])](ev(node.left), ev(node.comparators[0])).astype(np.int64)
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Mod | ast.FloorDiv) and np.any(b == 0):
                raise ZeroDivisionError
            if isinstance(node.op, ast.Mod):
                return np.fmod(a, b)  # bash keeps the sign of the dividend
            if isinstance(node.op, ast.FloorDiv):
                return np.trunc(a / b).astype(np.int64)  # bash truncates towards zero
            return {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply}[type(node.op)](a, b)
        raise ValueError("unsupported")

    return ev(tree)


def job_pass_probability(script: str) -> float | None:
    """Chance that a Job's shell command exits 0, when it is a literal exit or a $RANDOM coin; None
    when it cannot be read, TooComplex past the limits.

    bash's $RANDOM is uniform over 0..32767, so the chance is counted exactly over all 32,768 values
    (`FLIP=$(($(($RANDOM%10))%2)) && exit $FLIP` passes when RANDOM % 10 is even: 1/2).
    """
    text = " ".join(_bounded(script).split())
    end = _EXIT.search(text)
    if end is None:
        return None
    if re.sub(r"&&|;|\s", "", _ASSIGN.sub("", text[: end.start()])):
        return None  # other commands run first: their outcome is not known here
    target, inline = end.group(1), end.group(2)
    if re.fullmatch(r"-?\d+", target):
        return 1.0 if int(target) == 0 else 0.0
    if inline is not None:
        expr = inline
    else:
        var = target.strip("${}")
        assigned = {name: body for name, body in _ASSIGN.findall(text[: end.start()])}
        if var not in assigned:
            return None
        expr = assigned[var]
    try:
        exits = _eval(_arith(expr), np.arange(32768, dtype=np.int64))
        return float(np.mean(exits == 0))
    except TooComplex:
        raise
    except (ValueError, SyntaxError, ZeroDivisionError, KeyError):
        return None
