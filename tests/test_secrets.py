"""No secret reaches disk or log: a corpus of credential kinds, each redacted by
`cairn.redact` (the hooks' own, standard-library path), refused by `--set`, stored by no
backend field, and absent from every byte a run leaves under the project and HOME."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from cairn.errors import UsageError
from cairn.manager import CheckpointManager
from cairn.operations import Operation, parse_params
from cairn.redact import has_secret, redact, redact_json
from faults import hookrun
from support import run_cairn

# (kind, text as it appears, the part that must never be stored)
CORPUS: list[tuple[str, str, str]] = [
    ("url-https", "https://deploy:Tr0ub4dor3xyz@git.example.com/repo.git", "Tr0ub4dor3xyz"),
    ("url-postgres", "postgres://app:pg-Pa55word!@db.internal:5432/prod", "pg-Pa55word!"),
    ("aws-access-key", "AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("aws-secret-key", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("aws-secret-env", "AWS_SECRET_ACCESS_KEY=je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
     "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"),
    ("stripe-live", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zdp7dc"),
    ("stripe-restricted", "rk_live_51H8abcDEFghiJKLmnoPQRst", "51H8abcDEFghiJKLmnoPQRst"),
    ("slack-bot", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "AbCdEfGhIjKlMnOpQrStUvWx"),
    ("slack-webhook", "https://hooks.slack.com/services/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",
     "XyZ123aBc456DeF789gHi012"),
    ("github-classic", "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2", "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"),
    ("github-fine", "github_pat_11ABCDEFG0" + "x" * 40, "x" * 40),
    ("anthropic", "sk-ant-api03-" + "A1b2C3d4" * 10, "A1b2C3d4" * 10),
    ("openai-project", "sk-proj-" + "q1W2e3R4t5" * 5, "q1W2e3R4t5" * 5),
    ("openai-legacy", "sk-" + "T3BlbkFJ" * 6, "T3BlbkFJ" * 6),
    ("jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
    ("bearer", "Authorization: Bearer 7fa9c3e1d2b4a6f8e0c2d4b6a8f0e2c4", "7fa9c3e1d2b4a6f8e0c2d4b6a8f0e2c4"),
    ("private-key-rsa", "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7rsaSecretBody\n"
     "-----END RSA PRIVATE KEY-----", "MIIEowIBAAKCAQEA7rsaSecretBody"),
    ("private-key-openssh", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEsshSecret\n"
     "-----END OPENSSH PRIVATE KEY-----", "b3BlbnNzaC1rZXktdjEsshSecret"),
    ("password-colon", "password: CorrectHorse99", "CorrectHorse99"),
    ("passwd-equals", "passwd=Xyzzy-plugh-42", "Xyzzy-plugh-42"),
    ("pwd-equals", "DB_PWD=letmein-2026", "letmein-2026"),
    ("secret-colon", "client_secret: s3kr1t-value-9", "s3kr1t-value-9"),
    ("token-equals", "token=tkn_8f7e6d5c4b3a", "tkn_8f7e6d5c4b3a"),
    ("password-json", '{"password": "JsonPass-77"}', "JsonPass-77"),
    ("api-key", "api_key='k3y-material-555'", "k3y-material-555"),
]
HARMLESS = ["task-123", "AKIA", "ghp_short", "a" * 64, "wf-20260101-abcdef", "", "xox", "sk-short",
            '"input_tokens": 1234, "output_tokens": 77', "see https://example.com/a@b", "git@github.com:o/r.git",
            "the password policy", "tokens: 12", "pipeline key order", "sk_live_", "Bearer"]
IDS = [c[0] for c in CORPUS]


@pytest.mark.parametrize(("kind", "text", "secret"), CORPUS, ids=IDS)
def test_the_corpus_is_redacted(kind: str, text: str, secret: str) -> None:
    for around in (f"use {text} now", f"{text}", f"line one\n{text}\nline three"):
        out = redact(around)
        assert secret not in out and "[REDACTED:" in out, (kind, out)
    encoded = json.dumps({"request": f"use {text}", "n": 1})
    out = redact_json(encoded)
    assert secret not in out and json.loads(out)["n"] == 1  # still valid JSON
    assert has_secret(text)
    assert redact(redact(text)) == redact(text) and not has_secret(redact(text))  # stored twice: the same


def test_harmless_text_is_left_alone() -> None:
    for text in HARMLESS:
        assert redact(text) == text and not has_secret(text), text


@pytest.mark.parametrize(("kind", "text", "secret"), CORPUS, ids=IDS)
def test_set_refuses_the_corpus(kind: str, text: str, secret: str) -> None:
    for item in (f"note={text}", f"note=x {text}", f"url={text}"):
        with pytest.raises(UsageError, match="looks like a secret"):
            parse_params([item])


def test_set_on_the_command_line(project: Path) -> None:
    root = project / ".claude" / "artifacts"
    CheckpointManager(root).create("x", workflow_id="wf-a")
    done = run_cairn("--dir", str(root), "resume", "wf-a", "--set", f"db={CORPUS[1][1]}")
    assert done.returncode == 2 and "looks like a secret" in done.stderr and CORPUS[1][2] not in done.stderr


def _scan(paths: list[Path]) -> list[str]:
    found = []
    for p in paths:
        if p.is_file() and not p.is_symlink():
            data = p.read_bytes()
            found += [f"{p}: {kind}" for kind, _, secret in CORPUS if secret.encode() in data]
    return found


def test_a_run_leaves_no_secret_on_disk(tmp_path: Path, complete: Callable[..., Path]) -> None:
    """Every field a person or an agent fills, every hook, the log: each given the whole
    corpus; then every file under the project and HOME (the database and its WAL too)."""
    project = tmp_path / "proj"
    (project / ".claude").mkdir(parents=True)
    home = tmp_path / "home"
    root = project / ".claude" / "artifacts"
    everything = "\n".join(text for _, text, _ in CORPUS)
    m = CheckpointManager(root, project_dir=project)
    sid = "11111111-2222-4333-8444-555555555555"
    m.create(f"Deploy it.\n{everything}", workflow_id="wf-sec", session_id=sid,
             metadata={kind: text for kind, text, _ in CORPUS})
    complete(m, "wf-sec", "orchestrator")
    m.record_start("wf-sec", "researcher", agent_id="ag1", session_id=sid)
    m.record_failure("wf-sec", "researcher", f"crashed printing {everything}", agent_id="ag1")
    op = Operation(retry=True, reason=f"retry: {everything}", params={"target": "py311"})
    m.apply("wf-sec", op.change, op.name(), session_id=sid)
    m.workflows.acquire("wf-sec", sid, os.getpid())
    henv = hookrun.hook_env(project, home / "data")
    for event, fields in [
        ("session-start", {"source": "startup"}),
        ("pre-tool-use", {"tool_name": "Agent", "tool_use_id": "tu1",
                          "tool_input": {"subagent_type": "cairn:researcher",
                                         "prompt": f"cairn-workflow: wf-sec\n{everything}"}}),
        ("subagent-start", {"agent_type": "cairn:researcher", "agent_id": "ag2"}),
        ("subagent-stop", {"agent_type": "cairn:researcher", "agent_id": "ag2", "stop_hook_active": True}),
        ("pre-compact", {"trigger": "auto", "custom_instructions": everything}),
        ("session-end", {"reason": everything}),
    ]:
        if event == "subagent-stop":  # first the subagent pushes and opens a pull request, quoting secrets
            from cairn.hooks import run as run_hook

            for command, output in [
                (f"git push {CORPUS[0][1]} main", f"To {CORPUS[0][1]}\n * [new branch] main -> main\n"),
                (f"gh pr create --title x --body '{everything}'", f"https://github.com/o/r/pull/7\n{everything}"),
            ]:
                body = {"session_id": sid, "cwd": str(project), "agent_id": "ag2", "agent_type": "cairn:researcher",
                        "hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_use_id": "tu-bash",
                        "tool_input": {"command": command, "description": "run"},
                        "tool_response": {"stdout": output, "stderr": "", "interrupted": False}}
                run_hook("bash-post", json.dumps(body).encode(), {"CLAUDE_PROJECT_DIR": str(project)})
            # an artifact that quotes every secret, failing its schema
            (root / "wf-sec" / "research.json").write_text(json.dumps({"workflow_id": "wf-sec",
                                                                       "findings": everything}))
        hookrun.run(event, hookrun.payload(event, project, **fields), henv, project)
    hookrun.run("subagent-start", f"not json {everything}".encode(), henv, project)  # a log line
    from cairn.errlog import log_error

    log_error(root, "test", ValueError(f"an error quoting {everything}"))
    op = Operation(skip=["researcher"], reason=f"skip: {everything}")
    m.apply("wf-sec", op.change, op.name())
    m.pause("wf-sec", f"paused: {everything}")
    m.cancel("wf-sec", f"cancelled: {everything}")
    agent_files = {root / "wf-sec" / "manifest.json", root / "wf-sec" / "research.json"}  # the agents' own
    files = [p for p in [*root.rglob("*"), *home.rglob("*"), *project.rglob("*")] if p not in agent_files]
    found = _scan(files)
    assert not found, found
    m.store.close()  # the WAL folded into the database file
    assert not _scan(list(root.rglob("cairn.db*")))
    assert (root / ".logs" / "cairn.log").is_file()
    actions = [e.action for e in CheckpointManager(root).load("wf-sec").audit]
    assert any(a.startswith("effect:") for a in actions), actions  # the ledger kept the push and the PR
