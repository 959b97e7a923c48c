"""The side-effect ledger: what a Bash command did to the world, read from the command and
the output that proves it.

`effects_of(command, output, cwd)` runs after the command succeeded (Claude Code sends
PostToolUse only for a Bash call that exited 0; a failing one gets PostToolUseFailure)
and finds, per simple command of the line, a `git commit` (the sha in git's `[branch
sha]` line), a `git push` (each ref line `old..new src -> dst`; "Everything up-to-date"
is nothing), `gh pr create`, `gh issue create`, `gh release create` and `gh pr|issue
comment` (the URL gh prints), and package publishes: npm/pnpm/yarn (`+ name@version`),
cargo (`Published name vX`), twine/uv/poetry/hatch/flit (the distribution files uploaded,
or poetry's `Publishing name (version)`). No proof in the output, no record.

What PreToolUse asks before a command runs (would it repeat a creation?) is in
`cairn.repeats`. Strings are redacted before they are kept. Standard library only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence

from cairn.model import Effect
from cairn.redact import redact

# What a command must contain to be worth parsing (hooks/run.sh tests the same words in
# the shell before any Python starts; keep the two in step). PreToolUse needs fewer: only
# creations are denied as repeats.
TRIGGERS = ("commit", "push", "gh ", "publish", "upload")
PLAN_TRIGGERS = ("gh ", "publish", "upload")
MAX_COMMAND = 64 << 10
MAX_OUTPUT = 256 << 10

_PUNCTUATION = frozenset("();<>|&\n")
_COMMIT_LINE = re.compile(r"^\[(?P<branch>[^\]\s]+(?: HEAD)?)(?: \(root-commit\))? (?P<sha>[0-9a-f]{7,64})\] ?"
                          r"(?P<subject>.*)$", re.M)
_PUSH_TO = re.compile(r"^To (?P<url>\S+)\s*$", re.M)
_PUSH_REF = re.compile(r"^\s*[ +*]?\s*(?:\[new (?:branch|tag)\]|[0-9a-f]{7,64}\.\.\.?[0-9a-f]{7,64})\s+"
                       r"(?P<src>\S+)\s+->\s+(?P<dst>\S+)", re.M)
_URL = re.compile(r"https?://[^\s'\"<>]+")
_PR_URL = re.compile(r"/pull/(\d+)$")
_ISSUE_URL = re.compile(r"/issues/(\d+)$")
_COMMENT_URL = re.compile(r"#issuecomment-\d+$")
_RELEASE_URL = re.compile(r"/releases/tag/([^/\s]+)$")
_NPM_DONE = re.compile(r"^\+ (?P<name>(?:@[^/\s]+/)?[^@\s]+)@(?P<version>\S+)\s*$", re.M)
_CARGO_DONE = re.compile(r"^\s*(?:Published|Uploaded) (?P<name>[A-Za-z0-9_-]+) v(?P<version>\S+)", re.M)
_POETRY_DONE = re.compile(r"^Publishing (?P<name>\S+) \((?P<version>[^)\s]+)\) to", re.M)
_UPLOADED = re.compile(r"^\s*(?:Uploading|Uploaded)\s+(?:\S*/)?(?P<file>[A-Za-z0-9_.]+-[0-9][^\s/]*?"
                       r"(?:\.whl|\.tar\.gz|\.zip))\b", re.M)
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")

PY_PUBLISHERS = {("twine", "upload"), ("uv", "publish"), ("poetry", "publish"), ("hatch", "publish"),
                 ("flit", "publish")}
JS_PUBLISHERS = {"npm", "pnpm", "yarn"}


def worth_parsing(command: str, triggers: Sequence[str] = TRIGGERS) -> bool:
    return any(t in command for t in triggers)


# ---------------------------------------------------------------------- the command line


def simple_commands(command: str) -> list[list[str]]:
    """The simple commands of a shell line, as argv lists (`a && b; c | d` is four).
    Leading `VAR=value` assignments, `sudo`, `env`, `command`, `exec`, `time` are dropped."""
    import shlex

    lexer = shlex.shlex(command[:MAX_COMMAND], posix=True, punctuation_chars="();<>|&\n")
    lexer.whitespace = " \t\r"
    lexer.whitespace_split = True
    lexer.commenters = ""
    out: list[list[str]] = [[]]
    redirect = False
    try:
        for token in lexer:
            if redirect:  # the file a redirection names is not an argument
                redirect = False
            elif token and set(token) <= _PUNCTUATION:
                if token.startswith((">", "<")):
                    redirect = not token.endswith("&") or token in (">&", "<&")
                else:
                    out.append([])
            else:
                out[-1].append(token)
    except ValueError:  # an unclosed quote: what was read so far still counts
        pass
    cmds = []
    for argv in out:
        while argv and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", argv[0]) or argv[0] in
                        ("sudo", "env", "command", "exec", "time", "nohup")):
            argv = argv[1:]
        if argv:
            cmds.append(argv)
    return cmds


def _git_sub(argv: list[str]) -> tuple[str, list[str], str | None]:
    """(subcommand, its arguments, the -C folder) of a git argv."""
    i, where = 1, None
    while i < len(argv) and argv[i].startswith("-"):
        if argv[i] in ("-C", "-c", "--git-dir", "--work-tree", "--namespace") and i + 1 < len(argv):
            if argv[i] == "-C":
                where = argv[i + 1]
            i += 2
        else:
            i += 1
    return (argv[i], argv[i + 1:], where) if i < len(argv) else ("", [], where)


def option(args: Sequence[str], *names: str) -> str | None:
    """The value of `--name value`, `--name=value` or `-n value` in args."""
    for i, a in enumerate(args):
        for n in names:
            if a == n and i + 1 < len(args):
                return args[i + 1]
            if n.startswith("--") and a.startswith(n + "="):
                return a[len(n) + 1:]
    return None


def positionals(args: Sequence[str], valued: Sequence[str] = ()) -> list[str]:
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a.startswith("-"):
            skip = a in valued
        else:
            out.append(a)
    return out


def walk(command: str, cwd: str) -> Iterator[tuple[list[str], str]]:
    """Each simple command with the folder it runs in (`cd X && ...` followed)."""
    here = cwd
    for argv in simple_commands(command):
        if argv[0] == "cd" and len(argv) > 1:
            here = os.path.normpath(os.path.join(here, os.path.expanduser(argv[1])))
            continue
        yield argv, here


def tool_of(argv: list[str]) -> str:
    return os.path.basename(argv[0])


# ---------------------------------------------------------------------- after: what happened


def clean(text: str, limit: int = 300) -> str:
    return redact(_USERINFO.sub("", text))[:limit]


def _effect(kind: str, target: str, url: str | None = None, **detail: str) -> Effect:
    return Effect(kind, clean(target), clean(url, 500) if url else None,
                  {k: clean(v) for k, v in detail.items() if v})


def effects_of(command: str, output: str, cwd: str) -> list[Effect]:
    """What the command did, as proven by its output; [] when nothing is proven."""
    if not worth_parsing(command):
        return []
    output = output[-MAX_OUTPUT:]
    found: list[Effect] = []
    for argv, here in walk(command, cwd):
        tool = tool_of(argv)
        if tool == "git":
            found += _git(argv, output, here)
        elif tool == "gh":
            found += _gh(argv, output, here)
        else:
            found += _publish(argv, output)
    unique: dict[tuple[str, str], Effect] = {}
    for e in found:
        unique.setdefault((e.kind, e.target), e)
    return list(unique.values())


def _git(argv: list[str], output: str, here: str) -> list[Effect]:
    sub, args, where = _git_sub(argv)
    if where:  # git -C DIR: the repository is there
        here = os.path.normpath(os.path.join(here, os.path.expanduser(where)))
    if sub == "commit":
        return [_effect("commit", m["sha"], branch=m["branch"], subject=m["subject"].strip())
                for m in _COMMIT_LINE.finditer(output)]
    if sub == "push":
        to = _PUSH_TO.search(output)
        pos = positionals(args, ("-o", "--push-option", "--repo", "--receive-pack", "--exec"))
        refs = list(_PUSH_REF.finditer(output))
        remote = pos[0] if pos else (_upstream(here, refs[0]["src"]) if refs else None) or \
            (clean(to["url"]) if to else "origin")
        return [_effect("push", f"{remote} {m['dst']}", branch=m["dst"], remote=remote, source=m["src"],
                        url=to["url"] if to else "") for m in refs]
    return []


def _gh(argv: list[str], output: str, here: str) -> list[Effect]:
    noun, verb = (argv[1] if len(argv) > 1 else ""), (argv[2] if len(argv) > 2 else "")
    args = argv[3:]
    urls = _URL.findall(output)
    if (noun, verb) == ("pr", "create"):
        for url in urls:
            m = _PR_URL.search(url)
            if m:
                branch = option(args, "--head", "-H") or current_branch(here) or "?"
                return [_effect("pr", branch, url, number=m[1], branch=branch,
                                title=option(args, "--title", "-t") or "", base=option(args, "--base", "-B") or "")]
    elif (noun, verb) == ("issue", "create"):
        for url in urls:
            m = _ISSUE_URL.search(url)
            if m:
                title = option(args, "--title", "-t") or ""
                return [_effect("issue", title or url, url, number=m[1], title=title)]
    elif noun in ("pr", "issue") and verb == "comment":
        return [_effect("comment", url, url, on=noun) for url in urls if _COMMENT_URL.search(url)][:1]
    elif (noun, verb) == ("release", "create"):
        for url in urls:
            m = _RELEASE_URL.search(url)
            if m:
                return [_effect("release", m[1], url, tag=m[1])]
    return []


def _publish(argv: list[str], output: str) -> list[Effect]:
    tool = tool_of(argv)
    sub = argv[1] if len(argv) > 1 else ""
    if tool in JS_PUBLISHERS and "publish" in argv[1:3]:
        return [_effect("publish", f"{m['name']}@{m['version']}", None, registry="npm", name=m["name"],
                        version=m["version"]) for m in _NPM_DONE.finditer(output)]
    if tool == "cargo" and sub == "publish":
        return [_effect("publish", f"{m['name']}@{m['version']}", None, registry="crates.io", name=m["name"],
                        version=m["version"]) for m in _CARGO_DONE.finditer(output)]
    if (tool, sub) in PY_PUBLISHERS:
        done = [(m["name"], m["version"]) for m in _POETRY_DONE.finditer(output)] if tool == "poetry" else []
        done += [d for d in (dist_version(m["file"]) for m in _UPLOADED.finditer(output)) if d]
        return [_effect("publish", f"{pep503(n)}@{v}", None, registry="pypi", name=n, version=v)
                for n, v in dict.fromkeys(done)]
    return []


def pep503(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dist_version(filename: str) -> tuple[str, str] | None:
    """(name, version) of a wheel or sdist file name."""
    base = os.path.basename(filename)
    if base.endswith(".whl"):
        parts = base[:-4].split("-")
        return (parts[0], parts[1]) if len(parts) >= 5 else None
    for ext in (".tar.gz", ".zip"):
        if base.endswith(ext):
            stem = base[: -len(ext)]
            name, _, version = stem.rpartition("-")
            return (name, version) if name and version and version[0].isdigit() else None
    return None


def _upstream(directory: str, branch: str) -> str | None:
    """The remote a plain `git push` of `branch` went to (its configured remote)."""
    from cairn.checks.gitstate import run_git

    lines = run_git(directory, "config", f"branch.{branch}.remote")
    return lines[0] if lines else None


def current_branch(directory: str) -> str | None:
    from cairn.checks.gitstate import run_git

    lines = run_git(directory, "rev-parse", "--abbrev-ref", "HEAD")
    return lines[0] if lines and lines[0] != "HEAD" else None


# ---------------------------------------------------------------------- words


def describe(e: Effect) -> str:
    """One line for people and the model (callers frame it with `cairn.context.safe`)."""
    d = e.detail
    if e.kind == "pr":
        return (f"opened PR #{d.get('number', '?')} on branch {d.get('branch', e.target)}"
                + (f" ({e.url})" if e.url else "") + "; update it, do not open another")
    if e.kind == "push":
        return f"pushed {d.get('branch', e.target)} to {d.get('remote', '?')}"
    if e.kind == "commit":
        subject = d.get("subject", "")
        return f"committed {e.target[:12]} on {d.get('branch', '?')}" + (f' "{subject[:80]}"' if subject else "")
    if e.kind == "issue":
        return (f"opened issue #{d.get('number', '?')}" + (f' "{d["title"][:80]}"' if d.get("title") else "")
                + (f" ({e.url})" if e.url else "") + "; update it, do not open another")
    if e.kind == "comment":
        return f"commented on the {d.get('on', 'pr')} ({e.url or e.target})"
    if e.kind == "release":
        return f"created release {e.target}" + (f" ({e.url})" if e.url else "")
    if e.kind == "publish":
        return f"published {e.target} to {d.get('registry', 'its registry')}; never publish that version again"
    return f"{e.kind} {e.target}"
