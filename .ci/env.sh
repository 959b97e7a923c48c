# Where CI keeps its build and test outputs: outside the repository, because the
# repository is the plugin and `claude plugin install` copies its folder whole (it
# honours no .gitignore; only .git is left out). Sourced by .ci/run (and by the test
# that installs the plugin from a clone and measures the copy).
#   CAIRN_CI_CACHE   the root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/cairn-ci)
# Under it: venv-<key>/ (this clone's virtualenv; <key> names the clone's path),
# claude-<version>/ (the pinned Claude Code CLI, shared by clones: .ci/install-claude.sh),
# this clone's tool caches (mypy, ruff, pytest, hypothesis, __pycache__) and the tests'
# artifacts (test-artifacts-<key>/: the web panel's screenshots).
_cairn_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_cairn_key="$(printf '%s' "$_cairn_repo" | sha256sum | cut -c1-12)"
export CAIRN_CI_CACHE="${CAIRN_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cairn-ci}"
export CAIRN_CI_VENV="${CAIRN_CI_VENV:-$CAIRN_CI_CACHE/venv-$_cairn_key}"
_cairn_pin="$(sed -n 's/^CLAUDE_VERSION="\${CAIRN_CLAUDE_VERSION:-\(.*\)}"$/\1/p' "$_cairn_repo/.ci/install-claude.sh")"
export CAIRN_E2E_PREFIX="${CAIRN_E2E_PREFIX:-$CAIRN_CI_CACHE/claude-${CAIRN_CLAUDE_VERSION:-$_cairn_pin}}"
export CAIRN_CLAUDE_BIN="${CAIRN_CLAUDE_BIN:-$CAIRN_E2E_PREFIX/node_modules/.bin/claude}"
export MYPY_CACHE_DIR="$CAIRN_CI_CACHE/mypy-$_cairn_key"
export RUFF_CACHE_DIR="$CAIRN_CI_CACHE/ruff-$_cairn_key"
export PYTHONPYCACHEPREFIX="$CAIRN_CI_CACHE/pycache-$_cairn_key"
export CAIRN_HYPOTHESIS_DIR="$CAIRN_CI_CACHE/hypothesis-$_cairn_key"
export CAIRN_TEST_ARTIFACTS="${CAIRN_TEST_ARTIFACTS:-$CAIRN_CI_CACHE/test-artifacts-$_cairn_key}"  # the panel's screenshots
export PYTEST_ADDOPTS="${PYTEST_ADDOPTS:+$PYTEST_ADDOPTS }-o cache_dir=$CAIRN_CI_CACHE/pytest-$_cairn_key"
unset _cairn_repo _cairn_key _cairn_pin
