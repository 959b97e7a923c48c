"""Which store a project uses, and its address as messages may show it. Standard library
only (hooks read it).

SQLite in the project folder is the default. A shared PostgreSQL server is chosen by, in
order: `CAIRN_STORE`, the plugin's `store` option inside Claude Code (hooks see it as
`CLAUDE_PLUGIN_OPTION_STORE`), `settings.store` in `.claude/cairn.yaml`. Its password
never passes through a file Cairn writes or reads from the project: it comes from
`PGPASSWORD`, a pgpass file, or the plugin's sensitive `store_password` option (kept in
the system keychain by Claude Code, handed to hooks in their environment), and is
removed from every message (`public`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from cairn.errors import ConfigError

SCHEMES = ("postgresql://", "postgres://")
_USERINFO = re.compile(r"^(postgres(?:ql)?://)([^@/]*)@")


def is_shared(address: str) -> bool:
    return address.startswith(SCHEMES)


def configured(env: Mapping[str, str], setting: str) -> tuple[str, str] | None:
    """(address, where it was set) of a shared store, None for the project's SQLite file."""
    for value, where in ((env.get("CAIRN_STORE", ""), "CAIRN_STORE"),
                         (env.get("CLAUDE_PLUGIN_OPTION_STORE", ""), "the plugin's `store` option"),
                         (setting, "settings.store in .claude/cairn.yaml")):
        value = value.strip()
        if not value or value == "sqlite":
            continue
        if not is_shared(value):
            raise ConfigError(f"{public(value)!r} is not a postgresql:// address", path=where,
                              hint="write postgresql://USER@HOST:PORT/DATABASE, or remove it to keep the "
                              "project's SQLite file")
        return value, where
    return None


def check_address(address: str, *, path: str, line: int | None) -> None:
    """An address written in a file (cairn.yaml, committed with the repository) must not
    carry a password."""
    if not is_shared(address):
        raise ConfigError(f"settings.store is {public(address)!r}, not a postgresql:// address", path=path,
                          line=line, hint="write postgresql://USER@HOST:PORT/DATABASE, or remove it to keep SQLite")
    m = _USERINFO.match(address)
    if (m is not None and ":" in m.group(2)) or "password=" in address:
        raise ConfigError("settings.store carries a password; Cairn never keeps one in a file", path=path, line=line,
                          hint="remove it from the address and set PGPASSWORD, a ~/.pgpass line, or the "
                          "plugin's store_password option")


def password(env: Mapping[str, str]) -> str | None:
    """The password the plugin's keychain-backed option gives hooks (None: libpq's own
    PGPASSWORD / pgpass lookup applies)."""
    return env.get("CLAUDE_PLUGIN_OPTION_STORE_PASSWORD") or None


def public(address: str) -> str:
    """The address without a password (in the user part or a `password=` parameter)."""
    address = _USERINFO.sub(lambda m: f"{m.group(1)}{m.group(2).split(':', 1)[0]}@", address)
    return re.sub(r"(password=)[^&\s]*", r"\1[REDACTED]", address)
