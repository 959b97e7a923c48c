"""The pipeline as data: stages, the artifacts each must write, and their dependencies.

Loading YAML is only needed when a workflow starts; afterwards every checkpoint carries
a snapshot of its pipeline (`Pipeline.to_dict`) so hooks rebuild it without PyYAML.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cairn.errors import ConfigError
from cairn.names import bad_agent_name, bad_stage_name, confusable

TYPE_CHECKING = False  # `typing` costs a hook ~2 ms to import; annotations only need it
if TYPE_CHECKING:
    from typing import Any

PROJECT_CONFIG = Path(".claude") / "cairn.yaml"
PROJECT_SCHEMAS = Path(".claude") / "schemas"

_STAGE_KEYS = {"name", "agent", "description", "artifacts", "depends_on", "after", "before", "reads_code"}
_ARTIFACT_KEYS = {"path", "schema"}
_FILE_KEYS = {"version", "name", "stages"}
_PROJECT_KEYS = {"version", "pipeline", "settings", "breakpoints"}
_PROJECT_PIPELINE_KEYS = {"replace", "name", "stages", "remove"}
_SETTINGS_KEYS = {"expiry_days", "context_bytes", "lock_timeout", "lease_minutes", "retention_days",
                  "artifact_max_bytes", "store", "project_key"}
_TEXT_SETTINGS = {"store", "project_key"}  # the rest are positive numbers
# Artifact paths are shown to the model: no control characters, markup or code fences.
_UNSAFE_PATH_CHARS = frozenset([*map(chr, range(32)), "\x7f", "<", ">", "`", '"', "\\"])


@dataclass(frozen=True)
class ArtifactSpec:
    path: str
    schema: str | None = None


@dataclass(frozen=True)
class Stage:
    name: str
    agent: str
    description: str
    artifacts: tuple[ArtifactSpec, ...]
    depends_on: tuple[str, ...]
    # Its result depends on the code as it is (a review, an audit, docs of the code): a
    # change to the code after it completed makes it re-run (cairn.lineage).
    reads_code: bool = False

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "name": self.name,
            "agent": self.agent,
            "description": self.description,
            "artifacts": [{"path": a.path, "schema": a.schema} for a in self.artifacts],
            "depends_on": list(self.depends_on),
        }
        if self.reads_code:  # only when set: pipelines recorded before the flag keep their digest
            out["reads_code"] = True
        return out


@dataclass(frozen=True)
class Pipeline:
    name: str
    stages: tuple[Stage, ...]
    source: str = "<builtin>"

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.stages]

    def __len__(self) -> int:
        return len(self.stages)

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        from cairn.errors import UnknownAgent

        raise UnknownAgent(name, self.names)

    def has(self, name: str) -> bool:
        return any(s.name == name for s in self.stages)

    def ready(self, done: Iterable[str]) -> list[str]:
        """Stages not yet done whose dependencies are all done, in pipeline order."""
        finished = set(done)
        return [
            s.name
            for s in self.stages
            if s.name not in finished and all(d in finished for d in s.depends_on)
        ]

    def upstream(self, name: str) -> list[str]:
        """Every stage `name` depends on, directly or not, in order."""
        need = set(self.stage(name).depends_on)
        for s in reversed(self.stages):
            if s.name in need:
                need.update(s.depends_on)
        return [s.name for s in self.stages if s.name in need]

    def downstream(self, name: str) -> list[str]:
        """`name` and every stage that depends on it, directly or not, in order."""
        hit = {name}
        for s in self.stages:  # stages are topologically ordered (checked at load)
            if any(d in hit for d in s.depends_on):
                hit.add(s.name)
        return [s.name for s in self.stages if s.name in hit]

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "source": self.source, "digest": self.digest,
                "stages": [s.to_dict() for s in self.stages]}

    @property
    def digest(self) -> str:
        import hashlib  # here: a read (the dashboard) never hashes a pipeline; hashlib's import is ~3 ms

        body = json.dumps([s.to_dict() for s in self.stages], sort_keys=True).encode()
        return hashlib.sha256(body).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Pipeline:
        """A pipeline from its snapshot (`to_dict`), as stored in the database or found in an
        imported checkpoint: ValueError says what is malformed."""
        def items(value: object, what: str) -> list[object]:
            if not isinstance(value, list):
                raise ValueError(f"pipeline snapshot: {what} is not a list")
            return value

        def record(value: object, what: str) -> Mapping[str, object]:
            if not isinstance(value, dict) or not isinstance(value.get("name", value.get("path")), str):
                raise ValueError(f"pipeline snapshot: {what} has no name")
            return value

        stages: list[Stage] = []

        def names_before(st: Stage) -> list[str]:
            return [x.name for x in stages[:stages.index(st)]]
        for raw in items(data.get("stages", []), "stages"):
            s = record(raw, "a stage")
            name = str(s["name"])
            arts = [record(a, f"an artifact of {name}") for a in items(s.get("artifacts", []), "artifacts")]
            stages.append(Stage(
                name=name, agent=str(s.get("agent") or name), description=str(s.get("description", "")),
                artifacts=tuple(ArtifactSpec(str(a["path"]), _text(a.get("schema"))) for a in arts),
                depends_on=tuple(str(d) for d in items(s.get("depends_on", []), f"depends_on of {name}")),
                reads_code=s.get("reads_code") is True))
        for st in stages:  # a snapshot is as untrusted as cairn.yaml (an edited history entry, a crafted database)
            why = bad_stage_name(st.name) or bad_agent_name(st.agent) or next(
                (f"depends on {d!r}, not a stage before it" for d in st.depends_on if d not in names_before(st)), None)
            if why is not None:
                raise ValueError(f"pipeline snapshot: stage {st.name!r}: {why}")
        pair = confusable([st.name for st in stages])
        if pair is not None:
            raise ValueError(f"pipeline snapshot: stage names {pair[0]!r} and {pair[1]!r} look alike")
        return cls(name=str(data.get("name", "default")), stages=tuple(stages),
                   source=str(data.get("source", "<snapshot>")))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Settings:
    expiry_days: float = 14.0
    context_bytes: int = 4096
    lock_timeout: float = 10.0
    artifact_max_bytes: int = 1_000_000  # the largest artifact a shared store carries to other machines
    store: str = ""        # "" = the project's SQLite file; postgresql://... = a shared server
    project_key: str = ""  # the project's scope on a shared store ("" = the normalized git remote URL)
    lease_minutes: float = 30.0   # a lease from another host expires after this long without a sign of life
    retention_days: float = 7.0   # finished workflows' history is kept this long (`cairn cleanup`'s default)

    @property
    def lease_ttl(self) -> timedelta:
        return timedelta(minutes=self.lease_minutes)


# --------------------------------------------------------------------------- loading


class _Lined(dict):  # type: ignore[type-arg]
    """A dict that remembers the source line of itself and of each key."""

    line: int | None = None

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[Any, int] = {}


def _line(obj: Any, key: Any = None) -> int | None:
    if isinstance(obj, _Lined):
        return obj.lines.get(key, obj.line) if key is not None else obj.line
    return None


def _check_keys(obj: Any, allowed: set[str], what: str, path: str) -> None:
    if not isinstance(obj, dict):
        raise ConfigError(f"{what} must be a mapping, got {type(obj).__name__}", path=path,
                          line=_line(obj), hint="write `key: value` entries there")
    for key in obj:
        if key not in allowed:
            raise ConfigError(
                f"unknown key {key!r} in {what}", path=path, line=_line(obj, key),
                hint="allowed keys: " + ", ".join(sorted(allowed)),
            )


def _parse_artifacts(raw: Any, stage: str, path: str, line: int | None) -> tuple[ArtifactSpec, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"stage {stage!r}: artifacts must be a list", path=path, line=line,
                          hint="write `artifacts: [{path: NAME.json, schema: NAME.schema.json}]`")
    specs = []
    for item in raw:
        if isinstance(item, str):
            item = {"path": item}
        _check_keys(item, _ARTIFACT_KEYS, f"an artifact of stage {stage!r}", path)
        rel = item.get("path")
        if not isinstance(rel, str) or not rel or rel.startswith("/") or ".." in Path(rel).parts \
                or any(c in rel for c in _UNSAFE_PATH_CHARS) or len(rel) > 200:
            raise ConfigError(f"stage {stage!r}: artifact path {rel!r} is not a relative file name",
                              path=path, line=_line(item, "path") or line,
                              hint="name a file inside the workflow folder, e.g. notes.json")
        schema = item.get("schema")
        if schema is not None and (not isinstance(schema, str) or "/" in schema or ".." in schema
                                   or "\x00" in schema or not schema):
            raise ConfigError(f"stage {stage!r}: schema {schema!r} must be a bare file name",
                              path=path, line=_line(item, "schema"),
                              hint="put project schemas in .claude/schemas/ and name the file")
        specs.append(ArtifactSpec(rel, schema))
    return tuple(specs)


def _str_list(raw: Any, what: str, path: str, line: int | None) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [raw]
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise ConfigError(f"{what} must be a list of stage names", path=path, line=line,
                          hint="write e.g. `[planner, reviewer]`")
    return list(raw)


def _resolve(entries: list[dict[str, Any]], name: str, path: str) -> Pipeline:
    """Turn ordered raw stage entries into a checked Pipeline."""
    seen: set[str] = set()
    for e in entries:
        if e["name"] in seen:
            raise ConfigError(f"duplicate stage name {e['name']!r}", path=path, line=e.get("line"),
                              hint="stage names must be unique; rename or remove one")
        seen.add(e["name"])
    pair = confusable([e["name"] for e in entries])
    if pair is not None:
        raise ConfigError(f"stage names {pair[0]!r} and {pair[1]!r} look alike", path=path,
                          line=next(e.get("line") for e in entries if e["name"] == pair[1]),
                          hint="rename one so that no reader can mistake one for the other")
    stages: list[Stage] = []
    resolved: dict[str, list[str]] = {}
    for i, e in enumerate(entries):
        deps = e.get("depends_on")
        if deps is None:
            # "after what comes before": every earlier stage nothing earlier depends on yet (in a
            # chain, the previous one; after a fork made by an override, each of its branches)
            used = {d for ds in resolved.values() for d in ds}
            deps = [x["name"] for x in entries[:i] if x["name"] not in used]
        for d in deps:
            if d not in seen:
                raise ConfigError(f"stage {e['name']!r} depends on unknown stage {d!r}",
                                  path=path, line=e.get("line"),
                                  hint="depend only on stages of the pipeline: " + ", ".join(seen))
        resolved[e["name"]] = list(deps)
        stages.append(Stage(e["name"], e.get("agent") or e["name"], e.get("description", ""),
                            e["artifacts"], tuple(deps), bool(e.get("reads_code", False))))
    ordered = _topological(stages, path, {e["name"]: e.get("line") for e in entries})
    return Pipeline(name=name, stages=tuple(ordered), source=path)


def _topological(stages: list[Stage], path: str, lines: dict[str, int | None]) -> list[Stage]:
    by_name = {s.name: s for s in stages}
    state: dict[str, int] = {}
    out: list[Stage] = []

    def visit(s: Stage, trail: list[str]) -> None:
        mark = state.get(s.name)
        if mark == 2:
            return
        if mark == 1:
            cycle = [*trail[trail.index(s.name):], s.name]
            raise ConfigError("dependency cycle: " + " -> ".join(cycle), path=path,
                              line=lines.get(s.name),
                              hint="remove one of the depends_on entries of that cycle")
        state[s.name] = 1
        for d in s.depends_on:
            visit(by_name[d], [*trail, s.name])
        state[s.name] = 2
        out.append(s)

    for s in stages:
        visit(s, [])
    return out


def _entry(raw: Any, path: str, *, base: dict[str, Any] | None = None) -> dict[str, Any]:
    _check_keys(raw, _STAGE_KEYS, "a stage", path)
    name = raw.get("name")
    if isinstance(name, (bool, int, float)):
        raise ConfigError(f"stage name {name!r} is not text", path=path, line=_line(raw),
                          hint="quote the name: YAML reads no/yes/on/off and numbers as values")
    why = bad_stage_name(name)
    if why is not None:
        raise ConfigError(f"stage name {name!r} is invalid: {why}", path=path, line=_line(raw),
                          hint="use ASCII letters, digits, '-' or '_'")
    entry: dict[str, Any] = (dict(base) if base else
                             {"name": name, "artifacts": (), "depends_on": None})
    entry["line"] = _line(raw)
    if "agent" in raw:
        agent = raw["agent"]
        if bad_agent_name(agent) is not None:
            raise ConfigError(f"stage {name!r}: agent {agent!r} is not an agent name", path=path,
                              line=_line(raw, "agent"),
                              hint="e.g. `agent: cairn:planner` or `agent: my-agent`")
        entry["agent"] = agent
    if "description" in raw:
        entry["description"] = str(raw["description"])
    if "artifacts" in raw:
        entry["artifacts"] = _parse_artifacts(raw["artifacts"], name, path, _line(raw, "artifacts"))
    if "reads_code" in raw:
        if not isinstance(raw["reads_code"], bool):
            raise ConfigError(f"stage {name!r}: reads_code must be true or false", path=path,
                              line=_line(raw, "reads_code"), hint="write `reads_code: true` for a stage whose "
                              "result depends on the code (a review), else leave it out")
        entry["reads_code"] = raw["reads_code"]
    if "depends_on" in raw:
        entry["depends_on"] = _str_list(raw["depends_on"], f"depends_on of {name!r}", path,
                                        _line(raw, "depends_on"))
    return entry


def _parse_file(data: Any, path: str) -> tuple[str, list[dict[str, Any]]]:
    _check_keys(data, _FILE_KEYS, "the pipeline file", path)
    raw = data.get("stages")
    if not isinstance(raw, list) or not raw:
        raise ConfigError("`stages` must be a non-empty list", path=path, line=_line(data, "stages"),
                          hint="list at least one stage")
    return str(data.get("name", "default")), [_entry(s, path) for s in raw]


def _default_entries() -> tuple[str, list[dict[str, Any]]]:
    """The builtin stages before dependencies are resolved: a stage without an explicit
    `depends_on` stays "after the previous stage", so a project inserting or removing
    stages keeps the chain linear."""
    # JSON, not YAML: the hooks and `cairn start` need no PyYAML when the project has no cairn.yaml
    from cairn.paths import DATA_DIR

    text = (DATA_DIR / "pipeline.json").read_text(encoding="utf-8")
    return _parse_file(json.loads(text), "cairn/data/pipeline.json")


def default_pipeline() -> Pipeline:
    name, entries = _default_entries()
    return _resolve(entries, name, "<builtin>")
