"""A project's scope on a shared store: which repository its workflows belong to.

Two clones of one repository, on two machines, must see the same workflows and two
repositories must never mix: the scope is a configured project key (`CAIRN_PROJECT_KEY`
or `settings.project_key`), else the repository's `origin` remote URL, normalized so
that the forms one repository is cloned by (https with or without credentials, ssh,
scp-like `git@host:path`, a trailing `.git` or `/`) name it alike. Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from cairn.errors import UsageError

# hosts whose repository paths are case-insensitive: Owner/Repo and owner/repo are one repository
_CASELESS_HOSTS = {"github.com", "gitlab.com", "bitbucket.org"}
_SCP = re.compile(r"^(?:[^@/]+@)?([^:/]+):(?!//)(.+)$")          # git@github.com:owner/repo.git
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://(?:[^@/]*@)?([^/:]+)(?::\d+)?(/.*)?$", re.I)


def normalize_remote(url: str) -> str:
    """`host/path` of a remote URL, without scheme, user, password, port, `.git` or a
    trailing slash; a local path stays a path (`file:` + its absolute form)."""
    url = url.strip()
    m = _URL.match(url)
    if m is not None and not url.lower().startswith("file://"):
        host, path = m.group(1).lower(), m.group(2) or ""
    elif (scp := _SCP.match(url)) is not None and "/" not in url.split(":", 1)[0]:
        host, path = scp.group(1).lower(), "/" + scp.group(2)
    else:
        local = url[len("file://"):] if url.lower().startswith("file://") else url
        return "file:" + _strip(str(Path(local).expanduser().resolve()))
    path = _strip(re.sub(r"/+", "/", path))
    if host in _CASELESS_HOSTS:
        path = path.lower()
    return f"{host}{path}"


def _strip(path: str) -> str:
    path = path.rstrip("/")
    return path[:-4] if path.endswith(".git") else path


def project_scope(project_dir: Path | None, setting: str, env: Mapping[str, str]) -> str:
    """The scope of the project at `project_dir` (see the module's docstring)."""
    key = env.get("CAIRN_PROJECT_KEY", "").strip() or setting.strip()
    if key:
        return "key:" + key
    if project_dir is not None:
        url = _origin_from_files(project_dir)
        if url is None:  # a layout only git reads (includes, GIT_DIR, ...): ask it
            from cairn.checks.gitstate import run_git

            lines = run_git(project_dir, "config", "--get", "remote.origin.url")
            url = lines[0] if lines else None
        if url and url.strip():
            return normalize_remote(url)
    raise UsageError(f"{project_dir or 'this folder'} has no git remote 'origin', so Cairn cannot tell which "
                      "repository its workflows on the shared store belong to",
                      hint="set `project_key: NAME` under settings in .claude/cairn.yaml (or CAIRN_PROJECT_KEY), "
                      "or add the remote: git remote add origin URL")


def _origin_from_files(project_dir: Path) -> str | None:
    """`remote.origin.url` read from the repository's config file (a hook must not pay a
    `git` process for it), or None when git itself must answer: environment overrides,
    `include` directives, a layout not found."""
    import os

    if any(os.environ.get(v) for v in ("GIT_DIR", "GIT_CONFIG", "GIT_CONFIG_COUNT", "GIT_COMMON_DIR")):
        return None
    try:
        here = project_dir.resolve()
        for top in (here, *here.parents):
            dot = top / ".git"
            if dot.is_dir():
                common = dot
                break
            if dot.is_file():  # a worktree or submodule: "gitdir: <path>", its config in the common dir
                text = dot.read_text(encoding="utf-8", errors="replace").strip()
                if not text.startswith("gitdir: "):
                    return None
                gitdir = (top / text[8:].strip()).resolve()
                shared = gitdir / "commondir"
                common = (gitdir / shared.read_text().strip()).resolve() if shared.is_file() else gitdir
                break
        else:
            return None
        lines = (common / "config").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    section, found = "", None
    for raw in lines:
        line = raw.split("#", 1)[0].split(";", 1)[0].strip() if not raw.lstrip().startswith(("#", ";")) else ""
        if line.startswith("["):
            section = line.strip("[]").strip().lower()
            if section.startswith(("include", "includeif")):
                return None  # the effective value may come from elsewhere
        elif section == 'remote "origin"' and "=" in line:
            key, _, value = line.partition("=")
            if key.strip().lower() == "url":
                found = value.strip().strip('"')  # the last one wins, as in git
    return found
