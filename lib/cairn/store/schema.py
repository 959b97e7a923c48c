"""The SQL schema as a named list of migrations (applied in order, each once).

Tables hold facts only; every view (completed, current, progress, next) is computed in
`cairn.model`. Timestamps are ISO 8601 UTC text. A migration is never edited once
released: a change is a new entry at the end of `MIGRATIONS`.
"""

from __future__ import annotations

INITIAL = """
CREATE TABLE pipelines (
    digest TEXT PRIMARY KEY,            -- sha256 prefix of the stage list
    body   TEXT NOT NULL                -- Pipeline.to_dict() as JSON
);
CREATE TABLE workflows (
    id            TEXT PRIMARY KEY,     -- the folder name under .claude/artifacts
    uid           TEXT NOT NULL UNIQUE, -- identity: a copied or renamed folder is not this workflow
    request       TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    pipeline      TEXT NOT NULL REFERENCES pipelines(digest),
    status        TEXT NOT NULL,        -- the state machine's current state (history: audit)
    status_reason TEXT,
    metadata      TEXT NOT NULL,        -- JSON object of strings, set at creation
    git           TEXT                  -- JSON of the git state at creation
);
CREATE INDEX workflows_status ON workflows(status);
CREATE TABLE marks (                    -- one row per checkpoint: the history
    workflow_id TEXT NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    type        TEXT NOT NULL,
    at          TEXT NOT NULL,
    session_id  TEXT,
    PRIMARY KEY (workflow_id, seq)
) WITHOUT ROWID;
CREATE INDEX marks_at ON marks(at);
CREATE TABLE attempts (
    id              INTEGER PRIMARY KEY,
    workflow_id     TEXT NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    stage           TEXT NOT NULL,
    number          INTEGER NOT NULL,
    started_at      TEXT NOT NULL,
    ended_at        TEXT,
    outcome         TEXT,               -- NULL while running
    error           TEXT,
    agent_id        TEXT,
    session_id      TEXT,
    started_seq     INTEGER NOT NULL,
    ended_seq       INTEGER,
    invalidated_seq INTEGER,
    usage           TEXT,
    git             TEXT,               -- JSON of the git state when it completed
    UNIQUE (workflow_id, stage, number)
);
-- a subagent is one attempt, whatever the number of deliveries of its hooks
CREATE UNIQUE INDEX attempts_agent ON attempts(agent_id) WHERE agent_id IS NOT NULL;
CREATE INDEX attempts_workflow ON attempts(workflow_id);
CREATE TABLE artifacts (
    attempt_id  INTEGER NOT NULL REFERENCES attempts(id) ON DELETE CASCADE,
    path        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size        INTEGER NOT NULL,
    mtime       REAL NOT NULL,
    inode       INTEGER,
    schema      TEXT,
    "check"     TEXT NOT NULL,          -- ok | failed | pending | none
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (attempt_id, path)
) WITHOUT ROWID;
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY,
    workflow_id TEXT NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    at          TEXT NOT NULL,
    action      TEXT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX audit_workflow ON audit(workflow_id, seq);
CREATE TABLE sessions (
    workflow_id TEXT NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    session_id  TEXT NOT NULL,
    first_seen  TEXT NOT NULL,
    last_seen   TEXT NOT NULL,
    source      TEXT,
    PRIMARY KEY (workflow_id, session_id)
) WITHOUT ROWID;
CREATE INDEX sessions_session ON sessions(session_id);
CREATE TABLE parameters (
    workflow_id TEXT NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    PRIMARY KEY (workflow_id, key)
) WITHOUT ROWID;
CREATE TABLE bindings (                 -- evidence: `cairn start` / `cairn resume` ran in this session
    session_id  TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    at          TEXT NOT NULL,
    how         TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE dispatches (               -- evidence: an Agent call that named the workflow
    tool_use_id TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL,
    workflow_id TEXT NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    stage       TEXT NOT NULL,
    at          TEXT NOT NULL,
    agent_id    TEXT UNIQUE
);
CREATE INDEX dispatches_session ON dispatches(session_id, stage);
CREATE TABLE leases (
    workflow_id  TEXT PRIMARY KEY REFERENCES workflows(id) ON DELETE CASCADE,
    session_id   TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    start_time   INTEGER,
    host         TEXT NOT NULL,
    acquired_at  TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE deliveries (               -- hook deliveries already handled (exactly once)
    key TEXT PRIMARY KEY,
    at  TEXT NOT NULL
) WITHOUT ROWID;
"""

LINEAGE = """
ALTER TABLE attempts ADD COLUMN consumed TEXT;    -- JSON {path: sha256} of the upstream artifacts it read
ALTER TABLE attempts ADD COLUMN code_start TEXT;  -- JSON code state (cairn.codestate) when it started
ALTER TABLE workflows ADD COLUMN parent TEXT;     -- the workflow it was forked from
CREATE TABLE changes (                  -- files an attempt changed (its edits, and git between start and stop)
    attempt_id INTEGER NOT NULL REFERENCES attempts(id) ON DELETE CASCADE,
    path       TEXT NOT NULL,           -- relative to the project
    how        TEXT NOT NULL,           -- the tool (Write, Edit, ...) or "git"
    PRIMARY KEY (attempt_id, path)
) WITHOUT ROWID;
CREATE TABLE pins (                     -- what a workflow runs with: agent prompts, pipeline, plugin, code baseline
    workflow_id TEXT NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,          -- "agent:<stage>", "pipeline", "plugin", "code"
    value       TEXT NOT NULL,
    seq         INTEGER NOT NULL,       -- the checkpoint that recorded it
    PRIMARY KEY (workflow_id, name)
) WITHOUT ROWID
"""

HARDENING = """
CREATE TABLE activity (                 -- the store's order of changes: which workflow changed last
    workflow_id TEXT PRIMARY KEY REFERENCES workflows(id) ON DELETE CASCADE,
    tick        INTEGER NOT NULL        -- one more than the highest, at each checkpoint (writers are serialized)
);
CREATE INDEX activity_tick ON activity(tick);
INSERT INTO activity(workflow_id, tick)
    SELECT workflow_id, ROW_NUMBER() OVER (ORDER BY max(at), workflow_id) FROM marks GROUP BY workflow_id
"""
# Which workflow a new session is offered, and `latest`, follow the order in which the
# store committed changes, never a wall clock (which can go back) or a file's mtime
# (which a cloned repository can set to 2099). Databases written before it start from
# their checkpoints' times, once.

LEDGER = """
CREATE TABLE effects (                  -- the side-effect ledger: what an attempt did to the world
    id          INTEGER PRIMARY KEY,
    workflow_id TEXT NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    attempt_id  INTEGER NOT NULL REFERENCES attempts(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,          -- commit | push | pr | issue | comment | publish
    target      TEXT NOT NULL,          -- what a repeat would repeat: a sha, remote/branch, package@version
    url         TEXT,
    detail      TEXT NOT NULL,          -- JSON object of strings (branch, title, command)
    at          TEXT NOT NULL,
    tool_use_id TEXT NOT NULL           -- the Bash call that did it
);
CREATE UNIQUE INDEX effects_once ON effects(tool_use_id, kind, target);
CREATE INDEX effects_workflow ON effects(workflow_id, kind)
"""

# A person's holds on stages (`cairn.breakpoints`): one row per hold, decided once.
BREAKPOINTS = """
CREATE TABLE breakpoints (
    id          INTEGER PRIMARY KEY,
    workflow_id TEXT NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    stage       TEXT NOT NULL,       -- the stage whose dispatch is held
    set_seq     INTEGER NOT NULL,    -- the checkpoint that set it
    set_at      TEXT NOT NULL,
    source      TEXT NOT NULL,       -- cairn.yaml | cli | panel | reject
    decided_seq INTEGER,             -- NULL while it holds
    decided_at  TEXT,
    decision    TEXT,                -- approved | rejected
    feedback    TEXT,                -- the person's words (redacted), for the stage's brief
    rerun       TEXT                 -- the stage a rejection re-ran
);
CREATE INDEX breakpoints_workflow ON breakpoints(workflow_id, id)
"""

# Beyond one machine: the host each session ran on (shown by status and history on a
# shared store), and artifact contents by hash, so a resume elsewhere can restore them.
SHARED = """
ALTER TABLE sessions ADD COLUMN host TEXT;
CREATE TABLE artifact_bodies (
    sha256 TEXT PRIMARY KEY,
    size   INTEGER NOT NULL,
    body   TEXT NOT NULL                -- base64: one portable column type
);
"""

MIGRATIONS: list[tuple[str, str]] = [
    ("0001_initial", INITIAL),
    ("0002_hardening", HARDENING),
    ("0003_lineage", LINEAGE),
    ("0004_ledger", LEDGER),
    ("0005_breakpoints", BREAKPOINTS),
    ("0006_shared", SHARED),
]


def tables() -> list[str]:
    """Every table the migrations create, in creation order (a table's references come
    before it): what `cairn store migrate` copies."""
    import re

    return [name for _, sql in MIGRATIONS for name in re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", sql)]
