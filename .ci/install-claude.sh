#!/usr/bin/env bash
# Install the pinned Claude Code CLI for the end-to-end tests, outside the repository
# (the repository is the plugin, and `claude plugin install` copies its folder whole):
# into $CAIRN_E2E_PREFIX, by default ${XDG_CACHE_HOME:-$HOME/.cache}/cairn-ci/claude-<version>
# (.ci/env.sh). The tests find it there, or through $CAIRN_CLAUDE_BIN.
# Idempotent: does nothing when the pinned version is already installed.
# Usage: bash .ci/install-claude.sh   (CAIRN_CLAUDE_VERSION overrides the pin)
set -euo pipefail

CLAUDE_VERSION="${CAIRN_CLAUDE_VERSION:-2.1.328}"
PREFIX="${CAIRN_E2E_PREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/cairn-ci/claude-${CLAUDE_VERSION}}"
PKG_JSON="${PREFIX}/node_modules/@anthropic-ai/claude-code/package.json"
BIN="${PREFIX}/node_modules/.bin/claude"

installed_version() {
  if [ -f "${PKG_JSON}" ]; then
    node -e 'process.stdout.write(require(process.argv[1]).version)' "${PKG_JSON}" 2>/dev/null || true
  fi
}

if ! command -v npm >/dev/null 2>&1; then
  echo "install-claude: npm not found; install nodejs/npm first" >&2
  exit 1
fi

if [ "$(installed_version)" = "${CLAUDE_VERSION}" ] && [ -x "${BIN}" ]; then
  echo "install-claude: @anthropic-ai/claude-code@${CLAUDE_VERSION} already installed in ${PREFIX}"
else
  mkdir -p "${PREFIX}"
  # A package.json keeps npm from walking up to the repository's own files.
  [ -f "${PREFIX}/package.json" ] || echo '{"name":"cairn-e2e","private":true}' > "${PREFIX}/package.json"
  echo "install-claude: installing @anthropic-ai/claude-code@${CLAUDE_VERSION} into ${PREFIX}"
  npm install --prefix "${PREFIX}" --no-audit --no-fund --save-exact \
    "@anthropic-ai/claude-code@${CLAUDE_VERSION}"
fi

if [ "$(installed_version)" != "${CLAUDE_VERSION}" ]; then
  echo "install-claude: expected ${CLAUDE_VERSION}, found '$(installed_version)'" >&2
  exit 1
fi

claude_version() {
  env DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \
    "${BIN}" --version 2>/dev/null
}

# The package's postinstall copies the native binary over a placeholder
# bin/claude.exe. If npm skipped install scripts, run it by hand.
if ! claude_version | grep -q "^${CLAUDE_VERSION} "; then
  echo "install-claude: binary not ready, running the package's install.cjs"
  (cd "${PREFIX}/node_modules/@anthropic-ai/claude-code" && node install.cjs)
fi

# Print the version the binary reports (no network needed for --version).
if ! claude_version | grep -q "^${CLAUDE_VERSION} "; then
  echo "install-claude: ${BIN} --version does not report ${CLAUDE_VERSION}" >&2
  "${BIN}" --version >&2 || true
  exit 1
fi
claude_version
