"""The claim language: an experiment's expected outcome as a small expression, read safely.

An experiment file states what should happen as data (`claim.holds_if`), for example

    mean(epochs_to_90, sigmoid) > 2 * mean(epochs_to_90, relu)

and `python -m dlbench.experiments check` says whether it held on a sweep's runs. The text is
parsed with Python's `ast` module and then *interpreted* here node by node: only numbers, quoted
or bare names, `+ - * /`, unary minus, comparisons (`< <= > >= == !=`), `and`, `or`, `not`,
parentheses and calls of the whitelisted functions are accepted; anything else (attributes,
subscripts, lambdas, keyword arguments, unknown functions) is refused with one sentence when the
claim is read. Nothing is ever passed to `eval`.

Two levels use the same grammar with different functions:

- a **quantity** is one number per job (`claim.quantities`, or a built-in name such as `test/acc`),
  made from that job's `summary.json` with the JOB_FUNCTIONS;
- the **claim** compares aggregates over the seeds of named settings with the AGGREGATES, e.g.
  `median(epochs_to_criterion)`, `mean('test/acc', 'model=lstm dataset=adding')`.

A claim that one setting beats another is a claim about a difference that seeds make noisy, so
it is written with the INTERVAL_TESTS, which hold only when the 95% confidence interval of the
difference lies wholly on the claimed side of zero:

- `lower(q, A, B)` / `higher(q, A, B)`: paired over the seeds that ran both settings (the same
  seed gives the same data split and start in every setting), the differences d_i = q(A, seed i)
  - q(B, seed i); `lower(q, A, B, 2)` compares A with 2 x B (d_i = A_i - 2 B_i), and a fifth
  argument moves the line from zero: `higher('val/acc', A, B, 1, -0.03)` says A is no more than
  0.03 below B (the interval of A - B lies above -0.03: a non-inferiority margin);
- `below(q, value, A)` / `above(q, value, A)`: the mean of q over A's seeds against a number.

The interval is Student's t on the differences (`t_interval`): mean ± t(0.975, n-1) x sd / sqrt(n),
chosen over a bootstrap because with 5 to 10 seeds a percentile bootstrap is known to be too
narrow, while t is exact for normal differences and close for the rest at this n. A difference
that is "never" (a criterion not reached) on every seed is infinite and holds on its side; a
mix of reached and never cannot be given a t interval, and the comparison does not hold.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dlbench.errors import ConfigError
from dlbench.records.summary import Summary

Number = float
COMPARISONS: dict[type, tuple[str, Callable[[Any, Any], bool]]] = {
    ast.Lt: ("<", operator.lt),
    ast.LtE: ("<=", operator.le),
    ast.Gt: (">", operator.gt),
    ast.GtE: (">=", operator.ge),
    ast.Eq: ("==", operator.eq),
    ast.NotEq: ("!=", operator.ne),
}
ARITHMETIC: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: lambda a, b: a / b if b != 0 else (math.copysign(math.inf, a) if a != 0 else math.nan),
}
# The claim's functions: each takes a quantity and an optional setting selector...
PLAIN_AGGREGATES = ("mean", "median", "min", "max", "std", "count", "seeds")
# ... and the interval tests (true or false): (quantity, A, B[, factor[, margin]]) and (quantity, value[, A]).
PAIRED_TESTS = ("lower", "higher")
ONE_SAMPLE_TESTS = ("below", "above")
INTERVAL_TESTS = PAIRED_TESTS + ONE_SAMPLE_TESTS
AGGREGATES = PLAIN_AGGREGATES + INTERVAL_TESTS
CONFIDENCE = 0.95
# A quantity's functions: each reads one job's summary.
JOB_FUNCTIONS = ("metric", "summary", "best", "diverged", "history", "first_epoch", "lowest", "highest")
ALLOWED_NODES = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.USub,
    ast.UAdd,
    ast.Not,
    ast.BinOp,
    ast.Compare,
    ast.Call,
    ast.Name,
    ast.Constant,
    ast.Load,
    *ARITHMETIC,
    *COMPARISONS,
)


class ClaimError(ConfigError):
    """A claim or quantity that cannot be read or evaluated; one sentence, as every config error."""


def parse(text: str, functions: Sequence[str], where: str) -> ast.Expression:
    """`text` as an expression tree, after checking that it uses only the whitelisted parts.

    `where` names the text for the error (`claim.holds_if of experiment=lr`)."""
    if not isinstance(text, str) or not text.strip():
        raise ClaimError(f"{where} is empty; write an expression such as mean('test/acc') >= 0.9.")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise ClaimError(f"{where} = {text!r} cannot be read ({error.msg}); see docs/experiments.md.") from None
    for node in ast.walk(tree):
        if not isinstance(node, ALLOWED_NODES):
            raise ClaimError(
                f"{where} = {text!r} uses {type(node).__name__}, which claims do not allow; use numbers, names, "
                "+ - * /, comparisons, and/or/not and the functions " + ", ".join(functions) + "."
            )
        if (
            isinstance(node, ast.Constant)
            and not isinstance(node.value, (int, float, str))
            or (isinstance(node, ast.Constant) and isinstance(node.value, bool))
        ):
            raise ClaimError(f"{where} = {text!r}: {node.value!r} is not a number or a name.")
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else None
            if name not in functions:
                raise ClaimError(
                    f"{where} = {text!r} calls {ast.unparse(node.func)}, which is not one of "
                    + ", ".join(functions)
                    + "."
                )
            if node.keywords:
                raise ClaimError(f"{where} = {text!r}: {name}(...) takes no keyword arguments.")
    return tree


def word(node: ast.expr) -> str:
    """A function's argument that names something: a bare name, a quoted string or a number."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return repr(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        return "-" + word(node.operand)
    raise ClaimError(f"{ast.unparse(node)} should be a name, a quoted string or a number.")


@dataclass
class Trace:
    """What an evaluation looked at, line by line, for the verdict's numbers."""

    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        if line not in self.lines:
            self.lines.append(line)


def number_text(value: float) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "never" if value > 0 else "-inf"
    if value == int(value) and abs(value) < 1e7:
        return f"{int(value):d}"
    return f"{value:.4g}"


class Interpreter:
    """Walks a parsed expression. `call(name, arguments, node)` supplies the functions' values."""

    def __init__(self, call: Callable[[str, list[ast.expr], ast.Call], float], trace: Trace | None = None) -> None:
        self.call = call
        self.trace = trace

    def value(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return self.value(node.body)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                raise ClaimError(
                    f"'{node.value}' stands alone where a number is needed; quote names only as arguments."
                )
            return float(node.value)
        if isinstance(node, ast.Name):
            raise ClaimError(f"{node.id} stands alone where a number is needed; did you mean mean({node.id})?")
        if isinstance(node, ast.Call):
            return self.call(node.func.id, list(node.args), node)  # type checked by parse()
        if isinstance(node, ast.UnaryOp):
            operand = self.value(node.operand)
            if isinstance(node.op, ast.Not):
                return not operand
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp):
            return ARITHMETIC[type(node.op)](float(self.value(node.left)), float(self.value(node.right)))
        if isinstance(node, ast.BoolOp):
            results = [bool(self.value(value)) for value in node.values]  # every part, for the numbers
            return all(results) if isinstance(node.op, ast.And) else any(results)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        raise ClaimError(f"cannot evaluate {ast.unparse(node)}")  # parse() let nothing else through

    def compare(self, node: ast.Compare) -> bool:
        left_node, left = node.left, self.value(node.left)
        result = True
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self.value(right_node)
            symbol, function = COMPARISONS[type(op)]
            holds = bool(function(left, right))  # nan compares false: a missing number does not hold
            if self.trace is not None:
                shown = f"{ast.unparse(left_node)} {symbol} {ast.unparse(right_node)}"
                numbers = f"{number_text(left)} {symbol} {number_text(right)}"
                self.trace.add(f"{shown}: {numbers}, {'yes' if holds else 'no'}")
            result = result and holds
            left_node, left = right_node, right
        return result


# -- one job's quantities -------------------------------------------------------------------------
SUMMARY_NUMBERS = (
    "epochs_run",
    "epochs_to_criterion",
    "best_epoch",
    "wall_time_s",
    "time_per_epoch_s",
    "samples_per_s",
    "parameters",
    "effective_batch_size",
    "lr",
)
BUILT_IN = {
    "best": "best()",
    "diverged": "diverged()",
    **{name: f"summary('{name}')" for name in SUMMARY_NUMBERS},
}


def as_number(value: float | None) -> float:
    """A summary value as a float: `null` (not measured) is nan."""
    return math.nan if value is None else float(value)


def quantity_text(name: str, defined: Mapping[str, str]) -> str:
    """The per-job expression a quantity name stands for: a claim's own, a built-in, or a metric."""
    if name in defined:
        return str(defined[name])
    if name in BUILT_IN:
        return BUILT_IN[name]
    if "/" in name:  # test/acc, val/loss: the final metrics (test: on the best checkpoint)
        return f"metric('{name}')"
    known = ", ".join([*defined, *BUILT_IN])
    raise ClaimError(
        f"{name} is not a quantity of this claim; use a metric such as test/acc or val/loss, or one of: {known}."
    )


def _column(summary: Summary, key: str) -> list[float]:
    return [row[key] for row in summary.history if key in row]


OPERATORS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}


def job_value(summary: Summary, function: str, arguments: list[str]) -> float:
    """One JOB_FUNCTION on one job's summary (see docs/experiments.md, "The claim language")."""

    def need(count: int, form: str) -> None:
        if len(arguments) != count:
            raise ClaimError(f"{function}(...) takes {count} argument(s): {form}.")

    if function == "metric":
        need(1, "metric('test/acc')")
        return as_number(summary.metrics.get(arguments[0]))
    if function == "summary":
        need(1, "summary('epochs_run')")
        if arguments[0] not in SUMMARY_NUMBERS:
            raise ClaimError(f"summary('{arguments[0]}'): use one of {', '.join(SUMMARY_NUMBERS)}.")
        value = getattr(summary, arguments[0])
        if arguments[0] == "epochs_to_criterion" and value is None:
            return math.inf  # never met: later than any number of epochs
        return as_number(value)
    if function == "best":
        need(0, "best()")
        return summary.best.value if summary.best else math.nan
    if function == "diverged":
        need(0, "diverged()")
        return 1.0 if summary.status == "diverged" else 0.0
    if function == "history":
        need(2, "history('val/loss', -1), the value at an epoch (negative: from the end)")
        column = _column(summary, arguments[0])
        index = int(float(arguments[1]))
        return column[index] if -len(column) <= index < len(column) else math.nan
    if function in ("lowest", "highest"):
        need(1, f"{function}('val/loss')")
        finite = [value for value in _column(summary, arguments[0]) if not math.isnan(value)]
        if not finite:
            return math.nan
        return min(finite) if function == "lowest" else max(finite)
    if function == "first_epoch":
        need(3, "first_epoch('val/acc', '>=', 0.9), the number of epochs until it first holds")
        compare = OPERATORS.get(arguments[1])
        if compare is None:
            raise ClaimError(f"first_epoch(...): the comparison must be one of {', '.join(OPERATORS)}.")
        threshold = float(arguments[2])
        for epoch, value in enumerate(_column(summary, arguments[0])):
            if compare(value, threshold):
                return float(epoch + 1)
        return math.inf
    raise ClaimError(f"{function} is not a quantity function; use one of {', '.join(JOB_FUNCTIONS)}.")


def evaluate_quantity(tree: ast.Expression, summary: Summary) -> float:
    """A parsed quantity's value on one job."""

    def call(name: str, arguments: list[ast.expr], node: ast.Call) -> float:
        return job_value(summary, name, [word(argument) for argument in arguments])

    return float(Interpreter(call).value(tree))


# -- aggregates over the seeds of a setting -------------------------------------------------------
def aggregate(name: str, values: list[float]) -> float:
    """mean, median, min, max, std (n - 1) over the seeds; `count`: how many are finite (a
    criterion met, a number not nan); `seeds`: how many there are. A nan among the values makes
    every statistic nan (a missing number is not skipped); `never` (inf) counts as later than any."""
    if name == "seeds":
        return float(len(values))
    if name == "count":
        return float(sum(math.isfinite(value) for value in values))
    if not values or any(math.isnan(value) for value in values):
        return math.nan
    if name == "mean":
        return math.fsum(values) / len(values) if all(math.isfinite(v) for v in values) else _infinite_mean(values)
    ordered = sorted(values)
    if name == "median":
        middle = len(ordered) // 2
        if len(ordered) % 2:
            return ordered[middle]
        low, high = ordered[middle - 1], ordered[middle]
        return high if math.isinf(high) else (low + high) / 2
    if name == "min":
        return ordered[0]
    if name == "max":
        return ordered[-1]
    if name == "std":
        if len(values) < 2:
            return 0.0
        if not all(math.isfinite(value) for value in values):
            return math.nan
        mean = math.fsum(values) / len(values)
        return math.sqrt(math.fsum((value - mean) ** 2 for value in values) / (len(values) - 1))
    raise ClaimError(f"{name} is not an aggregate; use one of {', '.join(AGGREGATES)}.")


def _infinite_mean(values: list[float]) -> float:
    signs = {math.copysign(1.0, value) for value in values if math.isinf(value)}
    return math.nan if len(signs) > 1 else math.inf * signs.pop()


# -- intervals ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Interval:
    """The mean of n numbers (differences, or values) and its two-sided confidence interval."""

    mean: float
    low: float
    high: float
    n: int
    never: int = 0  # how many of the numbers were infinite (a criterion never reached)

    def excludes(self, value: float, side: str) -> bool:
        """Whether the whole interval lies below (`side` 'below') or above `value`; nan never does."""
        return self.high < value if side == "below" else self.low > value

    def text(self) -> str:
        if self.never and self.never < self.n:
            return f"{number_text(self.mean)} ({self.never} of {self.n} never: no t interval)"
        return f"{number_text(self.mean)} [{number_text(self.low)}, {number_text(self.high)}]"


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """Student's t interval of the mean: mean ± t((1 + confidence) / 2, n - 1) · sd / sqrt(n).

    Infinite values (never) make the interval infinite when all are of one sign, and undefined
    (nan) when mixed with finite ones; fewer than two values give no interval (nan)."""
    from scipy import stats

    values = [float(value) for value in values]
    n = len(values)
    infinite = [value for value in values if math.isinf(value)]
    if any(math.isnan(value) for value in values) or n == 0:
        return Interval(math.nan, math.nan, math.nan, n)
    if infinite:
        if len(infinite) == n and len({math.copysign(1, value) for value in infinite}) == 1:
            return Interval(infinite[0], infinite[0], infinite[0], n, n)
        return Interval(
            _infinite_mean(infinite) if len(infinite) == n else math.nan, math.nan, math.nan, n, len(infinite)
        )
    mean = math.fsum(values) / n
    if n < 2:
        return Interval(mean, math.nan, math.nan, n)
    sd = math.sqrt(math.fsum((value - mean) ** 2 for value in values) / (n - 1))
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def paired_differences(a: Mapping[str, float], b: Mapping[str, float], factor: float = 1.0) -> dict[str, float]:
    """a[seed] - factor * b[seed] for each seed both have; never - never is undefined (nan)."""
    out = {}
    for seed in a:
        if seed in b:
            left, right = a[seed], factor * b[seed]
            out[seed] = math.nan if math.isinf(left) and math.isinf(right) and left == right else left - right
    return out
