"""The side-effect ledger's reading of a Bash command and its output (`cairn.ledger`).

git runs for real here (a repository and a bare remote in tmp_path; the output is what
the Bash tool reports: stdout and stderr together, as Claude Code 2.1.328 merges them).
gh, npm, cargo and twine need accounts and registries, so their output is given as the
tools print it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from cairn.ledger import describe, dist_version, effects_of, simple_commands, worth_parsing
from cairn.model import Effect
from cairn.repeats import Planned, planned, repeats
from support import repo_with_remote, sh


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    work = repo_with_remote(tmp_path, "work")
    (work / "a.txt").write_text("a\n")
    return work


def head(repo: Path) -> str:
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_commit_and_push_from_real_git(repo: Path) -> None:
    command = ("git add -A && git commit -m 'first: add a' && git checkout -q -b feat/login && "
               "git push -u origin feat/login")
    out = sh(command, repo)
    found = effects_of(command, out, str(repo))
    sha = head(repo)
    assert [(e.kind, e.target) for e in found] == [("commit", sha[:len(found[0].target)]),
                                                   ("push", "origin feat/login")]
    assert sha.startswith(found[0].target) and len(found[0].target) >= 7
    assert found[0].detail == {"branch": "main", "subject": "first: add a"}
    assert found[1].detail["branch"] == "feat/login" and found[1].detail["remote"] == "origin"
    assert describe(found[1]) == "pushed feat/login to origin"
    # a second push with nothing new: git says "Everything up-to-date", nothing happened
    again = "git push origin feat/login"
    assert effects_of(again, sh(again, repo), str(repo)) == []
    # a later commit and push: a fast-forward ref line
    (repo / "b.txt").write_text("b\n")
    command = "git add b.txt; git commit -m second; git push"
    found = effects_of(command, sh(command, repo), str(repo))
    assert [e.kind for e in found] == ["commit", "push"] and found[1].target == "origin feat/login"
    assert head(repo).startswith(found[0].target)


def test_nothing_proven_nothing_recorded(repo: Path) -> None:
    sh("git add -A && git commit -qm one", repo)
    command = "git commit -m nothing || true"  # exit 0, but nothing to commit
    assert effects_of(command, sh(command, repo), str(repo)) == []
    assert effects_of("git commit -m x", "", str(repo)) == []
    assert effects_of("git push", "fatal: could not read from remote repository", str(repo)) == []
    assert effects_of("gh pr create --fill", "Warning: 1 uncommitted change\n", str(repo)) == []
    assert effects_of("npm publish", "npm notice Publishing to https://registry.npmjs.org/\n", str(repo)) == []
    # the same words in a command that is not the tool
    assert effects_of("echo git commit", "[main abc1234] x\n", str(repo)) == []
    assert effects_of("ls", "[main abc1234] x\n", str(repo)) == []


def test_commit_output_of_a_root_commit_and_a_detached_head(repo: Path) -> None:
    out = "[main (root-commit) 1a2b3c4] initial\n 1 file changed, 1 insertion(+)\n"
    [e] = effects_of("git -C . commit -m initial", out, str(repo))
    assert (e.kind, e.target, e.detail["branch"]) == ("commit", "1a2b3c4", "main")
    [e] = effects_of("git commit -am fix", "[detached HEAD 9f8e7d6] fix\n", str(repo))
    assert e.detail["branch"] == "detached HEAD"


def test_gh_pull_request_issue_comment_release(repo: Path) -> None:
    sh("git add -A && git commit -qm one && git checkout -qb feat/login", repo)
    url = "https://github.com/acme/app/pull/12"
    [pr] = effects_of("gh pr create --title 'Login' --body x", f"Creating pull request\n{url}\n", str(repo))
    assert (pr.kind, pr.target, pr.url) == ("pr", "feat/login", url)  # the branch from git, in the command's folder
    assert pr.detail == {"number": "12", "branch": "feat/login", "title": "Login"}
    assert describe(pr) == f"opened PR #12 on branch feat/login ({url}); update it, do not open another"
    [pr] = effects_of("cd sub && gh pr create -H other -B main -t T", url + "\n", str(repo))
    assert pr.target == "other" and pr.detail["base"] == "main"
    [issue] = effects_of("gh issue create -t 'Crash on save' -b body",
                         "https://github.com/acme/app/issues/7\n", str(repo))
    assert (issue.kind, issue.target, issue.detail["number"]) == ("issue", "Crash on save", "7")
    [c] = effects_of("gh pr comment 12 --body hi", "https://github.com/acme/app/pull/12#issuecomment-99\n",
                     str(repo))
    assert c.kind == "comment" and c.url and c.url.endswith("#issuecomment-99")
    [rel] = effects_of("gh release create v1.2.0 --notes x", "https://github.com/acme/app/releases/tag/v1.2.0\n",
                       str(repo))
    assert (rel.kind, rel.target) == ("release", "v1.2.0")


def test_publishes() -> None:
    [npm] = effects_of("npm publish --access public", "npm notice ...\n+ @acme/widget@1.4.0\n", "/x")
    assert (npm.kind, npm.target, npm.detail["registry"]) == ("publish", "@acme/widget@1.4.0", "npm")
    [cargo] = effects_of("cargo publish", "   Uploading widget v0.3.1 (/x)\n    Uploaded widget v0.3.1 to "
                         "registry `crates-io`\n   Published widget v0.3.1 at registry `crates-io`\n", "/x")
    assert cargo.target == "widget@0.3.1"
    twine = ("Uploading distributions to https://upload.pypi.org/legacy/\n"
             "Uploading Acme_Widget-2.0.0-py3-none-any.whl\n"
             "100% 10.0/10.0 kB\nUploading acme_widget-2.0.0.tar.gz\nView at:\nhttps://pypi.org/project/acme-widget/2.0.0/\n")
    [py] = effects_of("twine upload dist/*", twine, "/x")
    assert (py.target, py.detail["registry"]) == ("acme-widget@2.0.0", "pypi")
    [uv] = effects_of("uv publish", "Publishing 1 file to https://upload.pypi.org/legacy/\n"
                      "Uploading acme_widget-2.0.1-py3-none-any.whl (1.2KiB)\n", "/x")
    assert uv.target == "acme-widget@2.0.1"
    [poetry] = effects_of("poetry publish --build", "Publishing acme-widget (2.0.2) to PyPI\n - Uploading "
                          "acme_widget-2.0.2.tar.gz 100%\n", "/x")
    assert poetry.target == "acme-widget@2.0.2"
    assert describe(poetry).startswith("published acme-widget@2.0.2 to pypi")


def test_credentials_never_kept(repo: Path) -> None:
    token = "ghp_" + "A" * 36
    out = (f"To https://x-access-token:{token}@github.com/acme/app.git\n"
           " * [new branch]      feat -> feat\n")
    [push] = effects_of(f"git push https://x-access-token:{token}@github.com/acme/app.git feat", out, str(repo))
    text = json.dumps([push.target, push.url, push.detail])
    assert token not in text and "x-access-token" not in text
    assert push.target == "https://github.com/acme/app.git feat"


def test_simple_commands_split_like_a_shell() -> None:
    assert simple_commands("cd x && git commit -m 'a && b' 2>&1 | tail -3; FOO=1 sudo npm publish >log\n"
                           "git push") == [["cd", "x"], ["git", "commit", "-m", "a && b", "2"], ["tail", "-3"],
                                           ["npm", "publish"], ["git", "push"]]
    assert simple_commands("git commit -m \"$(cat <<'EOF'\nline\nEOF\n)\"")[0][:3] == ["git", "commit", "-m"]
    assert simple_commands("echo 'unclosed") == [["echo"]] or simple_commands("echo 'unclosed")[0][0] == "echo"
    assert not worth_parsing("pytest -q") and worth_parsing("git push")


def test_planned_repeats(repo: Path, tmp_path: Path) -> None:
    sh("git add -A && git commit -qm one && git checkout -qb feat/login", repo)
    assert planned("gh pr create --fill", str(repo)) == [Planned("pr", "feat/login", "gh pr create --fill")]
    assert planned("gh pr create -H x", str(repo))[0].target == "x"
    assert planned("gh issue create --title 'Crash on save'", str(repo))[0].target == "Crash on save"
    assert planned("gh release create v2 --notes n", str(repo))[0].target == "v2"
    (repo / "package.json").write_text(json.dumps({"name": "@acme/widget", "version": "1.4.0"}))
    (repo / "Cargo.toml").write_text('[package]\nname = "widget"\nversion = "0.3.1"\n[dependencies]\nname = "x"\n')
    (repo / "pyproject.toml").write_text('[build-system]\nrequires = []\n[project]\nname = "Acme_Widget"\n'
                                         'version = "2.0.0"\n')
    (repo / "dist").mkdir()
    (repo / "dist" / "acme_widget-2.0.1-py3-none-any.whl").write_bytes(b"")
    assert [p.target for p in planned("npm publish", str(repo))] == ["@acme/widget@1.4.0"]
    assert [p.target for p in planned("cargo publish --dry-run", str(repo))] == ["widget@0.3.1"]
    assert [p.target for p in planned("uv publish", str(repo))] == ["acme-widget@2.0.0"]
    assert [p.target for p in planned("twine upload dist/*", str(repo))] == ["acme-widget@2.0.1"]
    assert planned("git push", str(repo)) == [] and planned("ls", str(repo)) == []

    ledger = [Effect("pr", "feat/login", "https://github.com/acme/app/pull/12", {"number": "12"}),
              Effect("publish", "@acme/widget@1.4.0")]
    found = repeats(planned("git push && gh pr create --fill", str(repo)), ledger)
    assert [(p.kind, e.url) for p, e in found] == [("pr", "https://github.com/acme/app/pull/12")]
    assert [e.target for _, e in repeats(planned("npm publish", str(repo)), ledger)] == ["@acme/widget@1.4.0"]
    assert repeats(planned("gh pr create -H other", str(repo)), ledger) == []
    assert repeats(planned("cargo publish", str(repo)), ledger) == []


def test_dist_file_names() -> None:
    assert dist_version("a/b/Acme_Widget-2.0.0-py3-none-any.whl") == ("Acme_Widget", "2.0.0")
    assert dist_version("acme-widget-2.0.0.tar.gz") == ("acme-widget", "2.0.0")
    assert dist_version("README.md") is None and dist_version("x.whl") is None


def test_triggers_agree_with_the_hooks_and_the_shell() -> None:
    from cairn import hook_bash, ledger

    assert hook_bash.POST_TRIGGERS == ledger.TRIGGERS and hook_bash.PRE_TRIGGERS == ledger.PLAN_TRIGGERS
    run_sh = (Path(__file__).resolve().parents[1] / "hooks" / "run.sh").read_text()
    for word in ledger.TRIGGERS:
        assert f"bash-post:*{word}*" in run_sh or f"bash-post:*'{word}'*" in run_sh, word
    for word in ledger.PLAN_TRIGGERS:
        assert f"bash-pre:*{word}*" in run_sh or f"bash-pre:*'{word}'*" in run_sh, word


def test_git_dash_c_finds_the_repository_for_a_plain_push(repo: Path, tmp_path: Path) -> None:
    sh("git add -A && git commit -qm one && git checkout -qb feat/c && git push -q -u origin feat/c", repo)
    (repo / "c.txt").write_text("c\n")
    sh("git add c.txt && git commit -qm c", repo)
    command = f"git -C {repo} push"
    found = effects_of(command, sh(command, tmp_path), str(tmp_path))  # run from another folder
    assert [(e.kind, e.target) for e in found] == [("push", "origin feat/c")]
