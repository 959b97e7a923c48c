"""A project's `.claude/cairn.yaml`: its pipeline changes and settings, with errors that
name the file, the line and the fix. PyYAML reads it (the CLI's side); hooks read only
the `settings:` block, with the standard library (`load_settings`)."""

from __future__ import annotations

import re
from pathlib import Path

from cairn.errors import ConfigError
from cairn.pipeline import (
    _PROJECT_KEYS,
    _PROJECT_PIPELINE_KEYS,
    _SETTINGS_KEYS,
    _STAGE_KEYS,
    _TEXT_SETTINGS,
    PROJECT_CONFIG,
    Pipeline,
    Settings,
    _check_keys,
    _default_entries,
    _entry,
    _line,
    _Lined,
    _resolve,
    _str_list,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


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
    pipeline, settings, _ = load_project(project_dir)
    return pipeline, settings


def _breakpoints(data: Any, pipeline: Pipeline, path: str) -> tuple[str, ...]:
    """`breakpoints: [STAGE, ...]`: stages every new workflow holds until a person approves."""
    names = _str_list(data.get("breakpoints"), "`breakpoints`", path, _line(data, "breakpoints"))
    for name in names:
        if not pipeline.has(name):
            raise ConfigError(f"breakpoint on unknown stage {name!r}", path=path, line=_line(data, "breakpoints"),
                              hint="stages: " + ", ".join(pipeline.names))
    return tuple(dict.fromkeys(names))


def load_project(project_dir: Path) -> tuple[Pipeline, Settings, tuple[str, ...]]:
    """`load_project_config`, and the stages the project holds at a breakpoint."""
    base_name, base_entries = _default_entries()
    cfg = project_dir / PROJECT_CONFIG
    if not cfg.is_file():
        return _resolve(base_entries, base_name, "<builtin>"), Settings(), ()
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
        return _resolve(base_entries, base_name, "<builtin>"), Settings(), ()
    _check_keys(data, _PROJECT_KEYS, "the project config", path)
    settings = Settings()
    raw_settings = data.get("settings")
    if raw_settings is not None:
        _check_keys(raw_settings, _SETTINGS_KEYS, "`settings`", path)
        values: dict[str, Any] = {}
        for key, val in raw_settings.items():
            if key in _TEXT_SETTINGS:
                values[key] = _text_setting(key, val, path, _line(raw_settings, key))
                continue
            if not isinstance(val, (int, float)) or isinstance(val, bool) or not 0 < val < 1e9:
                raise ConfigError(f"settings.{key} must be a positive number below 1e9", path=path,
                                  line=_line(raw_settings, key),
                                  hint=f"write e.g. `{key}: {getattr(Settings(), key)}`")
            values[key] = int(val) if key in _INT_SETTINGS else float(val)
        settings = Settings(**values)
    pipeline = _apply_project(base_name, base_entries, data, path)
    return pipeline, settings, _breakpoints(data, pipeline, path)


_INT_SETTINGS = {"context_bytes", "artifact_max_bytes"}


def _text_setting(key: str, val: object, path: str, line: int | None) -> str:
    if not isinstance(val, str) or not val.strip():
        raise ConfigError(f"settings.{key} must be a non-empty string", path=path, line=line,
                          hint="write e.g. `store: postgresql://cairn@db.example.com/cairn`" if key == "store"
                          else "write e.g. `project_key: acme/payments`")
    if key == "store":
        from cairn.store.address import check_address

        check_address(val, path=path, line=line)
    return val.strip()


_SETTINGS_LINE = re.compile(r"settings:\s*(\{[^#]*\})?\s*(#.*)?")
_SETTING_ITEM = re.compile(r"\s*([A-Za-z_]+)\s*:\s*([-+0-9.eE]+)\s*")
_TEXT_ITEM = re.compile(r"\s*(store|project_key)\s*:\s*(['\"]?)([^'\"\s]+)\2\s*")


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
        word = _TEXT_ITEM.fullmatch(item) if item.strip() else None
        if word is not None:
            values[word.group(1)] = word.group(3)
            continue
        m = _SETTING_ITEM.fullmatch(item) if item.strip() else None
        if m is None or m.group(1) not in _SETTINGS_KEYS:
            continue
        try:
            val = float(m.group(2))
        except ValueError:
            continue
        if 0 < val < 1e9:
            values[m.group(1)] = int(val) if m.group(1) in _INT_SETTINGS else val
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
