"""A shared PostgreSQL store, against a real server the tests start (tests/pgcluster.py):
two clones of one repository in two folders (standing in for two machines) see the same
workflows, a pipeline started in one is resumed in the other with its artifacts
restored, two repositories never mix, and the password never shows."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from cairn.errors import ConfigError, StoreUnreachable
from cairn.manager import CheckpointManager
from cairn.scope import normalize_remote
from cairn.store import address
from support import deps_stamp, run_cairn
from test_cli_support import complete_stage


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def clones(tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Two clones of one repository (an `origin` they were both cloned from)."""
    origin = tmp_path / "origin.git"
    git("init", "--bare", "-q", str(origin), cwd=tmp_path)
    for name in ("machine-a", "machine-b"):
        git("clone", "-q", str(origin), name, cwd=tmp_path)
        (tmp_path / name / ".claude" / "artifacts").mkdir(parents=True)
    monkeypatch.setenv("CAIRN_STORE", pg_url)
    return tmp_path / "machine-a", tmp_path / "machine-b"


def cairn_in(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`cairn ARGS` run in `project` as a person would there (no CLAUDE_PROJECT_DIR)."""
    saved = os.environ.pop("CLAUDE_PROJECT_DIR", None)
    try:
        return run_cairn(*args, cwd=project)
    finally:
        if saved is not None:
            os.environ["CLAUDE_PROJECT_DIR"] = saved


def manager(project: Path) -> CheckpointManager:
    return CheckpointManager(project / ".claude" / "artifacts", project_dir=project)


def test_a_pipeline_started_in_one_clone_resumes_in_another_with_its_artifacts(clones: tuple[Path, Path]) -> None:
    a, b = clones
    ma = manager(a)
    wf = ma.create("shared pipeline", workflow_id="wf-shared")
    written = [complete_stage(ma, "wf-shared", stage) for stage in ("orchestrator", "researcher")]
    assert ma.store.shared and not (b / ".claude" / "artifacts" / "wf-shared").exists()

    done = cairn_in(b, "resume", "wf-shared", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["completed_agents"] == ["orchestrator", "researcher"] and out["next_agent"] == "planner"
    assert "restored 2 artifact(s) from the shared store" in done.stderr
    for path in written:  # the same bytes, in the other clone's workflow folder
        there = b / ".claude" / "artifacts" / "wf-shared" / path.name
        assert there.read_bytes() == path.read_bytes()
        assert there.stat().st_mtime == path.stat().st_mtime
    assert (b / ".claude" / "artifacts" / "wf-shared" / "checkpoint.json").is_file()
    # the context that is injected reads the restored artifacts (no "missing" problem)
    assert out["problems"] == [] and out["can_resume"]

    mb = manager(b)
    complete_stage(mb, "wf-shared", "planner")  # the other machine goes on; the first sees it
    assert manager(a).load("wf-shared").completed_agents == ["orchestrator", "researcher", "planner"]
    assert wf.uid == mb.load("wf-shared").uid


def test_a_missing_or_oversized_artifact_is_reported_never_skipped(clones: tuple[Path, Path]) -> None:
    a, b = clones
    (a / ".claude" / "cairn.yaml").write_text("settings:\n  artifact_max_bytes: 50\n", encoding="utf-8")
    ma = manager(a)
    ma.create("too big to travel", workflow_id="wf-big")
    complete_stage(ma, "wf-big", "orchestrator")
    assert any("over settings.artifact_max_bytes (50)" in n for n in ma.notes)
    _, warnings = manager(b).load_with_warnings("wf-big")
    assert any("manifest.json (orchestrator) is missing here and the shared store does not carry it" in w
               for w in warnings)


def test_two_repositories_never_mix(clones: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = clones
    other = tmp_path / "other"
    git("init", "-q", str(other), cwd=tmp_path)
    git("remote", "add", "origin", "git@github.com:Acme/Other.git", cwd=other)
    manager(a).create("repo one", workflow_id="wf-one")
    assert [s.workflow_id for s in manager(other).list_workflows(include_finished=True)] == []
    (other / ".claude").mkdir()
    (other / ".claude" / "cairn.yaml").write_text("settings:\n  project_key: team/one\n", encoding="utf-8")
    manager(other).create("by key", workflow_id="wf-key")
    assert [s.workflow_id for s in manager(a).list_workflows()] == ["wf-one"]


def test_sessions_show_the_host_they_ran_on(clones: tuple[Path, Path]) -> None:
    a, b = clones
    manager(a).create("hosts", workflow_id="wf-h", session_id="sess-a")
    hist = cairn_in(b, "history", "--json")
    assert hist.returncode == 0, hist.stderr
    assert json.loads(hist.stdout)["hosts"] == [{"host": os.uname().nodename, "workflows": 1}]
    assert f"Hosts: {os.uname().nodename} (1 workflows)" in cairn_in(b, "history").stdout


def test_remote_urls_of_one_repository_normalize_alike() -> None:
    forms = ["https://github.com/Acme/Payments.git", "git@github.com:acme/payments.git",
             "ssh://git@github.com:22/acme/payments/", "https://user:tok3n@GitHub.com/acme/payments"]
    assert {normalize_remote(f) for f in forms} == {"github.com/acme/payments"}
    assert normalize_remote("https://gitea.example.com/Team/Repo.git") == "gitea.example.com/Team/Repo"
    assert normalize_remote("/srv/git/repo.git") == "file:/srv/git/repo"


def test_the_password_never_shows_and_never_sits_in_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert address.public("postgresql://cairn:s3cret@db:5432/x") == "postgresql://cairn@db:5432/x"
    from cairn.redact import redact  # whatever else carries an address (a request, a log line)

    assert "s3cret" not in redact("use postgresql://cairn:s3cret@db:5432/x please")
    with pytest.raises(ConfigError, match="carries a password"):
        address.check_address("postgresql://cairn:s3cret@db/x", path="cairn.yaml", line=2)
    monkeypatch.setenv("PGPASSWORD", "s3cret-pw")
    from cairn.store.postgres import PgStore

    # a port nothing listens on: the error names the server without the password
    with pytest.raises(StoreUnreachable) as err:
        PgStore("postgresql://cairn:s3cret-pw@127.0.0.1:1/x", "key:p")
    assert "s3cret" not in str(err.value) and "postgresql://cairn@127.0.0.1:1/x" in str(err.value)


def test_store_migrate_to_the_server_and_back_keeps_every_projection(
        clones: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, pg_url: str) -> None:
    from cairn.store import projection

    a, b = clones
    monkeypatch.delenv("CAIRN_STORE")
    local = manager(a)  # the project on its SQLite file, as before the server existed
    local.create("first", workflow_id="wf-1", session_id="s-1")
    for stage in ("orchestrator", "researcher", "planner"):
        complete_stage(local, "wf-1", stage)
    from cairn.operations import Operation

    local.apply("wf-1", Operation(rollback=3, reason="redo the plan").change, "rollback")
    local.create("second", workflow_id="wf-2")
    local.pause("wf-2", "for later")
    before = {w: projection.render(local.load(w)) for w in ("wf-1", "wf-2")}
    local.store.close()

    up = cairn_in(a, "store", "migrate", "--to", pg_url, "--json")
    assert up.returncode == 0, up.stderr
    report = json.loads(up.stdout)
    assert report["workflows"] == 2 and report["artifacts_carried"] == 2 and "project file:" in report["to"]
    again = cairn_in(a, "store", "migrate", "--to", pg_url)
    assert again.returncode == 2 and "already holds 2 workflow(s)" in again.stderr

    monkeypatch.setenv("CAIRN_STORE", pg_url)
    assert {w: projection.render(manager(b).load(w)) for w in ("wf-1", "wf-2")} == before
    assert (b / ".claude" / "artifacts" / "wf-1" / "research.json").is_file()  # restored from the copy

    down = cairn_in(b, "store", "migrate", "--to", "sqlite")
    assert down.returncode == 0, down.stderr
    assert "Copied 2 workflow(s)" in down.stdout and "unset CAIRN_STORE" in down.stdout
    monkeypatch.delenv("CAIRN_STORE")
    assert {w: projection.render(manager(b).load(w)) for w in ("wf-1", "wf-2")} == before


def test_a_live_lease_on_another_host_is_respected_and_an_expired_one_taken_over(clones: tuple[Path, Path]) -> None:
    from datetime import timedelta

    from cairn.errors import LeaseHeld
    from cairn.lease import DEFAULT_TTL
    from cairn.model import LeaseRecord, utcnow

    a, _ = clones
    ma = manager(a)
    ma.create("leased", workflow_id="wf-l")
    now = utcnow()
    theirs = LeaseRecord("sess-b", 4242, None, "machine-b", now, now)  # as the other machine's hooks left it
    with ma.store.write() as tx:
        tx.put_lease("wf-l", theirs)
    with pytest.raises(LeaseHeld, match=r"session sess-b \(pid 4242 on machine-b\)"):
        ma.workflows.acquire("wf-l", "sess-a", os.getpid())
    with ma.store.write() as tx:  # its heartbeats stopped longer ago than the time-to-live
        tx.put_lease("wf-l", LeaseRecord("sess-b", 4242, None, "machine-b", now, now - DEFAULT_TTL
                                         - timedelta(seconds=1)))
    taken = ma.workflows.acquire("wf-l", "sess-a", os.getpid())
    assert taken is not None and taken.host == "machine-b"
    wf = ma.load("wf-l")
    (audit,) = [e for e in wf.audit if e.action == "lease_takeover"]
    assert "on machine-b" in audit.detail and f"on {os.uname().nodename}" in audit.detail


def test_the_stop_hook_sends_a_heartbeat_to_the_shared_store_at_most_once_a_minute(
        clones: tuple[Path, Path], tmp_path: Path) -> None:
    """Other machines judge a lease by its heartbeat in the database: on a shared store the
    Stop hook (hooks/run.sh) sends one when the session's liveness file is a minute old.
    The hook runs on the plugin's environment (a virtualenv that sees psycopg)."""
    import time
    from datetime import timedelta

    from cairn.model import utcnow
    from test_hooks import Hooks

    a, _ = clones
    data = plugin_data(tmp_path)
    ma = manager(a)
    ma.create("beating", workflow_id="wf-s", session_id="sess-a")
    ma.workflows.acquire("wf-s", "sess-a", os.getpid())
    ma.record_start("wf-s", "orchestrator", session_id="sess-a")  # running: .running and .shared are there
    assert (a / ".claude" / "artifacts" / ".shared").is_file()
    from cairn.live import mark_live

    mark_live(ma.root, "sess-a")
    old = time.time() - 120
    os.utime(ma.root / ".live" / "sess-a", (old, old))
    with ma.store.write() as tx:  # an old heartbeat in the database
        lease = tx.lease("wf-s")
        assert lease is not None
        tx.refresh_lease("wf-s", "sess-a", utcnow() - timedelta(minutes=10))
    hooks = Hooks(a, data)
    env = {**hooks.env(), "CAIRN_STORE": os.environ["CAIRN_STORE"]}
    stop = hooks.run_raw("stop", b'{"session_id":"sess-a","hook_event_name":"Stop"}', env)
    assert stop.returncode == 0 and stop.stdout == b"" and stop.stderr == b"", stop.stderr
    with ma.store.read() as r:
        beat = r.lease("wf-s")
    assert beat is not None and utcnow() - beat.heartbeat_at < timedelta(minutes=1)
    assert time.time() - (ma.root / ".live" / "sess-a").stat().st_mtime < 60


def plugin_data(tmp_path: Path) -> Path:
    """The plugin's environment as bootstrap.py leaves it, its venv seeing this interpreter's
    packages (psycopg among them)."""
    import sys

    data = tmp_path / "plugin-data"
    data.mkdir()
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(data / "venv")],
                   check=True)
    (data / f"{deps_stamp()}.ok").touch()
    return data


def test_session_start_in_a_fresh_clone_offers_the_other_machines_workflow_with_its_artifacts(
        clones: tuple[Path, Path], tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plugin's `store` option (CLAUDE_PLUGIN_OPTION_STORE, the password in the keychain-backed
    one): the first SessionStart in a clone with no marker yet reaches the server, restores the
    artifacts before the context is built, and tells the session's Bash tool the address."""
    from test_hooks import Hooks, payload

    a, b = clones
    ma = manager(a)
    ma.create("from machine a", workflow_id="wf-o")
    complete_stage(ma, "wf-o", "orchestrator")
    monkeypatch.delenv("CAIRN_STORE")
    hooks = Hooks(b, plugin_data(tmp_path))
    env_file = tmp_path / "session-env" / "sessionstart-hook-0.sh"
    env_file.parent.mkdir()
    env = {**hooks.env(), "CLAUDE_PLUGIN_OPTION_STORE": pg_url, "CLAUDE_PLUGIN_OPTION_STORE_PASSWORD": "unused-pw",
           "CLAUDE_ENV_FILE": str(env_file)}
    assert not (b / ".claude" / "artifacts" / ".open").exists()
    proc = hooks.run_raw("session-start", json.dumps(payload("SessionStart-startup", b)).encode(), env)
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr
    answer = json.loads(proc.stdout)
    context = answer["hookSpecificOutput"]["additionalContext"]
    assert "wf-o" in context and "restored 1 artifact(s) from the shared store" in context
    assert (b / ".claude" / "artifacts" / "wf-o" / "manifest.json").is_file()
    assert (b / ".claude" / "artifacts" / ".open").is_file() and (b / ".claude" / "artifacts" / ".shared").is_file()
    assert env_file.read_text() == f"export CAIRN_STORE={pg_url}\n"
    assert "unused-pw" not in proc.stdout.decode() + env_file.read_text()


def test_migrations_written_for_sqlite_run_on_the_server(pg_url: str) -> None:
    """What the other migrations are written with (the project's portable subset of SQLite:
    INTEGER PRIMARY KEY, WITHOUT ROWID, REAL, comments, INSERT ... SELECT with a window,
    ALTER TABLE ADD COLUMN, INSERT OR IGNORE) is translated and runs on PostgreSQL, with
    64-bit integers and double precision where SQLite stores them."""
    import psycopg

    from cairn.store.postgres import pg_ddl

    sql = """
    CREATE TABLE t (id INTEGER PRIMARY KEY, w TEXT NOT NULL, at TEXT NOT NULL, mtime REAL NOT NULL);  -- x; y
    CREATE TABLE u (
        w    TEXT PRIMARY KEY,
        tick INTEGER NOT NULL        -- one more than the highest
    ) WITHOUT ROWID;
    INSERT INTO t(w, at, mtime) VALUES ('a', '2026-01-01', 1700000000.123456), ('b', '2026-01-02', 2.5);
    INSERT INTO u(w, tick) SELECT w, ROW_NUMBER() OVER (ORDER BY max(at), w) FROM t GROUP BY w;
    ALTER TABLE t ADD COLUMN big INTEGER;
    INSERT OR IGNORE INTO u(w, tick) VALUES ('a', 9)
    """
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS ddl_probe CASCADE")
        conn.execute("CREATE SCHEMA ddl_probe")
        conn.execute("SET search_path TO ddl_probe")
        for statement in pg_ddl(sql).split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("UPDATE t SET big = 5000000000")
        assert conn.execute("SELECT id, mtime, big FROM t ORDER BY id").fetchall() == [
            (1, 1700000000.123456, 5000000000), (2, 2.5, 5000000000)]
        assert conn.execute("SELECT w, tick FROM u ORDER BY w").fetchall() == [("a", 1), ("b", 2)]
        conn.execute("DROP SCHEMA ddl_probe CASCADE")


def test_status_names_every_host_the_workflow_ran_on(clones: tuple[Path, Path]) -> None:
    a, b = clones
    manager(a).create("hosts in status", workflow_id="wf-st", session_id="sess-a")
    out = cairn_in(b, "status", "wf-st", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["hosts"] == [os.uname().nodename]
    overview = json.loads(cairn_in(b, "status", "--json").stdout)  # every machine's workflows, with their host
    assert [(r["workflow_id"], r["host"]) for r in overview["sections"]["running"]] == [
        ("wf-st", os.uname().nodename)]


def test_doctor_on_a_shared_store_repairs_the_folder_from_the_server_only(clones: tuple[Path, Path]) -> None:
    a, b = clones
    ma = manager(a)
    ma.create("doctor", workflow_id="wf-d")
    complete_stage(ma, "wf-d", "orchestrator")
    out = cairn_in(b, "doctor", "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    assert report["database"] == "shared" and report["ok"]
    assert not (b / ".claude" / "artifacts" / "cairn.db").exists()  # no local database made
    assert (b / ".claude" / "artifacts" / "wf-d" / "manifest.json").is_file()  # restored by the load


def test_the_store_settings_read_alike_with_and_without_pyyaml(tmp_path: Path) -> None:
    """Hooks read `settings:` with the standard library, commands with PyYAML: the same
    store and project key either way; a password in the file is refused with its line."""
    from cairn.config import _settings_without_yaml, load_project_config

    text = ("settings:\n  expiry_days: 3\n  store: postgresql://cairn@db.example.com:5432/cairn\n"
            "  project_key: 'team/payments'\n  artifact_max_bytes: 2048\n")
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".claude" / "cairn.yaml").write_text(text, encoding="utf-8")
    full = load_project_config(tmp_path)[1]
    bare = _settings_without_yaml(text)
    for s in (full, bare):
        assert (s.store, s.project_key, s.artifact_max_bytes) == (
            "postgresql://cairn@db.example.com:5432/cairn", "team/payments", 2048)
    (tmp_path / ".claude" / "cairn.yaml").write_text("settings:\n  store: postgresql://cairn:pw@db/cairn\n")
    with pytest.raises(ConfigError, match=r"cairn.yaml:2: settings.store carries a password"):
        load_project_config(tmp_path)
    (tmp_path / ".claude" / "cairn.yaml").write_text("settings:\n  store: mysql://db/cairn\n")
    with pytest.raises(ConfigError, match="not a postgresql:// address"):
        load_project_config(tmp_path)


def test_the_panel_card_names_the_hosts_and_reads_the_other_machines_workflow(clones: tuple[Path, Path]) -> None:
    pytest.importorskip("jinja2", reason="the panel needs jinja2")
    from cairn.web import views

    a, b = clones
    ma = manager(a)
    ma.create("on the panel", workflow_id="wf-p", session_id="sess-a")
    complete_stage(ma, "wf-p", "orchestrator")
    ma.pause("wf-p", "for the panel")
    card = views.card(manager(b), "wf-p")  # from the other clone: its artifact restored first
    assert card.hosts == [os.uname().nodename] and card.can_resume, card.reason
    assert (b / ".claude" / "artifacts" / "wf-p" / "manifest.json").is_file()


def test_the_password_comes_from_the_environment_pgpass_or_the_plugin_option_never_a_file_of_cairns(
        pg_server: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A role that must give its password (SCRAM): PGPASSWORD, a pgpass file, or the
    plugin's keychain-backed option reach the server; a wrong one is said without it;
    no file Cairn writes holds it."""
    import pgcluster
    from cairn.store.postgres import PgStore

    assert isinstance(pg_server, pgcluster.Cluster)
    url, secret = pg_server.password_url(), pg_server.PASSWORD
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    with pytest.raises(StoreUnreachable):
        PgStore(url, "key:pw")
    monkeypatch.setenv("PGPASSWORD", secret)
    PgStore(url, "key:pw").close()
    monkeypatch.delenv("PGPASSWORD")
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{pg_server.port}:postgres:{pg_server.PASSWORD_ROLE}:{secret}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    PgStore(url, "key:pw").close()
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    PgStore(url, "key:pw", password=address.password({"CLAUDE_PLUGIN_OPTION_STORE_PASSWORD": secret})).close()
    wrong = "Wr0ng-pass-77"
    with pytest.raises(StoreUnreachable, match="refused the credentials") as err:
        PgStore(url, "key:pw", password=wrong)
    assert wrong not in str(err.value) and secret not in str(err.value)

    # through a hook with the plugin's options, offline on a wrong password: logged without it
    project = tmp_path / "p"
    (project / ".claude" / "artifacts").mkdir(parents=True)
    from cairn.hooks import run

    env = {**os.environ, "CLAUDE_PROJECT_DIR": str(project), "CLAUDE_PLUGIN_OPTION_STORE": url,
           "CLAUDE_PLUGIN_OPTION_STORE_PASSWORD": wrong, "CAIRN_PROJECT_KEY": "pw"}
    monkeypatch.delenv("CAIRN_STORE", raising=False)
    for k in ("CLAUDE_PLUGIN_OPTION_STORE", "CLAUDE_PLUGIN_OPTION_STORE_PASSWORD", "CAIRN_PROJECT_KEY"):
        monkeypatch.setenv(k, env[k])
    answer = run("session-start", json.dumps({"session_id": "s-pw", "source": "startup", "cwd": str(project),
                                               "hook_event_name": "SessionStart"}).encode(), env)
    assert answer is not None and "refused the credentials" in str(answer["systemMessage"])
    written = b"".join(p.read_bytes() for p in project.rglob("*") if p.is_file())
    assert wrong.encode() not in written and secret.encode() not in written


def test_the_origin_is_read_from_the_files_as_git_reads_it(tmp_path: Path) -> None:
    """The scope comes from .git/config without starting git (a hook's time), worktrees
    included; an `include` sends it to git itself."""
    from cairn.scope import _origin_from_files, project_scope

    repo = tmp_path / "repo"
    git("init", "-q", str(repo), cwd=tmp_path)
    git("remote", "add", "origin", "git@github.com:Acme/Payments.git", cwd=repo)
    git("-c", "user.email=t@e", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "x", cwd=repo)
    git("worktree", "add", "-q", str(tmp_path / "wt"), cwd=repo)
    (repo / "sub").mkdir()
    for where in (repo, repo / "sub", tmp_path / "wt"):
        assert _origin_from_files(where) == "git@github.com:Acme/Payments.git"
        assert project_scope(where, "", {}) == "github.com/acme/payments"
    git("config", "include.path", "../elsewhere.cfg", cwd=repo)
    assert _origin_from_files(repo) is None and project_scope(repo, "", {}) == "github.com/acme/payments"
    assert project_scope(repo, "team/x", {}) == "key:team/x"
    assert project_scope(repo, "team/x", {"CAIRN_PROJECT_KEY": "env/y"}) == "key:env/y"


def test_watch_on_a_shared_store_redraws_when_another_machine_commits(clones: tuple[Path, Path]) -> None:
    """`cairn watch` in one clone; a completion recorded from the other: a new frame."""
    import sys
    import threading
    import time

    a, b = clones
    ma = manager(a)
    ma.create("watched from b", workflow_id="wf-wt")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "lib")}
    env.pop("CLAUDE_PROJECT_DIR", None)
    proc = subprocess.Popen([sys.executable, "-m", "cairn", "watch", "wf-wt", "--interval", "600", "--no-color"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=b)
    seen: list[str] = []
    out = proc.stdout
    assert out is not None

    def pump() -> None:
        for line in out:
            seen.append(line)
    threading.Thread(target=pump, daemon=True).start()

    def wait_for(needle: str) -> None:
        deadline = time.monotonic() + 30
        while not any(needle in line for line in seen):
            assert time.monotonic() < deadline, "".join(seen)
            time.sleep(0.05)
    try:
        wait_for("Checkpoint history (1)")
        complete_stage(ma, "wf-wt", "orchestrator")  # machine A commits
        wait_for("Checkpoint history (2)")
        assert sum("cairn watch: frame " in line for line in seen) == 2
    finally:
        proc.kill()
        proc.wait(timeout=10)
