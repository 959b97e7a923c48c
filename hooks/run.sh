#!/bin/sh
# Cairn hook launcher. Claude Code runs it on every hook event, so it decides without
# starting Python whether there is anything to do: with no active workflow in the
# project, every event but SessionStart's dependency check ends here.
event=$1
root="${CLAUDE_PROJECT_DIR:-$PWD}/.claude/artifacts"
here=${0%/*}
DEPS_STAMP=deps-1

if [ "$event" = session-start ] && [ -n "$CLAUDE_PLUGIN_DATA" ] \
   && [ ! -e "$CLAUDE_PLUGIN_DATA/$DEPS_STAMP.ok" ]; then
  if [ -e "$CLAUDE_PLUGIN_DATA/$DEPS_STAMP.failed" ]; then
    mv -f "$CLAUDE_PLUGIN_DATA/$DEPS_STAMP.failed" "$CLAUDE_PLUGIN_DATA/$DEPS_STAMP.reported"
    msg="Cairn: could not install its Python dependencies (offline?); retrying in the background. Details: $CLAUDE_PLUGIN_DATA/bootstrap.log"
    printf '{"systemMessage": "%s"}\n' "$msg"
    reported=1
  fi
  # Set up the plugin's own virtualenv in the background: never block a session.
  ( python3 -I "$here/bootstrap.py" "$CLAUDE_PLUGIN_DATA" "$DEPS_STAMP" >/dev/null 2>&1 & ) 
  [ -n "$reported" ] && exit 0
fi

case $event in
  stop|session-end) [ -e "$root/.running" ] || exit 0 ;;
  *) [ -e "$root/.active" ] || exit 0 ;;
esac

py=python3
if [ -n "$CLAUDE_PLUGIN_DATA" ] && [ -x "$CLAUDE_PLUGIN_DATA/venv/bin/python" ] \
   && [ -e "$CLAUDE_PLUGIN_DATA/$DEPS_STAMP.ok" ]; then
  py="$CLAUDE_PLUGIN_DATA/venv/bin/python"
fi
# -S: no `site` at start-up. Stop and the no-op paths use the standard library only;
# the handlers that need site-packages add it first (cairn.hooks.third_party).
exec "$py" -I -S "$here/cairn_hook.py" "$event"
