"""The state of the code a stage saw, from git, cheaply: HEAD and the content (git blob
ids) of the tracked files that differ from it, plus untracked files that are not
ignored. One `git status` (it uses the index's stat cache: nothing unchanged is read)
and a hash of the changed files only (git's blob ids, computed here); never a hash of
the whole tree.
Cairn's own folder (`.claude/artifacts`) is left out: artifacts have their own lineage.

Filtered files (git-lfs, a clean filter) are hashed as they are in the worktree, not as
`git add` would store them: no filter command of the repository's config is ever run.

A state is JSON text: `{"head", "branch", "worktree", "dirty": {path: blob or "-"}}`
("-": deleted). Two states compare by `fingerprint`; `changed_files` names the files
whose content differs between them. Standard library only (the hooks record states).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cairn.checks.gitstate import SAFE_GIT, _direct, _maybe_repository, no_filters, run_git

EXCLUDE = ":(top,exclude).claude/artifacts"
DELETED = "-"


def snapshot(directory: Path | None) -> str | None:
    """The code state of the repository at `directory` as JSON text; None when it is not
    a repository with a commit (or git is missing)."""
    if directory is None or not Path(directory).is_dir() or not _maybe_repository(Path(directory)):
        return None
    found = _direct(Path(directory))  # the top folder from the .git files: one git process less
    top = [found[2]] if found is not None else run_git(directory, "rev-parse", "--show-toplevel")
    if not top:
        return None
    root = top[0]
    out = _status(root)
    if out is None:
        return None
    head, branch, dirty = out
    if head is None:
        return None
    return json.dumps({"head": head, "branch": branch, "worktree": root, "dirty": dirty}, sort_keys=True)


def _status(root: str) -> tuple[str | None, str | None, dict[str, str]] | None:
    import subprocess

    try:  # SAFE_GIT and no filter: a repository's own config (fsmonitor, hooks, clean filters) runs nothing
        run = subprocess.run(["git", *SAFE_GIT, *no_filters(root), "-C", root, "status", "--porcelain=v2", "-z",
                              "--branch", "--no-renames", "--untracked-files=all", "--ignore-submodules", "--", ".",
                              EXCLUDE],
                             capture_output=True, timeout=30, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    if run.returncode != 0:
        return None
    head: str | None = None
    branch: str | None = None
    present: list[str] = []
    dirty: dict[str, str] = {}
    for entry in run.stdout.decode("utf-8", "surrogateescape").split("\0"):
        if entry.startswith("# branch.oid "):
            oid = entry[len("# branch.oid "):]
            head = oid if oid != "(initial)" else None
        elif entry.startswith("# branch.head "):
            name = entry[len("# branch.head "):]
            branch = None if name == "(detached)" else name
        elif entry.startswith(("1 ", "u ")):
            fields = entry.split(" ", 8 if entry[0] == "1" else 10)
            path, xy = fields[-1], fields[1]
            if "D" in xy[1:] or (xy[0] == "D" and xy[1] == "."):
                dirty[path] = DELETED
            else:
                present.append(path)
        elif entry.startswith("? "):
            present.append(entry[2:])
    sha256 = head is not None and len(head) == 64
    for path in present:
        dirty[path] = blob_id(Path(root, path), sha256=sha256)
    return head, branch, dirty


def blob_id(path: Path, *, sha256: bool = False) -> str:
    """The git blob id of a worktree file's bytes as they are (a link: its target), computed
    here: `git hash-object` would run the repository's clean filters, which a cloned
    repository's config can make any command. DELETED when it cannot be read."""
    import os

    try:
        data = os.fsencode(os.readlink(path)) if os.path.islink(path) else path.read_bytes()
    except OSError:
        return DELETED
    h = hashlib.sha256() if sha256 else hashlib.sha1()  # git's object id, not a security hash
    h.update(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def load(text: str | None) -> dict[str, object] | None:
    """A recorded state, or None when there is none or it carries no code state (recorded
    before lineage existed: only HEAD, no `dirty`)."""
    if not text:
        return None
    try:
        rec = json.loads(text)
    except ValueError:
        return None
    if not isinstance(rec, dict) or not isinstance(rec.get("head"), str) or not isinstance(rec.get("dirty"), dict):
        return None
    return rec


def fingerprint(state: dict[str, object]) -> str:
    body = json.dumps([state.get("head"), state.get("dirty")], sort_keys=True).encode()
    return hashlib.sha256(body).hexdigest()[:16]


def _dirty(state: dict[str, object]) -> dict[str, str]:
    raw = state.get("dirty")
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def _tree(root: str, head: str, paths: list[str]) -> dict[str, str] | None:
    """Blob ids of `paths` in commit `head` (absent ones: DELETED); None when git cannot tell."""
    if not paths:
        return {}
    lines = run_git(root, "ls-tree", "-r", "--full-tree", head, "--", *paths)
    if lines is None:
        return None
    out = {p: DELETED for p in paths}
    for line in lines:
        meta, _, path = line.partition("\t")
        parts = meta.split()
        if len(parts) == 3 and path in out:
            out[path] = parts[2]
    return out


def changed_files(then: dict[str, object], now: dict[str, object]) -> list[str]:
    """The files whose content differs between two states of one repository, sorted."""
    if fingerprint(then) == fingerprint(now):
        return []
    root = str(now.get("worktree") or then.get("worktree") or ".")
    head0, head1 = str(then.get("head")), str(now.get("head"))
    d0, d1 = _dirty(then), _dirty(now)
    candidates = set(d0) | set(d1)
    if head0 != head1:
        diff = run_git(root, "diff", "--name-only", "--no-renames", "--no-ext-diff", "--no-textconv", head0, head1,
                       "--", ".", EXCLUDE)
        if diff is None:  # the old commit is gone (rebased, collected): every file differs as far as we know
            return sorted(candidates) or ["(HEAD " + head0[:12] + " is no longer in the repository)"]
        candidates |= set(diff)
    paths = sorted(candidates)
    base0 = _tree(root, head0, [p for p in paths if p not in d0])
    base1 = base0 if head0 == head1 else _tree(root, head1, [p for p in paths if p not in d1])
    if base0 is None or base1 is None:
        return paths
    return [p for p in paths if d0.get(p, base0.get(p)) != d1.get(p, base1.get(p))]
