"""JSON-Schema checks of artifacts that run on the standard library alone.

Claude Code hooks run on a bare `python3`, so the schemas Cairn ships are checked with
validators generated ahead of time (`scripts/gen_validators.py`, fastjsonschema) into
`cairn.checks.generated`; they import nothing outside the standard library. A schema
of the project's own (one that overrides or adds to the shipped ones) is checked with
the `jsonschema` package when it is importable; when it is not, the check is pending
and the caller runs it later from an environment that has it (the plugin venv).

Every problem is one short line, "<where>: <what>", where <where> is a JSON path into
the artifact (`$` is the whole document, `$.files[0].path` a nested value).

`format: date-time` is enforced the same way on both routes: RFC 3339 section 5.6
(`2026-11-23T10:00:00Z`, `2026-11-23T10:00:00.5+01:00`), with a real calendar day, hours
00-23, no leap second, and an offset that is `Z` or `+hh:mm`. jsonschema alone checks
date-time only when the optional `rfc3339-validator` package is installed, so the
jsonschema route registers this same check in its FormatChecker.
"""

from __future__ import annotations

import importlib
import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from cairn.checks.generated import MODULES as _MODULES
from cairn.checks.generated._errors import JsonSchemaValueException, JsonSchemaValuesException
from cairn.sitepkgs import importable

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

__all__ = [
    "DATE_TIME_PATTERN",
    "SHIPPED",
    "SchemaResult",
    "SchemaState",
    "check_artifact",
    "check_shipped",
    "check_with_jsonschema",
    "is_date_time",
]

SchemaState = Literal["ok", "failed", "pending"]

#: File names of the schemas shipped in cairn/data/schemas that have a generated validator.
SHIPPED: frozenset[str] = frozenset(_MODULES)

# RFC 3339 date-time. ASCII digits only ([0-9], not \d, which also matches other
# scripts' digits); the day must exist in its month (29 February only in leap years);
# year 0000 is refused like jsonschema's rfc3339-validator does. scripts/gen_validators.py
# reads this literal (with `ast`, no import) and compiles it into the generated
# validators, so keep it a single string expression.
DATE_TIME_PATTERN = (
    r"^(?!0000)(?:"
    r"[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    r"|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    r"|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29"
    r")[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])\Z"
)
_DATE_TIME = re.compile(DATE_TIME_PATTERN)
_DATE_TIME_HINT = "an RFC 3339 date-time such as 2026-11-23T10:00:00Z"

_MAX_MESSAGE = 300
_MAX_VALUE = 60
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_NAME_PART = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True)
class SchemaResult:
    """Outcome of one artifact's schema check.

    ok: valid. failed: `problems` says where and what. pending: the check could not run
    here (a project schema and no `jsonschema` importable); `problems` is empty.
    """

    state: SchemaState
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.state == "ok"


def is_date_time(text: str) -> bool:
    """True when `text` is an RFC 3339 date-time (see DATE_TIME_PATTERN)."""
    return _DATE_TIME.match(text) is not None


# ---------------------------------------------------------------- shipped schemas


def check_shipped(schema_name: str, data: object, *, limit: int = 5) -> list[str] | None:
    """Problems of `data` against the shipped schema `schema_name` (a file name such as
    "research.schema.json"), at most `limit` of them plus a "... and N more" line; an
    empty list when valid. None when `schema_name` is not a shipped schema."""
    validate = _shipped_validator(schema_name)
    if validate is None:
        return None
    try:
        validate(data)
    except JsonSchemaValuesException as exc:
        errors: Sequence[JsonSchemaValueException] = exc.errors
    except JsonSchemaValueException as exc:
        errors = [exc]
    else:
        return []
    return _capped([_describe_generated(err) for err in errors], limit)


@cache
def _shipped_validator(schema_name: str) -> Callable[[object], object] | None:
    module_name = _MODULES.get(schema_name)
    if module_name is None:
        return None
    module = importlib.import_module(f"cairn.checks.generated.{module_name}")
    return cast("Callable[[object], object]", module.validate)


def _describe_generated(err: JsonSchemaValueException) -> str:
    name = err.name or "data"
    tail = err.message[len(name):].strip() if err.message.startswith(name) else err.message
    return _one_line(f"{_path_from_name(name)}: {_generated_message(err, tail)}")


def _generated_message(err: JsonSchemaValueException, tail: str) -> str:
    """What is wrong, in words closer to the artifact than fastjsonschema's `tail`."""
    rule, rd, value = err.rule, err.rule_definition, err.value
    got = f", got {_short(value)}"
    if rule == "required" and isinstance(rd, list) and isinstance(value, dict):
        missing = [k for k in rd if k not in value]
        if missing:
            return f"missing required {_plural(len(missing), 'property', 'properties')} {_names(missing)}"
    elif rule == "additionalProperties":
        m = re.fullmatch(r"must not contain \[(.*)\] properties", tail)
        keys = re.findall(r"'([^'\\]*)'", m.group(1)) if m else []
        if keys:
            return (f"unexpected {_plural(len(keys), 'property', 'properties')} {_names(keys)}"
                    " (no other properties are allowed here)")
    elif rule == "format" and rd == "date-time":
        return f"must be {_DATE_TIME_HINT}{got}"
    elif rule == "type":
        return f"{tail}, got {_json_type(value)}"
    elif rule == "const":
        return f"must be {_short(rd)}{got}"
    elif rule == "enum" and isinstance(rd, list):
        return f"must be one of {', '.join(_short(x) for x in rd)}{got}"
    elif rule == "pattern":
        return f"must match the pattern {rd}{got}"
    elif rule == "not" and isinstance(rd, dict):
        if list(rd) == ["pattern"]:
            return f"must not match the pattern {rd['pattern']}{got}"
        return f"must not be valid against {_short(rd)}{got}"
    elif rule in _BOUNDS:
        return f"must be {_BOUNDS[rule]} {rd}{got}"
    elif rule in ("minLength", "maxLength") and isinstance(value, str):
        if rule == "minLength" and rd == 1:
            return "must not be empty"
        least = "at least" if rule == "minLength" else "at most"
        return f"must be {least} {rd} {_plural(rd, 'character', 'characters')} long (it has {len(value)})"
    elif rule in ("minItems", "maxItems") and isinstance(value, (list, tuple)):
        if rule == "minItems" and rd == 1:
            return "must not be empty"
        least = "at least" if rule == "minItems" else "at most"
        return f"must have {least} {rd} {_plural(rd, 'item', 'items')} (it has {len(value)})"
    elif rule == "uniqueItems" and isinstance(value, (list, tuple)):
        dup = _first_duplicate(value)
        return "must not repeat items" + (f" ({_short(dup)} is repeated)" if dup is not None else "")
    return tail


_BOUNDS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}


def _plural(n: object, one: str, many: str) -> str:
    return one if n == 1 else many


def _names(keys: Iterable[str]) -> str:
    return ", ".join(json.dumps(k, ensure_ascii=False) for k in keys)


def _first_duplicate(items: Sequence[object]) -> object:
    seen: set[str] = set()
    for item in items:
        try:
            key = json.dumps(item, sort_keys=True)
        except (TypeError, ValueError):
            return None
        if key in seen:
            return item
        seen.add(key)
    return None


def _path_from_name(name: str) -> str:
    """fastjsonschema's `data.files[0].path` -> `$.files[0].path`."""
    if not name.startswith("data"):
        return name
    rest = name[len("data"):]
    parts: list[str | int] = []
    pos = 0
    for m in _NAME_PART.finditer(rest):
        if m.start() != pos:  # not a shape we know: show it as fastjsonschema wrote it
            return "$" + rest
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if pos != len(rest):
        return "$" + rest
    return _json_path(parts)


# ---------------------------------------------------------------- project schemas


def check_with_jsonschema(schema_file: Path, data: object, *, limit: int = 5) -> list[str] | None:
    """Problems of `data` against the schema in `schema_file`, checked with the
    `jsonschema` package (the draft the schema declares, 2020-12 when it declares none,
    date-time enforced); an empty list when valid. None when `jsonschema` cannot be
    imported: the caller records the check as pending. A schema file that cannot be
    read or is not a valid schema yields one problem that says so."""
    if not importable("jsonschema"):  # site-packages added on the plugin's own environment only
        return None
    try:
        st = os.stat(schema_file)
        validator = _jsonschema_validator(str(schema_file), st.st_mtime_ns, st.st_size)
    except OSError as exc:
        return [_one_line(f"$: cannot read schema {schema_file.name}: {exc.strerror or exc}")]
    except _SchemaFileError as exc:
        return [_one_line(f"$: schema {schema_file.name} is unusable: {exc}")]
    from cairn.checks import timebox  # a pattern can backtrack for ever: the check gets a time budget

    if not timebox.interruptible() and timebox.patterns(validator.schema):
        return timebox.in_child(schema_file, data, limit, validator.schema)
    try:
        errors = timebox.within(timebox.budget(), lambda: sorted(validator.iter_errors(cast("Any", data)),
                                                                 key=lambda e: _path_key(e.absolute_path)))
    except timebox.Overrun:
        return [_one_line(timebox.overrun_message(schema_file, validator.schema, timebox.budget()))]
    except _late_errors() as exc:  # a project's schema can break late: an unresolvable $ref, ...
        return [_one_line(f"$: schema {schema_file.name} is unusable: {type(exc).__name__}: {exc}")]
    return _capped([_describe_jsonschema(err) for err in errors], limit)


class _SchemaFileError(Exception):
    pass


def _late_errors() -> tuple[type[BaseException], ...]:
    """What a schema that passed `check_schema` can still raise while validating: a `$ref`
    that does not resolve (referencing's or older jsonschema's error), a bad regex, a
    value the format checkers choke on, recursion."""
    out: list[type[BaseException]] = [LookupError, TypeError, ValueError, RecursionError, re.error]
    try:
        from referencing.exceptions import Unresolvable

        out.append(Unresolvable)
    except ImportError:  # jsonschema before 4.18 (no referencing) raises its own
        from jsonschema.exceptions import RefResolutionError

        out.append(RefResolutionError)
    return tuple(out)


@lru_cache(maxsize=32)
def _jsonschema_validator(schema_file: str, mtime_ns: int, size: int) -> Validator:
    """The validator for a schema file; the cache key includes mtime and size so an
    edited schema is read again in long-running processes."""
    import jsonschema
    from jsonschema.exceptions import SchemaError

    try:
        with open(schema_file, encoding="utf-8") as fh:
            schema = json.load(fh)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _SchemaFileError(f"not valid JSON ({exc})") from None
    if not isinstance(schema, dict):
        raise _SchemaFileError("not a JSON object")
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        where = _json_path(exc.absolute_path)
        raise _SchemaFileError(f"{where}: {exc.message}") from None
    checker = jsonschema.FormatChecker(())
    checker.checkers = dict(cls.FORMAT_CHECKER.checkers)
    checker.checks("date-time")(_is_date_time_or_not_string)
    return cls(schema, format_checker=checker)


def _is_date_time_or_not_string(instance: object) -> bool:
    return not isinstance(instance, str) or is_date_time(instance)


def _describe_jsonschema(err: ValidationError) -> str:
    message = err.message
    if err.validator == "format" and err.validator_value == "date-time":
        message = f"must be {_DATE_TIME_HINT}, got {_short(err.instance)}"
    return _one_line(f"{_json_path(err.absolute_path)}: {message}")


def _path_key(parts: Iterable[str | int]) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in parts)


# ---------------------------------------------------------------- one entry point


def check_artifact(data: object, schema_name: str, schema_file: Path | None, *,
                   project_schema: bool) -> SchemaResult:
    """Check one artifact's parsed JSON.

    `schema_name` is the schema's file name, `schema_file` where it lives, and
    `project_schema` whether that file is the project's own (not the shipped copy). A
    shipped schema the project did not override is checked with its generated validator
    (standard library). Any other schema file is checked with `jsonschema`, or the result
    is pending when `jsonschema` is not importable. An unknown schema name without a
    file fails with a problem that says so.
    """
    if not project_schema or schema_file is None:
        problems = check_shipped(schema_name, data)
        if problems is not None:
            return _result(problems)
        if schema_file is None:
            return SchemaResult("failed", (
                f"$: no schema {schema_name!r}: not shipped with Cairn and no project schema file",))
    found = check_with_jsonschema(schema_file, data)
    if found is None:
        return SchemaResult("pending")
    return _result(found)


def _result(problems: list[str]) -> SchemaResult:
    return SchemaResult("failed", tuple(problems)) if problems else SchemaResult("ok")


# ---------------------------------------------------------------- formatting


def _capped(problems: list[str], limit: int) -> list[str]:
    limit = max(limit, 1)
    if len(problems) <= limit:
        return problems
    return [*problems[:limit], f"... and {len(problems) - limit} more"]


def _json_path(parts: Iterable[str | int]) -> str:
    out = "$"
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif _IDENTIFIER.match(p):
            out += f".{p}"
        else:
            out += f"[{json.dumps(p, ensure_ascii=False)}]"
    return out


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _short(value: object) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=repr)
    except (ValueError, TypeError, RecursionError):
        text = repr(value)
    return text if len(text) <= _MAX_VALUE else text[:_MAX_VALUE - 1] + "…"


def _one_line(text: str) -> str:
    if not text.isprintable():
        text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                       for c in text)
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE - 1] + "…"
