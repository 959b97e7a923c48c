#!/bin/sh
# Cairn hook launcher. Claude Code runs it on every hook event, so it decides without
# starting Python whether there is anything to do: the markers .open and .running are
# projections the database keeps (cairn/workflow.py). Hooks need only the standard
# library: they run on the plugin's virtualenv when it is ready, else on python3.
event=$1
root="${CLAUDE_PROJECT_DIR:-$PWD}/.claude/artifacts"
here=${0%/*}
DEPS_STAMP=deps-4

if [ "$event" = session-start ] && [ -n "$CLAUDE_PLUGIN_DATA" ] \
   && [ ! -e "$CLAUDE_PLUGIN_DATA/$DEPS_STAMP.ok" ]; then
  # The CLI's packages (never needed by a hook), set up in the background once.
  ( python3 -I "$here/bootstrap.py" "$CLAUDE_PLUGIN_DATA" "$DEPS_STAMP" >/dev/null 2>&1 & )
fi

pick_python() {
  py=python3
  if [ -n "$CLAUDE_PLUGIN_DATA" ] && [ -x "$CLAUDE_PLUGIN_DATA/venv/bin/python" ] \
     && [ -e "$CLAUDE_PLUGIN_DATA/$DEPS_STAMP.ok" ]; then
    py="$CLAUDE_PLUGIN_DATA/venv/bin/python"
    export CAIRN_SITE=1  # its site-packages may be added (a project's own schema, psycopg for a shared store)
  fi
}

run_python() {
  pick_python
  # -S: no `site` at start-up (hooks import nothing outside the standard library; a
  # project's own schema is checked with jsonschema only when site-packages has it).
  exec "$py" -I -S "$here/cairn_hook.py" "$event"
}

case $event in
  stop)
    # Every turn: refresh the session's liveness file (cairn/live.py), from the shell alone.
    # The session id is read from the payload's head with parameter expansion; only an id made of letters,
    # digits, '-' and '_' names a file, and neither the folder nor the file may be a link.
    [ -f "$root/.running" ] || exit 0
    line=$(head -c 2048)  # the id comes first in the payload; a bounded read keeps this O(1)
    sid=${line#*\"session_id\"}
    sid=${sid#*\"}
    sid=${sid%%\"*}
    case $sid in ''|*[!A-Za-z0-9_-]*) exit 0 ;; esac
    live="$root/.live"
    if [ -d "$live" ] && [ ! -h "$live" ] && [ -f "$live/$sid" ] && [ ! -h "$live/$sid" ]; then
      # On a shared store other machines judge the lease by its heartbeat in the database:
      # at most once a minute (the liveness file older than that), Python sends one.
      if [ -f "$root/.shared" ] && [ -n "$(find "$live/$sid" -mmin +1 2>/dev/null)" ]; then
        touch -c -h "$live/$sid" 2>/dev/null
        printf '{"session_id":"%s"}' "$sid" | run_python
        exit 0
      fi
      touch -c -h "$live/$sid" 2>/dev/null
    fi
    exit 0 ;;
  bash-pre|bash-post)
    # Every Bash call while a workflow runs: Python starts only when the command names a
    # word the side-effect ledger looks for (cairn/ledger.py TRIGGERS; keep them in step).
    # The test runs on the payload before "tool_response" (the command and its
    # description), so a command's output never starts Python.
    # PreToolUse denies only repeats of creations (gh ... create, publishes): a commit or
    # a push never starts Python there.
    [ -f "$root/.running" ] || exit 0
    payload=$(cat)
    case $event:${payload%%\"tool_response\"*} in
      bash-pre:*'gh '*|bash-pre:*publish*|bash-pre:*upload*) ;;
      bash-post:*commit*|bash-post:*push*|bash-post:*'gh '*|bash-post:*publish*|bash-post:*upload*) ;;
      *) exit 0 ;;
    esac ;;
  post-edit)
    # A file edit while a workflow runs: only a subagent's is recorded (its payload names its
    # agent_id, before the tool's input: a file's content never starts Python), so the main
    # conversation's edits start no Python.
    [ -f "$root/.running" ] || exit 0
    payload=$(cat)
    case ${payload%%\"tool_input\"*} in *'"agent_id"'*) ;; *) exit 0 ;; esac ;;
  stop-failure)
    # The model API failed. Claude Code ignores this hook's answer and kills it when the
    # turn ends, which in `claude -p` comes tens of milliseconds after a subagent's failure
    # (measured with 2.1.328): the payload goes to a Python started in its own session,
    # and the hook returns at once.
    [ -f "$root/.open" ] || exit 0
    payload=$(cat) ;;
  session-end|pre-compact) [ -f "$root/.running" ] || exit 0 ;;
  session-start)
    # a shared store may hold workflows this folder has no marker of yet (another clone's)
    [ -f "$root/.open" ] || [ -n "${CAIRN_STORE:-}${CLAUDE_PLUGIN_OPTION_STORE:-}" ] \
      || grep -qs '^[[:space:]]*store:[[:space:]]*.\{0,1\}postgres' "$root/../cairn.yaml" || exit 0 ;;
  *) [ -f "$root/.open" ] || exit 0 ;;
esac

case $event in  # the payload was read above: hand it on
  bash-*|post-edit) printf '%s' "$payload" | run_python; exit ;;
  stop-failure)
    pick_python
    detach=
    command -v setsid >/dev/null 2>&1 && detach=setsid
    printf '%s' "$payload" | $detach "$py" -I -S "$here/cairn_hook.py" "$event" >/dev/null 2>&1 &
    exit 0 ;;
esac
run_python
