"""The generated standard-library validators (cairn.checks.generated) agree with the
`jsonschema` package on the shipped schemas: on instances generated from each schema
(hypothesis-jsonschema), which both must accept, and on those instances broken in one
known way (a required key dropped, a wrong type, a bad date-time, an unexpected
property, a verdict its issues forbid), which both must refuse at the same places.

Also: the shipped examples pass, the validators import nothing outside the standard
library, and the committed generated files are what scripts/gen_validators.py writes.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.checks import schema as checks

pytest.importorskip("jsonschema")
hypothesis_jsonschema = pytest.importorskip("hypothesis_jsonschema")

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "lib" / "cairn" / "data" / "schemas"
EXAMPLES = ROOT / "lib" / "cairn" / "data" / "examples"
SCHEMA_NAMES = sorted(p.name for p in SCHEMAS.glob("*.schema.json"))

CROSS = settings(max_examples=25, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                        HealthCheck.filter_too_much])

BAD_DATE_TIMES = [
    "yesterday", "", "2026-11-23", "2026-11-23 10:00:00Z", "2026-11-23T10:00:00",
    "2026-02-30T10:00:00Z", "2025-02-29T10:00:00Z", "2026-13-01T10:00:00Z", "2026-11-23T24:00:00Z",
    "2026-11-23T10:60:00Z", "2026-11-23T10:00:60Z", "2026-11-23T10:00:00+0100",
    "2026-11-23T10:00:00+24:00", "0000-01-01T00:00:00Z", "2026-11-23T10:00:00Z\n",
    "２０２６-11-23T10:00:00Z",  # fullwidth digits: \d would take them
]
GOOD_DATE_TIMES = [
    "2026-11-23T10:00:00Z", "2026-11-23t10:00:00z", "2026-11-23T10:00:00.123456+05:30",
    "2024-02-29T23:59:59-12:00", "2000-02-29T00:00:00Z", "0001-01-01T00:00:00Z",
]
WRONG_TYPE: dict[str | None, object] = {"string": 7, "integer": "7", "array": "x", "object": ["x"], None: None}
# (verdict key, verdict that forbids severities, list key, forbidden severity)
CONDITIONAL = {
    "review.schema.json": ("verdict", "approve", "issues", "critical"),
    "security.schema.json": ("verdict", "pass", "findings", "high"),
}


@cache
def schema_of(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    return loaded


@cache
def instances(name: str) -> st.SearchStrategy[Any]:
    return hypothesis_jsonschema.from_schema(schema_of(name))


def paths(problems: list[str] | None) -> set[str]:
    assert problems is not None
    return {p.split(": ", 1)[0] for p in problems}


def both(name: str, data: object) -> tuple[list[str], list[str]]:
    shipped = checks.check_shipped(name, data, limit=1000)
    other = checks.check_with_jsonschema(SCHEMAS / name, data, limit=1000)
    assert shipped is not None and other is not None
    return shipped, other


def assert_both_refuse(name: str, data: object, what: str) -> None:
    shipped, other = both(name, data)
    assert shipped, f"generated validator accepted {what}"
    assert other, f"jsonschema accepted {what}"
    assert paths(shipped) == paths(other), (what, shipped, other)


# ---------------------------------------------------------------- mutations


Path_ = tuple[str | int, ...]


Location = tuple[Path_, dict[str, Any], object]


def locations(schema: dict[str, Any], value: object, path: Path_ = ()) -> Iterator[Location]:
    """(path, subschema, value) of every value of the instance the schema describes."""
    yield path, schema, value
    if isinstance(value, dict):
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                yield from locations(sub, value[key], (*path, key))
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            yield from locations(schema["items"], item, (*path, i))


def replaced(data: Any, path: Path_, new: object) -> Any:
    out = copy.deepcopy(data)
    target = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return out


def mutations(name: str, data: Any, bad_date_times: list[str] = BAD_DATE_TIMES) -> list[tuple[str, Any]]:
    """Every one-fault breakage of a valid instance the cross-check tries."""
    schema = schema_of(name)
    out: list[tuple[str, Any]] = []
    for path, sub, value in locations(schema, data):
        if isinstance(value, dict):
            for key in sub.get("required", []):
                broken = copy.deepcopy(data)
                target = broken
                for step in path:
                    target = target[step]
                del target[key]
                out.append((f"drop required {key!r} at {path}", broken))
            if sub.get("additionalProperties") is False:
                out.append((f"extra property at {path}", replaced(data, (*path, "not_in_schema"), 1)))
        if path and ("type" in sub or "const" in sub):
            out.append((f"wrong type at {path}", replaced(data, path, WRONG_TYPE[sub.get("type")])))
        if sub.get("format") == "date-time":
            out += [(f"date-time {bad!r} at {path}", replaced(data, path, bad)) for bad in bad_date_times]
    if name in CONDITIONAL:
        key, verdict, items, severity = CONDITIONAL[name]
        if data.get(items):
            broken = replaced(data, (key,), verdict)
            broken[items][0]["severity"] = severity
            out.append((f"{verdict} with a {severity} item", broken))
    return out


# ---------------------------------------------------------------- cross-checks


@pytest.mark.parametrize("name", SCHEMA_NAMES)
@CROSS
@given(data=st.data())
def test_generated_instances_cross_check(name: str, data: st.DataObject) -> None:
    """An instance from the schema passes both validators; one-fault breakages of it (a
    few, drawn) fail both, at the same JSON paths."""
    instance = data.draw(instances(name), label="instance")
    shipped, other = both(name, instance)
    assert other == [], f"hypothesis-jsonschema made an instance jsonschema refuses: {other}"
    assert shipped == [], shipped
    assert checks.check_artifact(instance, name, SCHEMAS / name, project_schema=False).state == "ok"
    bad_date_time = data.draw(st.sampled_from(BAD_DATE_TIMES), label="bad date-time")
    broken = mutations(name, instance, bad_date_times=[bad_date_time])
    picks = data.draw(st.sets(st.sampled_from(range(len(broken))), min_size=1, max_size=6), label="mutations")
    for i in sorted(picks):
        assert_both_refuse(name, broken[i][1], broken[i][0])


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_mutation_of_the_example_fails_both(name: str) -> None:
    example = json.loads((EXAMPLES / name.replace(".schema", "")).read_text(encoding="utf-8"))
    if name in CONDITIONAL and not example[CONDITIONAL[name][2]]:
        example[CONDITIONAL[name][2]] = [{"severity": "info", "file": "a.py", "message": "m"}]
    kinds = mutations(name, example)
    assert checks.check_shipped(name, example) == []
    assert any(w.startswith("drop required") for w, _ in kinds)
    assert any(w.startswith("date-time") for w, _ in kinds)
    assert any(w.startswith("wrong type") for w, _ in kinds)
    for what, mutated in kinds:
        assert_both_refuse(name, mutated, what)


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_shipped_examples_pass(name: str) -> None:
    example = json.loads((EXAMPLES / name.replace(".schema", "")).read_text(encoding="utf-8"))
    assert checks.check_shipped(name, example) == []
    assert checks.check_with_jsonschema(SCHEMAS / name, example) == []
    assert checks.check_artifact(example, name, None, project_schema=False) == checks.SchemaResult("ok")


def test_shipped_is_every_schema_file() -> None:
    assert set(SCHEMA_NAMES) == checks.SHIPPED


# ---------------------------------------------------------------- date-time


@pytest.mark.parametrize("text", GOOD_DATE_TIMES)
def test_date_time_accepted(text: str) -> None:
    assert checks.is_date_time(text)
    data = {**json.loads((EXAMPLES / "docs.json").read_text(encoding="utf-8")), "created_at": text}
    assert both("docs.schema.json", data) == ([], [])


@pytest.mark.parametrize("text", BAD_DATE_TIMES)
def test_date_time_refused(text: str) -> None:
    assert not checks.is_date_time(text)
    data = {**json.loads((EXAMPLES / "docs.json").read_text(encoding="utf-8")), "created_at": text}
    assert_both_refuse("docs.schema.json", data, repr(text))


# ---------------------------------------------------------------- messages and results


def test_problems_say_where_and_what_on_one_line() -> None:
    data = json.loads((EXAMPLES / "review.json").read_text(encoding="utf-8"))
    del data["summary"]
    data["created_at"] = "yesterday"
    data["issues"][0].update(severity="critical", extra=1, file="a\nb")
    problems = checks.check_shipped("review.schema.json", data, limit=10)
    assert problems == [
        '$: missing required property "summary"',
        '$.created_at: must be an RFC 3339 date-time such as 2026-11-23T10:00:00Z, got "yesterday"',
        '$.issues[0].file: must match the pattern ^[^\\u0000\\r\\n]+$, got "a\\nb"',
        '$.issues[0]: unexpected property "extra" (no other properties are allowed here)',
        '$.issues[0].severity: must be one of "high", "medium", "low", "info", got "critical"',
    ]
    for p in [*problems, *(checks.check_with_jsonschema(SCHEMAS / "review.schema.json", data) or [])]:
        assert p.startswith("$") and "\n" not in p and len(p) <= 300


def test_limit_adds_a_count_of_the_rest() -> None:
    problems = checks.check_shipped("review.schema.json", {"format_version": 2}, limit=1)
    assert problems == ['$: missing required properties "workflow_id", "agent", "created_at", '
                        '"summary", "verdict", "issues"', "... and 1 more"]
    assert checks.check_shipped("review.schema.json", [], limit=3) == ["$: must be object, got array"]


def test_unknown_schema() -> None:
    assert checks.check_shipped("nope.schema.json", {}) is None
    result = checks.check_artifact({}, "nope.schema.json", None, project_schema=False)
    assert result.state == "failed" and "nope.schema.json" in result.problems[0]


def test_project_schema_is_checked_with_jsonschema(tmp_path: Path) -> None:
    schema = schema_of("docs.schema.json")
    own = tmp_path / "docs.schema.json"
    own.write_text(json.dumps({**schema, "required": [*schema["required"], "reviewed_by"]}), encoding="utf-8")
    example = json.loads((EXAMPLES / "docs.json").read_text(encoding="utf-8"))
    assert checks.check_artifact(example, "docs.schema.json", own, project_schema=False).state == "ok"
    result = checks.check_artifact(example, "docs.schema.json", own, project_schema=True)
    assert result == checks.SchemaResult("failed", ("$: 'reviewed_by' is a required property",))
    own.write_text("{not json", encoding="utf-8")
    result = checks.check_artifact(example, "docs.schema.json", own, project_schema=True)
    assert result.state == "failed" and re.match(r"\$: schema docs\.schema\.json is unusable: not valid JSON",
                                                  result.problems[0])


def test_project_schema_pending_without_jsonschema(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jsonschema", None)  # import jsonschema -> ImportError
    example = json.loads((EXAMPLES / "docs.json").read_text(encoding="utf-8"))
    own = SCHEMAS / "docs.schema.json"
    assert checks.check_with_jsonschema(own, example) is None
    assert checks.check_artifact(example, "docs.schema.json", own, project_schema=True) == \
        checks.SchemaResult("pending")
    assert checks.check_artifact(example, "docs.schema.json", own, project_schema=False).state == "ok"


# ---------------------------------------------------------------- standard library only

STDLIB_ONLY = """
import json, sys
from pathlib import Path
sys.path.insert(0, 'lib')
import cairn.checks.schema as s
for f in sorted(Path('lib/cairn/data/examples').glob('*.json')):
    name = f.stem + '.schema.json'
    data = json.loads(f.read_text(encoding='utf-8'))
    assert s.check_shipped(name, data) == [], f
    assert s.check_artifact(data, name, None, project_schema=False).state == 'ok', f
    data['created_at'] = 'yesterday'
    assert s.check_artifact(data, name, None, project_schema=False).state == 'failed', f
r = s.check_artifact({}, 'docs.schema.json', Path('lib/cairn/data/schemas/docs.schema.json'), project_schema=True)
assert r.state == 'pending', r
third = {m for m in sys.modules if m.split('.')[0] in {'fastjsonschema', 'jsonschema', 'pydantic', 'yaml'}}
assert not third, third
other = {m.split('.')[0] for m in sys.modules} - set(sys.stdlib_module_names) - {'cairn', '__main__'}
assert not other, other
print('stdlib only')
"""


def test_generated_validators_need_only_the_standard_library() -> None:
    done = subprocess.run([sys.executable, "-I", "-S", "-c", STDLIB_ONLY], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "stdlib only"


def test_generated_files_are_up_to_date() -> None:
    fastjsonschema = pytest.importorskip("fastjsonschema")
    from cairn.checks.generated import GENERATOR

    installed = f"fastjsonschema {fastjsonschema.VERSION}"
    if installed != GENERATOR:
        pytest.skip(f"committed validators come from {GENERATOR}; {installed} is installed")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_validators.py"), "--check"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_project_schema_that_breaks_while_checking(tmp_path: Path) -> None:
    own = tmp_path / "docs.schema.json"
    own.write_text(json.dumps({"$schema": "https://json-schema.org/draft/2020-12/schema",
                               "properties": {"summary": {"$ref": "#/$defs/missing"}}}), encoding="utf-8")
    result = checks.check_artifact({"summary": "x"}, "docs.schema.json", own, project_schema=True)
    assert result.state == "failed"
    assert result.problems[0].startswith("$: schema docs.schema.json is unusable: ")
