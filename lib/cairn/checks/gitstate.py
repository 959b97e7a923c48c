"""The state of the project's git repository: read from the `.git` files directly (a hook
must not pay ~3 ms per `git` process), with one `git rev-parse` whenever the layout is
one the direct read does not know (environment overrides, a reftable, a broken ref)."""

from __future__ import annotations

import json
import os
from pathlib import Path

# A repository's own config can name commands git runs: `core.fsmonitor` on every
# `git status`, hooks, a pager. The project may be someone else's (an archive with its
# .git): Cairn runs git with them off, so reading a repository's state executes nothing.
SAFE_GIT = ("-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-c", "core.pager=cat",
            "--no-pager")


def run_git(directory: str | Path, *args: str) -> list[str] | None:
    """`git -C directory args` output lines, None when git fails or is missing."""
    import subprocess  # only when the files cannot answer: ~3 ms of imports a hook rarely needs

    unfiltered = no_filters(directory) if args[:1] == ("status",) else []  # status compares contents
    try:
        out = subprocess.run(["git", *SAFE_GIT, *unfiltered, "-C", str(directory), *args], capture_output=True,
                             text=True, timeout=10, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return out.stdout.splitlines() if out.returncode == 0 else None


def no_filters(directory: str | Path) -> list[str]:
    """`-c` options that switch off every filter driver the repository configures: `git
    status` runs a file's clean filter to compare it with the index, and a cloned
    repository's .git/config can make that any command (`git config` itself runs none)."""
    key = _config_key(Path(directory))
    found = _NO_FILTERS.get(key) if key is not None else None
    if found is None:
        names = run_git(directory, "config", "--name-only", "--get-regexp", r"^filter\..*\.(clean|process)$") or []
        found = [arg for name in names if name.count(".") >= 2 for arg in ("-c", f"{name}=")]
        if key is not None:
            _NO_FILTERS[key] = found
    return list(found)


# `no_filters` by repository and its config files' stat: a process recording many
# completions (the CLI, the panel) starts one `git config` per repository, not one per
# `git status`, and asks again as soon as the repository's config changes.
_NO_FILTERS: dict[tuple[object, ...], list[str]] = {}


def _config_key(directory: Path) -> tuple[object, ...] | None:
    """The repository's top folder and the stat of its config files; None (ask git every
    time) when git's environment names other config or the files do not tell the layout."""
    if any(k.startswith("GIT_CONFIG") for k in os.environ):
        return None
    located = _locate(directory, [])
    common = _common(located[1], []) if located is not None else None
    if located is None or common is None:
        return None
    stats: list[tuple[int, int, int] | None] = []
    for path in (common / "config", located[1] / "config.worktree"):
        try:
            st = os.stat(path)
        except OSError:
            stats.append(None)
            continue
        stats.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return (str(located[0]), *stats)


def _maybe_repository(directory: Path) -> bool:
    """Whether git could find a repository from `directory` (a `.git` in it or above, or
    git's environment pointing elsewhere): a few stats instead of starting git, which
    costs ~8 ms on every completion of a project that is not a repository."""
    if os.environ.get("GIT_DIR") or os.environ.get("GIT_WORK_TREE"):
        return True
    try:
        here = directory.resolve()
    except OSError:
        return True
    return any(os.path.lexists(d / ".git") for d in (here, *here.parents))


_HEX = frozenset("0123456789abcdef")


def _is_sha(text: str) -> bool:
    return len(text) in (40, 64) and set(text) <= _HEX


def _read(path: Path) -> str | None:
    try:
        with open(path, "rb") as fh:
            return fh.read(4096).decode("utf-8", "replace").strip()
    except OSError:
        return None


def _note(read: list[tuple[str, str]], path: Path) -> str | None:
    text = _read(path)
    read.append((str(path), text or ""))
    return text


def _locate(directory: Path, read: list[tuple[str, str]]) -> tuple[Path, Path] | None:
    """(top of the working tree, its git dir) found from `directory` upwards, or None to ask git."""
    if os.environ.get("GIT_DIR") or os.environ.get("GIT_WORK_TREE") or os.environ.get("GIT_COMMON_DIR"):
        return None
    try:
        here = directory.resolve()
    except OSError:
        return None
    for top in (here, *here.parents):
        dot = top / ".git"
        if os.path.isdir(dot):
            return top, dot
        if os.path.isfile(dot):  # a worktree or submodule: "gitdir: <path>"
            text = _note(read, dot) or ""
            if not text.startswith("gitdir: "):
                return None
            return top, (top / text[8:].strip()).resolve()
    return None


def _common(gitdir: Path, read: list[tuple[str, str]]) -> Path | None:
    """The directory holding the refs (a linked worktree shares its main repository's),
    None when they are in a reftable (git must read it)."""
    common_text = _note(read, gitdir / "commondir")
    common = (gitdir / common_text).resolve() if common_text else gitdir
    return None if os.path.exists(common / "reftable") else common


def _direct(directory: Path, read: list[tuple[str, str]] | None = None) -> tuple[str, str | None, str] | None:
    """(head, branch or None, worktree) read from the files, or None to ask git. `read`
    collects (path, content) of every file the answer came from."""
    if read is None:
        read = []
    located = _locate(directory, read)
    if located is None:
        return None
    top, gitdir = located
    head = _note(read, gitdir / "HEAD")
    if head is None:
        return None
    if _is_sha(head):
        return head, None, str(top)
    if not head.startswith("ref: refs/"):
        return None
    ref = head[5:].strip()
    common = _common(gitdir, read)
    if common is None:
        return None
    sha = _note(read, common / ref) if ".." not in ref else None
    if sha is None:
        read.append(("packed-refs", ""))  # too large to watch: marks the answer as not cacheable
        packed = _read_packed(common / "packed-refs", ref)
        if packed is None:
            return None  # an unborn branch, or a ref git must resolve
        sha = packed
    if not _is_sha(sha):
        return None
    return sha, ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else None, str(top)


def _has_branch(directory: Path, branch: str) -> bool | None:
    """Whether the repository at `directory` has the branch, read from the files; None to ask git."""
    read: list[tuple[str, str]] = []
    located = _locate(directory, read)
    common = _common(located[1], read) if located is not None else None
    if common is None or ".." in branch or branch.startswith("/") or "\\" in branch:
        return None
    loose = _read(common / "refs" / "heads" / branch)
    if loose is not None:
        return True if _is_sha(loose) else None
    return _read_packed(common / "packed-refs", f"refs/heads/{branch}") is not None


def _read_packed(path: Path, ref: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                sha, _, name = line.strip().partition(" ")
                if name == ref:
                    return sha
    except OSError:
        return None
    return None


def git_state(directory: Path | None) -> str | None:
    """JSON text of {head, branch, worktree} of the repository at `directory` (branch null
    when detached), or None when it is not a repository with a commit."""
    if directory is None or not Path(directory).is_dir() or not _maybe_repository(Path(directory)):
        return None
    found = _direct(Path(directory))
    if found is not None:
        head, branch, top = found
        return json.dumps({"head": head, "branch": branch, "worktree": top}, sort_keys=True)
    lines = run_git(directory, "rev-parse", "--show-toplevel", "HEAD", "--symbolic-full-name", "HEAD")
    if not lines or len(lines) != 3:
        return None
    top, head, ref = lines
    branch = ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else None
    return json.dumps({"head": head, "branch": branch, "worktree": top}, sort_keys=True)


def sources(directory: Path | None) -> list[tuple[str, str]] | None:
    """(path, content) of the files the git state of `directory` is read from, for a cache
    to watch; [] when it is not a repository; None when they cannot be watched (git itself
    would have to answer, or the ref is packed)."""
    if directory is None or not _maybe_repository(Path(directory)):
        return []
    read: list[tuple[str, str]] = []
    if _direct(Path(directory), read) is None or any(p == "packed-refs" for p, _ in read):
        return None
    return read


class GitLook:
    """The questions the stale checks ask a worktree (is it still a repository, its HEAD,
    does a branch exist), each answered once: the cards of one panel page share one, so
    fifty workflows of one project read its `.git` once instead of starting git 150 times.
    Answers come from the files; git is asked only when the layout is one they do not
    tell (environment overrides, a reftable, an unborn branch)."""

    def __init__(self) -> None:
        self._found: dict[str, tuple[str, str | None, str] | None] = {}
        self._alive: dict[str, bool] = {}
        self._heads: dict[str, str | None] = {}
        self._branches: dict[tuple[str, str], bool] = {}

    def _direct(self, worktree: str) -> tuple[str, str | None, str] | None:
        if worktree not in self._found:
            self._found[worktree] = _direct(Path(worktree))
        return self._found[worktree]

    def alive(self, worktree: str) -> bool:
        """Whether `worktree` is a directory inside a git repository."""
        if worktree not in self._alive:
            self._alive[worktree] = Path(worktree).is_dir() and (
                self._direct(worktree) is not None or run_git(worktree, "rev-parse", "--git-dir") is not None)
        return self._alive[worktree]

    def head(self, worktree: str) -> str | None:
        """The commit HEAD names, None when there is none."""
        if worktree not in self._heads:
            found = self._direct(worktree)
            lines = [found[0]] if found is not None else run_git(worktree, "rev-parse", "HEAD")
            self._heads[worktree] = lines[0] if lines else None
        return self._heads[worktree]

    def has_branch(self, worktree: str, branch: str) -> bool:
        key = (worktree, branch)
        if key not in self._branches:
            known = _has_branch(Path(worktree), branch)
            self._branches[key] = known if known is not None else \
                run_git(worktree, "rev-parse", "--verify", "-q", f"refs/heads/{branch}") is not None
        return self._branches[key]
