"""Fast YAML 1.2 loading with source lines, for dvc.yaml, dvc.lock and
params files.

PyYAML's C parser is the fastest loader we have (a 2.7 MB lock file: 3.2 s,
against 11.9 s pure PyYAML and 24.4 s ruamel.yaml; ``docs/architecture.md``,
"Parsing YAML"), but
it resolves scalars by YAML 1.1 rules: ``1e-3`` would be a string and ``yes``
a boolean, unlike the reference tool (ruamel.yaml, YAML 1.2). ``Loader``
keeps the C parser and swaps in the YAML 1.2 core schema resolvers.

``load_with_lines`` also returns the line of every mapping key and sequence
item, so validation errors can say ``dvc.yaml:12``. Round-trip *editing*
(keeping comments) is ruamel.yaml's job, elsewhere.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

import yaml

from trails import textio
from trails.errors import TrailsError
from trails.yamlmemo import Lines as Lines  # defined there: the memo loads without PyYAML

try:
    _Base: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Base = yaml.SafeLoader


class Loader(_Base):  # type: ignore[misc]
    """SafeLoader with the YAML 1.2 core schema's implicit types."""

    yaml_implicit_resolvers: ClassVar[dict[str | None, list[tuple[str, re.Pattern[str]]]]] = {}


def _resolver(tag: str, pattern: str, first: str) -> None:
    Loader.add_implicit_resolver(tag, re.compile(pattern, re.X), list(first))


_resolver("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF")
_resolver("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL)$", "~nN")
Loader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^$"), [""])
_resolver("tag:yaml.org,2002:merge", r"^(?:<<)$", "<")
_resolver("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789")
_resolver(
    "tag:yaml.org,2002:float",
    r"""^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
    "-+0123456789.",
)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text)


Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    """Refuse duplicate keys: PyYAML would silently keep the last one, and a
    second ``train:`` stage would vanish without a word."""
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
            key = loader.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key '{key}' (first on line {seen[key]})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
    loader.flatten_mapping(node)
    return dict(loader.construct_pairs(node))


Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


class YamlError(TrailsError):
    """Malformed YAML, with file and line."""


def _error(path: str, exc: yaml.YAMLError) -> YamlError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"{path}:{mark.line + 1}" if mark is not None else path
    problem = getattr(exc, "problem", None) or str(exc)
    return YamlError(f"{where}: malformed YAML: {problem}", hint="Fix the file and run again.")


#: How many nodes aliases may add to a document, beyond those written in it.
#: A "billion laughs" document of a few hundred bytes expands to 10**9
#: nodes: it grew past 5.7 GB in the code that walks what it loads.
MAX_ALIASED_NODES = 1_000_000
#: How deeply values may nest. Everything after the parser walks values
#: recursively (PyYAML's constructor, copies, comparisons, interpolation):
#: a few hundred levels ended in RecursionError, an "internal error".
MAX_DEPTH = 100


#: What starts a line before its first key or value: indentation and the
#: ``-``/``?`` indicators of block collections.
_LEAD = re.compile(r"^[ \t?-]*", re.MULTILINE)


def _may_be_deep(text: str) -> bool:
    """Whether ``text`` could nest more than ``MAX_DEPTH`` levels, searched
    by C code so that the files that cannot (nearly all, a 1,000-stage
    ``dvc.lock`` too) skip the walk of their nodes. A flow level takes a
    ``[`` or ``{``. A block level starts further right than its parent,
    except a list that is a mapping's value (at the key's column), whose
    items start further right again: k block levels need a line whose first
    key or value is at column (k - 2) / 2 or more."""
    flow = text.count("[") + text.count("{")
    if flow >= MAX_DEPTH:
        return True
    lead = max(map(len, _LEAD.findall(text)), default=0)
    return flow + 2 * lead + 2 >= MAX_DEPTH


def _check_expansion(root: yaml.Node, path: str) -> None:
    """Refuse a document whose aliases expand past ``MAX_ALIASED_NODES``
    extra nodes, that holds itself through an alias, or that nests deeper
    than ``MAX_DEPTH``. PyYAML shares one object per anchor, so loading is
    cheap; everything that walks the result (interpolation, line indexing,
    flattening params) pays the expansion. Linear: each distinct node's
    expanded size and height are computed once."""
    size: dict[int, int] = {}
    height: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            # Levels of mappings and lists: a scalar adds none.
            height[key] = (
                1 + max((height[id(c)] for c in children), default=0)
                if not (isinstance(node, yaml.ScalarNode))
                else 0
            )
            if height[key] > MAX_DEPTH:
                raise YamlError(
                    f"{path}:{node.start_mark.line + 1}: values nest more than "
                    f"{MAX_DEPTH} levels deep here",
                    hint="Flatten the structure: trails reads at most "
                    f"{MAX_DEPTH} levels of nested mappings and lists.",
                )
            if size[key] - len(size) > MAX_ALIASED_NODES:
                raise YamlError(
                    f"{path}:{node.start_mark.line + 1}: YAML aliases expand this value to "
                    f"{size[key]:,} nodes (aliases may add at most {MAX_ALIASED_NODES:,})",
                    hint="Write the value out, or use fewer nested aliases (*name).",
                )
            continue
        if key in size:
            continue
        if key in on_path:
            raise YamlError(
                f"{path}:{node.start_mark.line + 1}: a YAML alias refers to a value "
                "that contains it",
                hint="Remove the recursive alias (*name) from the file.",
            )
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)


def _compose(loader: Any, text: str, path: str) -> Any:
    """The document's node graph, checked by ``_check_expansion`` if it has
    an alias at all (a ``*``) or may nest deeply."""
    node = loader.get_single_node()
    if node is not None and ("*" in text or _may_be_deep(text)):
        _check_expansion(node, path)
    return node


def loads(text: str, path: str = "<string>") -> Any:
    """Parse YAML 1.2 text; errors name ``path`` and the line."""
    loader = Loader(text)
    try:
        node = _compose(loader, text, path)
        return None if node is None else loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise _error(path, exc) from None
    finally:
        loader.dispose()


def load(path: Path | str, display: str | None = None) -> Any:
    name = display or str(path)
    return loads(textio.read(path, name), name)


def _index_lines(node: yaml.Node, data: Any, prefix: tuple[Any, ...], lines: Lines) -> None:
    if isinstance(node, yaml.MappingNode) and isinstance(data, dict):
        for key_node, value_node in node.value:
            key = key_node.value
            if key not in data:
                # Non-string keys: find the constructed key by its text.
                key = next((k for k in data if str(k) == key_node.value), key)
            if key in data:
                lines.by_path[(*prefix, key)] = key_node.start_mark.line + 1
                _index_lines(value_node, data[key], (*prefix, key), lines)
    elif isinstance(node, yaml.SequenceNode) and isinstance(data, list):
        for i, (item_node, item) in enumerate(zip(node.value, data, strict=False)):
            lines.by_path[(*prefix, i)] = item_node.start_mark.line + 1
            _index_lines(item_node, item, (*prefix, i), lines)


def loads_with_lines(text: str, path: str = "<string>") -> tuple[Any, Lines]:
    """Parse like ``loads`` and also return the line of every key and item."""
    loader = Loader(text)
    try:
        node = _compose(loader, text, path)
        if node is None:
            return None, Lines()
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise _error(path, exc) from None
    finally:
        loader.dispose()
    lines = Lines()
    _index_lines(node, data, (), lines)
    return data, lines


def load_with_lines(path: Path | str, display: str | None = None) -> tuple[Any, Lines]:
    name = display or str(path)
    return loads_with_lines(textio.read(path, name), name)


def dumps(data: Any) -> str:
    """Block-style YAML with keys in insertion order (for dvc.lock)."""
    return yaml.dump(
        data,
        Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=10_000,
    )
