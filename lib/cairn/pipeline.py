"""The pipeline as data: stages, the artifacts each must write, and their dependencies.

Loading YAML is only needed when a workflow starts; afterwards every checkpoint carries
a snapshot of its pipeline (`Pipeline.to_dict`) so hooks rebuild it without PyYAML.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cairn.errors import ConfigError

TYPE_CHECKING = False  # `typing` costs a hook ~2 ms to import; annotations only need it
if TYPE_CHECKING:
    from typing import Any

PROJECT_CONFIG = Path(".claude") / "cairn.yaml"
PROJECT_SCHEMAS = Path(".claude") / "schemas"

_STAGE_KEYS = {"name", "agent", "description", "artifacts", "depends_on", "after", "before"}
_ARTIFACT_KEYS = {"path", "schema"}
_FILE_KEYS = {"version", "name", "stages"}
_PROJECT_KEYS = {"version", "pipeline", "settings"}
_PROJECT_PIPELINE_KEYS = {"replace", "name", "stages", "remove"}
_SETTINGS_KEYS = {"expiry_days", "context_bytes", "lock_timeout"}
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "agent": self.agent,
            "description": self.description,
            "artifacts": [{"path": a.path, "schema": a.schema} for a in self.artifacts],
            "depends_on": list(self.depends_on),
        }


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

    def downstream(self, name: str) -> list[str]:
        """`name` and every stage that depends on it, directly or not, in order."""
        hit = {name}
        for s in self.stages:  # stages are topologically ordered (checked at load)
            if any(d in hit for d in s.depends_on):
                hit.add(s.name)
        return [s.name for s in self.stages if s.name in hit]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "digest": self.digest,
                "stages": [s.to_dict() for s in self.stages]}

    @property
    def digest(self) -> str:
        body = json.dumps([s.to_dict() for s in self.stages], sort_keys=True).encode()
        return hashlib.sha256(body).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pipeline:
        stages = tuple(
            Stage(
                name=str(s["name"]),
                agent=str(s.get("agent") or s["name"]),
                description=str(s.get("description", "")),
                artifacts=tuple(
                    ArtifactSpec(str(a["path"]), a.get("schema")) for a in s.get("artifacts", [])
                ),
                depends_on=tuple(str(d) for d in s.get("depends_on", [])),
            )
            for s in data.get("stages", [])
        )
        return cls(name=str(data.get("name", "default")), stages=stages,
                   source=str(data.get("source", "<snapshot>")))


@dataclass(frozen=True)
class Settings:
    expiry_days: float = 14.0
    context_bytes: int = 4096
    lock_timeout: float = 10.0


# --------------------------------------------------------------------------- loading


def _load_yaml(text: str, path: str) -> Any:
    """Parse YAML keeping each mapping's key lines (1-based) for error messages."""
    import yaml

    class _LineLoader(yaml.SafeLoader):
        pass

    def _construct(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[str, Any]:
        loader.flatten_mapping(node)
        out = _Lined()
        out.line = node.start_mark.line + 1
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool, type(None))):
                raise ConfigError(f"a mapping key must be a plain value, not {type(key).__name__}",
                                  path=path, line=key_node.start_mark.line + 1,
                                  hint="write keys as plain words, e.g. `name:`")
            if key in out:
                raise ConfigError(f"duplicate key {key!r}", path=path,
                                  line=key_node.start_mark.line + 1,
                                  hint="remove one of the two entries")
            out[key] = loader.construct_object(value_node, deep=True)
            out.lines[key] = key_node.start_mark.line + 1
        return out

    _LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct)
    try:
        return yaml.load(text, Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError(f"not valid YAML: {exc.problem}", path=path, line=line,
                          hint="fix the YAML syntax at that line") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", path=path,
                          hint="fix the YAML syntax of the file") from None


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
    stages: list[Stage] = []
    for i, e in enumerate(entries):
        deps = e.get("depends_on")
        if deps is None:
            deps = [entries[i - 1]["name"]] if i > 0 else []
        for d in deps:
            if d not in seen:
                raise ConfigError(f"stage {e['name']!r} depends on unknown stage {d!r}",
                                  path=path, line=e.get("line"),
                                  hint="depend only on stages of the pipeline: " + ", ".join(seen))
        stages.append(Stage(e["name"], e.get("agent") or e["name"], e.get("description", ""),
                            e["artifacts"], tuple(deps)))
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
    if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"stage name {name!r} is invalid", path=path, line=_line(raw),
                          hint="use letters, digits, '-' or '_'")
    entry: dict[str, Any] = (dict(base) if base else
                             {"name": name, "artifacts": (), "depends_on": None})
    entry["line"] = _line(raw)
    if "agent" in raw:
        agent = raw["agent"]
        if not isinstance(agent, str) or not agent or len(agent) > 100 or not all(
                c.isalnum() or c in "-_:." for c in agent):
            raise ConfigError(f"stage {name!r}: agent {agent!r} is not an agent name", path=path,
                              line=_line(raw, "agent"),
                              hint="e.g. `agent: cairn:planner` or `agent: my-agent`")
        entry["agent"] = agent
    if "description" in raw:
        entry["description"] = str(raw["description"])
    if "artifacts" in raw:
        entry["artifacts"] = _parse_artifacts(raw["artifacts"], name, path, _line(raw, "artifacts"))
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


def _apply_project(base_name: str, base_entries: list[dict[str, Any]], data: Any,
                   path: str) -> Pipeline:
    entries = [{**e, "line": None} for e in base_entries]
    spec = data.get("pipeline")
    if spec is None:
        return _resolve(entries, base_name, "<builtin>")
    _check_keys(spec, _PROJECT_PIPELINE_KEYS, "`pipeline`", path)
    raw_stages = spec.get("stages", [])
    if not isinstance(raw_stages, list):
        raise ConfigError("`pipeline.stages` must be a list", path=path, line=_line(spec, "stages"),
                          hint="write `stages:` followed by `- name: ...` entries")
    if spec.get("replace"):
        entries = []
    for name in _str_list(spec.get("remove"), "`pipeline.remove`", path, _line(spec, "remove")):
        if not any(e["name"] == name for e in entries):
            raise ConfigError(f"cannot remove unknown stage {name!r}", path=path,
                              line=_line(spec, "remove"),
                              hint="known stages: " + ", ".join(e["name"] for e in entries))
        entries = [e for e in entries if e["name"] != name]
        for e in entries:
            if e["depends_on"] and name in e["depends_on"]:
                e["depends_on"] = [d for d in e["depends_on"] if d != name] or None
    named: set[str] = set()
    for raw in raw_stages:
        _check_keys(raw, _STAGE_KEYS, "a stage", path)
        if raw.get("name") in named:
            raise ConfigError(f"duplicate stage name {raw.get('name')!r}", path=path,
                              line=_line(raw), hint="stage names must be unique; rename or remove one")
        named.add(str(raw.get("name")))
        existing = next((e for e in entries if e["name"] == raw.get("name")), None)
        entry = _entry(raw, path, base=existing)
        where = raw.get("after") or raw.get("before")
        if existing is not None and where is None:
            entries[entries.index(existing)] = entry
            continue
        if existing is not None:
            entries.remove(existing)
        if where is None:
            if "artifacts" not in raw:
                raise ConfigError(f"new stage {entry['name']!r} has no artifacts", path=path,
                                  line=_line(raw), hint="add `artifacts: [NAME.json]`")
            entries.append(entry)
            continue
        anchor = next((i for i, e in enumerate(entries) if e["name"] == where), None)
        if anchor is None:
            raise ConfigError(f"stage {entry['name']!r} is placed next to unknown stage {where!r}",
                              path=path, line=_line(raw, "after" if "after" in raw else "before"),
                              hint="known stages: " + ", ".join(e["name"] for e in entries))
        entries.insert(anchor + 1 if "after" in raw else anchor, entry)
    if not entries:
        raise ConfigError("the pipeline has no stages", path=path, hint="keep at least one stage")
    return _resolve(entries, str(spec.get("name", base_name)), path)


def load_project_config(project_dir: Path) -> tuple[Pipeline, Settings]:
    """The default pipeline with `<project>/.claude/cairn.yaml` applied, and settings."""
    base_name, base_entries = _default_entries()
    cfg = project_dir / PROJECT_CONFIG
    if not cfg.is_file():
        return _resolve(base_entries, base_name, "<builtin>"), Settings()
    if cfg.is_symlink():
        raise ConfigError("is a symbolic link; Cairn does not follow links under .claude/", path=str(cfg),
                          hint="replace it with a regular file")
    path = str(cfg)
    try:
        text = cfg.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", path=path,
                          hint="make it a readable UTF-8 file") from None
    data = _load_yaml(text, path)
    if data is None:
        return _resolve(base_entries, base_name, "<builtin>"), Settings()
    _check_keys(data, _PROJECT_KEYS, "the project config", path)
    settings = Settings()
    raw_settings = data.get("settings")
    if raw_settings is not None:
        _check_keys(raw_settings, _SETTINGS_KEYS, "`settings`", path)
        values: dict[str, Any] = {}
        for key, val in raw_settings.items():
            if not isinstance(val, (int, float)) or isinstance(val, bool) or not 0 < val < 1e9:
                raise ConfigError(f"settings.{key} must be a positive number below 1e9", path=path,
                                  line=_line(raw_settings, key),
                                  hint=f"write e.g. `{key}: {getattr(Settings(), key)}`")
            values[key] = int(val) if key == "context_bytes" else float(val)
        settings = Settings(**values)
    return _apply_project(base_name, base_entries, data, path), settings


_SETTINGS_LINE = re.compile(r"settings:\s*(\{[^#]*\})?\s*(#.*)?")
_SETTING_ITEM = re.compile(r"\s*([A-Za-z_]+)\s*:\s*([-+0-9.eE]+)\s*")


def _settings_without_yaml(text: str) -> Settings:
    """The `settings:` block of cairn.yaml read with the standard library (hooks run
    without PyYAML): a block or flow mapping of numbers. Whatever this cannot read keeps
    its default; `cairn validate` (with PyYAML) reports real mistakes."""
    lines = text.splitlines()
    items: list[str] = []
    for i, line in enumerate(lines):
        m = _SETTINGS_LINE.fullmatch(line.rstrip())
        if m is None:
            continue
        if m.group(1):
            items = m.group(1)[1:-1].split(",")
        else:
            for nxt in lines[i + 1:]:
                if nxt.strip() and not nxt.lstrip().startswith("#") and not nxt[:1].isspace():
                    break
                items.append(nxt.split("#", 1)[0])
        break
    values: dict[str, Any] = {}
    for item in items:
        m = _SETTING_ITEM.fullmatch(item) if item.strip() else None
        if m is None or m.group(1) not in _SETTINGS_KEYS:
            continue
        try:
            val = float(m.group(2))
        except ValueError:
            continue
        if 0 < val < 1e9:
            values[m.group(1)] = int(val) if m.group(1) == "context_bytes" else val
    return Settings(**values)


def load_settings(project_dir: Path) -> Settings:
    """The project's settings: through the full loader when PyYAML is there, else the
    standard-library reader of the `settings:` block."""
    try:
        import yaml  # noqa: F401
    except ImportError:
        cfg = project_dir / PROJECT_CONFIG
        if not cfg.is_file() or cfg.is_symlink():
            return Settings()
        try:
            return _settings_without_yaml(cfg.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            return Settings()
    return load_project_config(project_dir)[1]
