#!/usr/bin/env bash
# Makes a machine ready for the process-level interop tests of the `tus` binary
# (cli/tests/interop_js.rs and cli/tests/interop_py.rs):
#
#   tests/interop/js/node_modules   tus-js-client, from package-lock.json (npm ci)
#   tests/interop/py/.venv          tuspy, from requirements.txt (pinned)
#
# Idempotent: each part is (re)installed only when missing or when its lock file changed
# since the last install. Needs node + npm (Node 18+) and python3 with the venv module.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
js_dir="$root/tests/interop/js"
py_dir="$root/tests/interop/py"

say() { printf 'install-test-deps: %s\n' "$*"; }
die() { say "error: $*" >&2; exit 1; }

digest() { sha256sum "$1" | cut -d' ' -f1; }

# --- tus-js-client ----------------------------------------------------------------------
command -v node >/dev/null 2>&1 || die "node is not installed (Node.js 18+ is needed)"
command -v npm >/dev/null 2>&1 || die "npm is not installed"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 18 ] || die "Node.js $(node --version) is too old; 18+ is needed"

js_stamp="$js_dir/node_modules/.tus-install-stamp"
js_want="$(digest "$js_dir/package-lock.json")"
if [ -f "$js_stamp" ] && [ "$(cat "$js_stamp")" = "$js_want" ] \
    && [ -f "$js_dir/node_modules/tus-js-client/package.json" ]; then
    say "tests/interop/js: node_modules is up to date with package-lock.json (nothing to do)"
else
    say "tests/interop/js: running npm ci (node_modules missing or stale)"
    (cd "$js_dir" && npm ci --no-audit --no-fund --loglevel=error)
    printf '%s\n' "$js_want" > "$js_stamp"
    say "tests/interop/js: installed tus-js-client $(node -p "require('$js_dir/node_modules/tus-js-client/package.json').version")"
fi

# --- tuspy ------------------------------------------------------------------------------
python="${PYTHON:-python3}"
command -v "$python" >/dev/null 2>&1 || die "$python is not installed (Python 3.8+ is needed)"

venv="$py_dir/.venv"
py_stamp="$venv/.tus-install-stamp"
py_want="$(digest "$py_dir/requirements.txt")"
if [ ! -x "$venv/bin/python" ]; then
    say "tests/interop/py: creating the venv at tests/interop/py/.venv"
    rm -rf "$venv"
    "$python" -m venv "$venv" || die "cannot create a venv (on Debian: apt-get install python3-venv)"
fi
if [ -f "$py_stamp" ] && [ "$(cat "$py_stamp")" = "$py_want" ] \
    && "$venv/bin/python" -c 'import tusclient' >/dev/null 2>&1; then
    say "tests/interop/py: the venv is up to date with requirements.txt (nothing to do)"
else
    say "tests/interop/py: installing requirements.txt into the venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$py_dir/requirements.txt"
    "$venv/bin/python" -c 'import tusclient' || die "tuspy was installed but cannot be imported"
    printf '%s\n' "$py_want" > "$py_stamp"
    say "tests/interop/py: installed $("$venv/bin/python" -m pip show tuspy 2>/dev/null | sed -n 's/^Version: /tuspy /p')"
fi

say "ready: cargo test -p tus-cli"
