"""The ``-S/--set-param`` grammar: parsing, sweeps, and checking against files.

One ``-S`` value holds one or more comma-separated assignments::

    lr=0.001                        set (added, with a warning, if absent)
    lr=0.001,units=128              several at once
    myparams.toml:lr=0.0001         in another params file
    +dropout=0.2                    add: refused if the key exists
    ++dropout=0.2                   add or set
    ~dropout   ~dropout=0.2         delete: refused if absent (or not equal)
    lr=choice(0.1,0.01)             a sweep over the listed values
    units=range(16,65,16)           a sweep like Python's range (floats too)
    lr=0.1,0.01                     a bare value continues the previous sweep

Values are YAML scalars or flow collections (``0.001``, ``128``, ``true``,
``null``, ``[1, 2]``, ``{a: 1}``, ``'quoted'``), so ``-S`` means the same
thing for every params format. Commas inside brackets, braces, parentheses
or quotes do not split.

``parse`` turns the ``-S`` values into ``Override`` objects, ``expand``
multiplies sweeps out into one override list per experiment, and
``validate`` checks one such list against the files and returns the
``Change`` lists to write (``trails.params.update_files``) plus warnings.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from trails import yamlio
from trails.confine import confined
from trails.errors import TrailsError
from trails.params import (
    DEFAULT_FILE,
    Change,
    ParamsError,
    apply_changes,
    flatten,
    format_of,
    get,
    has,
    load_file,
    same,
    split_key,
)

Op = Literal["set", "add", "force", "delete"]
_PREFIX: dict[Op, str] = {"set": "", "add": "+", "force": "++", "delete": "~"}
_GRAMMAR = (
    "Write key=value (comma-separated for several), file.toml:key=value for another file, "
    "+key=value to add, ++key=value to add or set, ~key to delete, "
    "key=choice(a,b) / key=range(start,stop,step) / key=a,b to sweep."
)
_MAX_SWEEP = 10_000


@dataclass(frozen=True)
class Override:
    """One ``-S`` assignment: ``op`` on ``key`` in params ``file`` (relative
    to the project root). ``values`` holds one value, several for a sweep,
    and none for a plain ``~key``."""

    file: str
    key: str
    op: Op
    values: tuple[Any, ...]

    @property
    def is_sweep(self) -> bool:
        return len(self.values) > 1

    @property
    def value(self) -> Any:
        """The single value (``None`` for a plain delete)."""
        if self.is_sweep:
            raise ValueError(f"{self} is a sweep; expand() it first")
        return self.values[0] if self.values else None

    def __str__(self) -> str:
        head = f"{self.file}:{_PREFIX[self.op]}{self.key}"
        if not self.values:
            return head
        shown = ",".join(_show(v) for v in self.values)
        return f"{head}={shown}"


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- Splitting ------------------------------------------------------------------------

_OPENERS = "([{"
_CLOSERS = {")": "(", "]": "[", "}": "{"}
_QUOTE_AFTER = set("=,([{:.~+ ")


def _top_level(text: str, where: str) -> list[bool]:
    """For each character, whether it is outside brackets and quotes. A
    quote only opens at the start of a token, so ``it's`` stays a word."""
    flags: list[bool] = []
    stack: list[str] = []
    quote: str | None = None
    escaped = False  # the next character is escaped ("\\x", or the second ' of '')
    for i, ch in enumerate(text):
        flags.append(not stack and quote is None)
        if quote:
            if escaped:
                escaped = False
            elif (ch, quote) == ("\\", '"') or (ch, quote, text[i + 1 : i + 2]) == ("'",) * 3:
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "'\"" and (i == 0 or text[i - 1] in _QUOTE_AFTER):
            quote = ch
        elif ch in _OPENERS:
            stack.append(ch)
        elif ch in _CLOSERS:
            if not stack or stack[-1] != _CLOSERS[ch]:
                raise ParamsError(f"invalid -S '{where}': unbalanced '{ch}'", hint=_GRAMMAR)
            stack.pop()
    if quote or stack:
        raise ParamsError(f"invalid -S '{where}': unclosed {quote or stack[-1]!r}", hint=_GRAMMAR)
    return flags


def _split(text: str, sep: str, where: str) -> list[str]:
    flags = _top_level(text, where)
    parts: list[str] = []
    start = 0
    for i, ch in enumerate(text):
        if ch == sep and flags[i]:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _find_top(text: str, ch: str, where: str) -> int:
    flags = _top_level(text, where)
    return next((i for i, c in enumerate(text) if c == ch and flags[i]), -1)


# --- Values -------------------------------------------------------------------------

_SWEEP = re.compile(r"(choice|range)\s*\((.*)\)", re.S)
_NAME = re.compile(r"([^\s=:,]+:)?[A-Za-z_][\w.\-]*")
_DELETE = re.compile(r"~|[^\s=\[\]{}(),'\"]+:\s*~")
_KEY_HEAD = re.compile(r"(\+\+|\+|~)?\s*[^\s=\[\]{}(),][^=\[\]{}(),]*")


def _value(text: str, where: str) -> Any:
    """A YAML scalar or flow collection; text YAML cannot read (``@x``,
    ``a: b``) is taken as a plain string, unless it opens a collection or a
    quote and is malformed."""
    text = text.strip()
    if not text:
        raise ParamsError(
            f"invalid -S '{where}': no value after '='",
            hint="Write null for a null, '' for an empty string, or ~key to delete the key.",
        )
    try:
        value = yamlio.loads(text, "-S")
    except TrailsError as exc:
        if text[0] in "[{'\"":
            raise ParamsError(
                f"invalid -S '{where}': cannot read the value {text}: {exc}"
            ) from None
        return text
    if isinstance(value, dict | list) and text[0] not in "[{":
        return text
    return value


def _number(text: str, where: str) -> int | float:
    value = _value(text, where)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParamsError(f"invalid -S '{where}': range() takes numbers, not {text.strip()!r}")
    return value


def _decimals(text: str) -> int | None:
    """Digits after the point in ``text``, to round float steps by (``None``
    for exponent forms, which are not rounded)."""
    text = text.strip()
    if "e" in text.lower():
        return None
    return len(text.partition(".")[2])


def _range(args: list[str], where: str) -> list[Any]:
    if len(args) not in (2, 3):
        raise ParamsError(f"invalid -S '{where}': range() takes start, stop[, step]")
    nums = [_number(a, where) for a in args]
    start, stop = nums[0], nums[1]
    step = nums[2] if len(nums) == 3 else 1
    if step == 0:
        raise ParamsError(f"invalid -S '{where}': range() step must not be 0")
    values: list[Any] = []
    if all(isinstance(n, int) for n in nums):
        ints = range(int(start), int(stop), int(step))
        values = list(ints) if len(ints) <= _MAX_SWEEP else list(ints[: _MAX_SWEEP + 1])
    else:
        places = [_decimals(a) for a in args]
        digits = None if None in places else max(p for p in places if p is not None)
        for i in itertools.count():
            v = start + i * step
            v = round(v, digits) if digits is not None else v
            if (step > 0 and v >= stop) or (step < 0 and v <= stop) or len(values) > _MAX_SWEEP:
                break
            values.append(float(v))
    if not values:
        raise ParamsError(f"invalid -S '{where}': range() gives no values")
    if len(values) > _MAX_SWEEP:
        raise ParamsError(f"invalid -S '{where}': range() gives more than {_MAX_SWEEP} values")
    return values


def _values(text: str, where: str) -> list[Any]:
    """The value(s) of an assignment: one, or a ``choice``/``range`` sweep."""
    m = _SWEEP.fullmatch(text.strip())
    if not m:
        return [_value(text, where)]
    args = _split(m.group(2), ",", where)
    if m.group(1) == "range":
        return _range(args, where)
    if not m.group(2).strip():
        raise ParamsError(f"invalid -S '{where}': choice() needs at least one value")
    return [_value(a, where) for a in args]


# --- Parsing --------------------------------------------------------------------------


_OPS: tuple[tuple[str, Op], ...] = (("++", "force"), ("+", "add"), ("~", "delete"))


def _take_op(text: str) -> tuple[Op | None, str]:
    for prefix, op in _OPS:
        if text.startswith(prefix):
            return op, text[len(prefix) :].strip()
    return None, text


def _is_assignment(item: str, where: str) -> bool:
    """``key=...``, ``file:key=...`` or ``~key``, as opposed to a bare value
    continuing the previous key's sweep."""
    text = item.strip()
    if _DELETE.match(text):
        return True
    eq = _find_top(text, "=", where)
    return eq > 0 and bool(_KEY_HEAD.fullmatch(text[:eq].strip()))


def _assignment(item: str, default_file: str, where: str) -> Override:
    text = item.strip()
    eq = _find_top(text, "=", where)
    head, value = (text[:eq], text[eq + 1 :]) if eq >= 0 else (text, None)
    op_before, head = _take_op(head.strip())
    file, _, key = head.rpartition(":")
    op_after, key = _take_op(key.strip())
    if op_before and op_after:
        raise ParamsError(f"invalid -S '{where}': two operators in '{item.strip()}'", hint=_GRAMMAR)
    op: Op = op_before or op_after or "set"
    key = key.strip()
    file = PurePosixPath(file.strip() or default_file).as_posix()  # ./p.yaml is p.yaml
    if not key or not all(split_key(key)) or any(c.isspace() for c in key):
        raise ParamsError(f"invalid -S '{where}': '{key}' is not a parameter name", hint=_GRAMMAR)
    if value is None:
        if op != "delete":
            raise ParamsError(
                f"invalid -S '{where}': '{key}' has no value; write {key}=VALUE "
                f"(or ~{key} to delete it)",
                hint=_GRAMMAR,
            )
        return Override(file, key, op, ())
    values = _values(value, where)
    if op == "delete" and len(values) > 1:
        raise ParamsError(f"invalid -S '{where}': ~{key} cannot sweep", hint=_GRAMMAR)
    return Override(file, key, op, tuple(values))


def _parse_one(text: str, default_file: str) -> Iterator[Override]:
    current: Override | None = None
    for item in _split(text, ",", text):
        if not item.strip():
            raise ParamsError(f"invalid -S '{text}': empty item between commas", hint=_GRAMMAR)
        if _is_assignment(item, text):
            if current is not None:
                yield current
            current = _assignment(item, default_file, text)
            continue
        if current is None:
            bare = item.strip()
            problem = (
                f"'{bare}' has no value; write {bare}=VALUE (or ~{bare} to delete it)"
                if _NAME.fullmatch(bare)
                else f"'{bare}' has no key; write key={bare}"
            )
            raise ParamsError(f"invalid -S '{text}': {problem}", hint=_GRAMMAR)
        if current.op == "delete" or _SWEEP.fullmatch(item.strip()):
            raise ParamsError(
                f"invalid -S '{text}': '{item.strip()}' cannot continue "
                f"'{_PREFIX[current.op]}{current.key}'",
                hint=_GRAMMAR,
            )
        current = replace(current, values=(*current.values, _value(item, text)))
    if current is not None:
        yield current


def parse(values: list[str], default_file: str = DEFAULT_FILE) -> list[Override]:
    """The overrides in ``-S`` ``values``, in order. A key given twice is an
    error (write a sweep instead), as the two would silently fight."""
    out: list[Override] = []
    seen: dict[tuple[str, str], Override] = {}
    for text in values:
        for override in _parse_one(text, default_file):
            where = (override.file, override.key)
            if where in seen:
                raise ParamsError(
                    f"-S sets '{override.key}' in {override.file} twice "
                    f"({seen[where]} and {override})",
                    hint=f"Give it once; for a sweep write {override.key}=a,b.",
                )
            seen[where] = override
            out.append(override)
    return out


def expand(overrides: list[Override]) -> list[list[Override]]:
    """One override list per experiment: the cartesian product of every
    sweep, in order (the first sweep varies slowest). Without sweeps, one list."""
    options = [
        [replace(o, values=(v,)) for v in o.values] if o.is_sweep else [o] for o in overrides
    ]
    return [list(combo) for combo in itertools.product(*options)]


# --- Checking against the files ----------------------------------------------------------


def _keys(data: Any) -> list[str]:
    """Every dotted key in ``data``: leaves and the maps above them."""
    keys: list[str] = []
    for leaf, _ in flatten(data):
        parts = split_key(leaf)
        keys += [".".join(parts[: i + 1]) for i in range(len(parts))]
    return list(dict.fromkeys(keys))


def _did_you_mean(key: str, data: Any) -> str:
    keys = _keys(data)
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
    if not close:  # compare the last part too: 'unitz' for 'model.units'
        last = split_key(key)[-1]
        tails = {split_key(k)[-1]: k for k in reversed(keys)}
        close = [tails[t] for t in difflib.get_close_matches(last, list(tails), n=1, cutoff=0.75)]
    return f"; did you mean '{close[0]}'?" if close else ""


def _change(o: Override, data: Any, strict: bool, warnings: list[str]) -> Change:
    """``o`` checked against the file's ``data``, as a ``Change``."""
    present = has(data, o.key)
    if o.op == "delete":
        if not present:
            raise ParamsError(
                f"'{o.key}' is not in {o.file}; nothing to delete{_did_you_mean(o.key, data)}"
            )
        if o.values and not same(get(data, o.key), o.value):
            raise ParamsError(
                f"'{o.key}' is {_show(get(data, o.key))} in {o.file}, not {_show(o.value)}; "
                f"~{o.key}={_show(o.value)} deletes it only when it has that value",
                hint=f"Use ~{o.key} to delete it whatever its value.",
            )
        return Change(o.key, delete=True)
    if o.op == "add" and present:
        raise ParamsError(
            f"'{o.key}' is already in {o.file}; "
            f"use {o.key}=... to change it or ++{o.key}=... to add or change"
        )
    if o.op == "set" and not present:
        message = f"'{o.key}' is not in {o.file}{_did_you_mean(o.key, data)}"
        if strict:
            raise ParamsError(
                message,
                hint=f"--strict-params refuses new keys: write +{o.key}=... to add it, "
                "or leave out --strict-params.",
            )
        warnings.append(f"{message} (added as a new key)")
    return Change(o.key, o.value)


def _load(root: Path, file: str, group: list[Override]) -> dict[str, Any]:
    format_of(file)  # unsupported suffix: an error that lists the supported ones
    path = root / file
    if path.exists():
        return load_file(path, display=file)
    if all(o.op in ("add", "force") for o in group):
        return {}  # created by update_files
    raise ParamsError(
        f"params file '{file}' does not exist",
        hint="Create it, or write +key=value to create it with that key.",
    )


def validate(
    root: Path, overrides: list[Override], strict: bool
) -> tuple[dict[str, list[Change]], list[str]]:
    """Check one experiment's overrides (no sweeps: ``expand`` first) against
    the params files under ``root``. Returns the changes per file, in order,
    and warnings for keys that will be added. Every problem is a
    ``ParamsError`` naming the file, the key and what to do; nothing is
    written here."""
    groups: dict[str, list[Override]] = {}
    for o in overrides:
        if o.is_sweep:
            raise ParamsError(f"{o} is a sweep; expand() the overrides before validate()")
        groups.setdefault(o.file, []).append(o)
    changes: dict[str, list[Change]] = {}
    warnings: list[str] = []
    for file, group in groups.items():
        # The file is written: -S ../x.yaml or .git/x.yaml is refused here.
        confined(root, file, source="-S", hint="Name a params file inside the project.")
        data = _load(root, file, group)  # a copy of its own
        for o in group:
            change = _change(o, data, strict, warnings)
            data = apply_changes(data, [change], file)
            changes.setdefault(file, []).append(change)
    return changes, warnings
