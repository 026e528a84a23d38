"""README's settings reference against dnsbackend/settings.py: every key, its default, and
whether it takes effect at start only, read from the pydantic models themselves."""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from dnsbackend.settings import RESTART_ONLY, Settings

README = Path(__file__).resolve().parents[2] / "README.md"
_ROW = re.compile(r"^\| `([^`]+)` \| ([^|]+) \| (.+) \|$")


def _model_of(annotation: object) -> tuple[str, type[BaseModel] | None]:
    """("", a model) for a table, ("dict"/"list", the model) for tables of them, ("", None)
    for a plain value; `X | None` as X."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    for kind, inner in (("", annotation), ("dict", args[-1] if origin is dict else None),
                        ("list", args[0] if origin is list else None)):
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return kind, inner
    return "", None


def _shown(field: FieldInfo) -> str:
    """A default as the table shows it: TOML for a value, `none`, or `required`."""
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is None or value is PydanticUndefined:
        return "none"
    return f"`{_toml(value)}`"


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return repr(value)


def keys(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, str, list[str]]]:
    """(dotted key, default as shown, the fields of a list's entries) of every setting."""
    for name, field in model.model_fields.items():
        kind, inner = _model_of(field.annotation)
        if inner is not None and kind == "":
            yield from keys(inner, f"{prefix}{name}.")
        elif inner is not None and kind == "dict":
            yield from keys(inner, f"{prefix}{name}.NAME.")
        else:
            entries = list(inner.model_fields) if inner is not None else []
            yield f"{prefix}{name}", _shown(field), entries


def documented() -> dict[str, tuple[str, str]]:
    """The reference table of README: key -> (default, what)."""
    text = README.read_text()
    section = text.split("## Settings reference\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = _ROW.match(line)
        if match:
            rows[match[1]] = (match[2].strip(), match[3])
    return rows


def test_the_readme_documents_every_setting_with_its_default() -> None:
    rows = documented()
    expected = list(keys(Settings))
    assert sorted(rows) == sorted(key for key, _, _ in expected)
    for key, default, entries in expected:
        shown, what = rows[key]
        assert shown == default, key
        for entry_field in entries:  # a list of tables: its row names the entries' keys
            assert re.search(rf"\b{entry_field}\b", what), (key, entry_field)


def test_the_readme_says_which_settings_take_effect_at_start() -> None:
    at_start = {key for key, (_, what) in documented().items() if "*at start*" in what}
    assert at_start == set(RESTART_ONLY)
