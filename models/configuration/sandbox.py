"""The sandbox user templates run in: immutable, strict, bounded in time, memory and output.

Jinja's own sandbox keeps templates away from Python internals; this one also refuses what
would build a huge value before it exists, and what would take too long:

- `*`, `**`, `+` and `%` are checked on their operands first, and `~` on its result (at most
  twice the limit): a string or list longer than `MAX_VALUE_LENGTH`, an integer power of more
  than `MAX_POWER_BITS` bits, a width in a `%` or `str.format` format or a padding filter
  (`center`, `indent`, `format`) larger than the limit; `join`, `replace` and `indent`
  estimate their result before building it;
- `range` is bounded by Jinja (100,000 items) and checks the clock as it goes; every call,
  filter and operator checks it too, so a render stops after `MAX_RENDER_SECONDS`;
- what a template prints must be data: a function, a method, a macro or a template object
  (`{{ lipsum }}`, `{{ order.items }}`, `{{ self }}`) is refused, not rendered as `<function ...>`.

The output itself is bounded by `templates.MAX_RENDERED_CHARS`.
"""

from __future__ import annotations

import contextvars
import functools
import math
import re
import string
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from jinja2 import StrictUndefined
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.nodes import Concat
from jinja2.runtime import Context, Macro, Undefined
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment

MAX_VALUE_LENGTH = 500_000
MAX_POWER_BITS = 100_000
MAX_RENDER_SECONDS = 2.0
_CHECK_EVERY = 1_000

_deadline: contextvars.ContextVar[float] = contextvars.ContextVar("deadline", default=math.inf)


class TemplateLimitError(SecurityError):
    """A template would build too large a value, or take too long; the message says which."""


@contextmanager
def render_deadline(seconds: float = MAX_RENDER_SECONDS) -> Iterator[None]:
    """Inside, a render that runs past `seconds` stops with `TemplateLimitError`."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def check_clock() -> None:
    """Stop a render that ran out of time."""
    if time.monotonic() > _deadline.get():
        raise TemplateLimitError(
            f"the template takes more than {MAX_RENDER_SECONDS:g} s to render; bound its loops"
        )


def _length(value: Any) -> int | None:
    return len(value) if isinstance(value, str | list | tuple) else None


def _too_long(size: int) -> TemplateLimitError:
    return TemplateLimitError(
        f"the template builds a value of {size:,} items or characters (the limit is "
        f"{MAX_VALUE_LENGTH:,}); shorten it"
    )


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "*":
        for sequence, count in ((left, right), (right, left)):
            length = _length(sequence)
            if length is not None and isinstance(count, int) and length * count > MAX_VALUE_LENGTH:
                raise _too_long(length * count)
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
            bits = right * math.log2(abs(left))
            if bits > MAX_POWER_BITS:
                raise TemplateLimitError(
                    f"the template computes a number of about {bits:,.0f} bits "
                    f"({left} ** {right}); the limit is {MAX_POWER_BITS:,}"
                )
    elif operator == "+":
        left_length, right_length = _length(left), _length(right)
        if left_length is not None and right_length is not None:
            if left_length + right_length > MAX_VALUE_LENGTH:
                raise _too_long(left_length + right_length)
    elif operator == "%" and isinstance(left, str):
        _check_widths(right, *(int(width) for width in _PERCENT_WIDTH.findall(left)))


# The width or precision of a %-format (`%010d`, `%.5s`) and of a str.format spec.
_PERCENT_WIDTH = re.compile(r"%[-+ #0]*(\d+)")
_SPEC_NUMBER = re.compile(r"\d+")


def _check_format_spec(template: str) -> None:
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return  # str.format raises its own error for a malformed template
    for _, _, spec, _ in fields:
        _check_widths(*(int(number) for number in _SPEC_NUMBER.findall(spec or "")))


def _check_widths(*values: Any) -> None:
    """Integers given to a format or padding: each is at most a width the output can hold."""
    for value in values:
        items = value if isinstance(value, tuple | list) else (value,)
        for item in items:
            if isinstance(item, int) and abs(item) > MAX_VALUE_LENGTH:
                raise TemplateLimitError(
                    f"the template asks for a width of {item:,} characters (the limit is "
                    f"{MAX_VALUE_LENGTH:,})"
                )


class _BoundedRange:
    """`range()` in templates: at most `MAX_RANGE` items, the clock checked as it goes."""

    def __init__(self, *args: int) -> None:
        self.numbers = range(*args)
        if len(self.numbers) > MAX_RANGE:
            raise TemplateLimitError(
                f"range of {len(self.numbers):,} items; the limit is {MAX_RANGE:,}"
            )

    def __len__(self) -> int:
        return len(self.numbers)

    def __iter__(self) -> Iterator[int]:
        for index, number in enumerate(self.numbers):
            if index % _CHECK_EVERY == 0:
                check_clock()
            yield number


def _padding(filter_function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(filter_function)  # keeps Jinja's pass_environment / pass_eval_context
    def padded(*args: Any, **kwargs: Any) -> Any:
        _check_widths(*args[1:], *kwargs.values())
        return filter_function(*args, **kwargs)

    return padded


def _growth(filter_function: Callable[..., Any], size: Callable[..., int]) -> Callable[..., Any]:
    """A filter whose result may outgrow its input: its `size` estimated before it runs."""

    @functools.wraps(filter_function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        estimate = size(*args, **kwargs)
        if estimate > MAX_VALUE_LENGTH:
            raise _too_long(estimate)
        return filter_function(*args, **kwargs)

    return bounded


def _join_size(context: Any, value: Any, separator: str = "", *args: Any, **kwargs: Any) -> int:
    count = len(value) if hasattr(value, "__len__") else 0
    return count * len(str(separator))


def _replace_size(context: Any, text: Any, old: Any = "", new: Any = "", *args: Any) -> int:
    source, old_text = str(text), str(old)
    return source.count(old_text) * len(str(new)) if old_text else len(source) * len(str(new))


def _indent_size(text: Any, width: Any = 4, *args: Any, **kwargs: Any) -> int:
    spaces = width if isinstance(width, int) else len(str(width))
    return str(text).count("\n") * spaces


class _BoundedGenerator(CodeGenerator):
    """`a ~ b` (string concatenation) is checked like `+`: the code calls the environment."""

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        self.write("environment.checked_length(")
        super().visit_Concat(node, frame)
        self.write(")")


def printable(value: Any) -> Any:
    """What `{{ ... }}` may print: data, not a function, macro or template object."""
    if isinstance(value, Undefined):
        return value
    if callable(value) or isinstance(value, Macro) or type(value).__module__.startswith("jinja2"):
        raise SecurityError(
            f"the template prints a {type(value).__name__} ({value!r:.40}), not a value; "
            "print one of the names it is given"
        )
    return value


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """`ImmutableSandboxedEnvironment` with the limits above."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _BoundedGenerator

    def __init__(self, **options: Any) -> None:
        super().__init__(undefined=StrictUndefined, finalize=printable, **options)
        for name in ("lipsum", "cycler", "joiner"):
            self.globals.pop(name, None)
        self.globals["range"] = _BoundedRange
        for name in ("center", "format", "truncate", "wordwrap"):
            self.filters[name] = _padding(self.filters[name])
        self.filters["indent"] = _growth(_padding(self.filters["indent"]), _indent_size)
        self.filters["join"] = _growth(self.filters["join"], _join_size)
        self.filters["replace"] = _growth(self.filters["replace"], _replace_size)

    def checked_length(self, value: Any) -> Any:
        """A concatenation's result, refused past `MAX_VALUE_LENGTH` (at most twice it)."""
        check_clock()
        if isinstance(value, str) and len(value) > MAX_VALUE_LENGTH:
            raise _too_long(len(value))
        return value

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        check_clock()
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        check_clock()
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`'{:>999999999}'.format(...)`: the widths of a format template checked first."""
        bound = getattr(value, "__self__", None)
        if getattr(value, "__name__", "") in ("format", "format_map") and isinstance(bound, str):
            _check_format_spec(bound)
        return super().wrap_str_format(value)
