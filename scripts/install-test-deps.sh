#!/usr/bin/env bash
# Makes a machine ready for the process-level interop tests of the `tus` binary
# (cli/tests/interop_js.rs and cli/tests/interop_py.rs) and of the tus client
# (cli/tests/client_interop.rs):
#
#   tests/interop/js/node_modules          tus-js-client, from package-lock.json (npm ci)
#   tests/interop/py/.venv                 tuspy, from requirements.txt (pinned)
#   tests/interop/server-js/node_modules   @tus/server + @tus/file-store, from package-lock.json
#   tests/interop/server-py/.venv          the Python resumable-upload server, from requirements.txt
#   curl                                   the baseline of the client benchmark
#                                          (cargo bench -p tus-bench --bench client), with apt-get
#
# Idempotent: each part is (re)installed only when missing or when its lock file changed
# since the last install. Needs node + npm (Node 20.19+) and python3 with the venv module.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
js_dir="$root/tests/interop/js"
py_dir="$root/tests/interop/py"
server_js_dir="$root/tests/interop/server-js"
server_py_dir="$root/tests/interop/server-py"

say() { printf 'install-test-deps: %s\n' "$*"; }
die() { say "error: $*" >&2; exit 1; }

digest() { sha256sum "$1" | cut -d' ' -f1; }

"$root/scripts/redis.sh" install # redis-server for storage/redis and cli/tests/multi_instance.rs (no-op when present)
"$root/scripts/moto.sh" install # moto 5.2.5 (S3 emulator) for storage/s3, cli/tests/s3.rs and tus-conformance --features s3
"$root/scripts/fake-gcs.sh" install # fake-gcs-server (GCS emulator) for storage/gcs
"$root/scripts/azurite.sh" install # Azurite 3.37.0 (Azure Blob emulator) for storage/azure

# --- curl (the client benchmark's baseline) --------------------------------------------
if command -v curl >/dev/null 2>&1; then
    say "curl: $(curl --version | head -n1 | cut -d' ' -f1-2) is installed (nothing to do)"
else
    command -v apt-get >/dev/null 2>&1 || die "curl is missing and there is no apt-get: install curl by hand"
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "curl is missing and installing it needs root"
        sudo=(sudo)
    fi
    say "curl: installing with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends curl >/dev/null
    command -v curl >/dev/null 2>&1 || die "apt-get ran but curl is still missing"
    say "curl: installed $(curl --version | head -n1 | cut -d' ' -f1-2)"
fi

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

# --- @tus/server + @tus/file-store (the client's interop tests) -------------------------
node_minor="$(node -p 'process.versions.node.split(".")[1]')"
if [ "$node_major" -lt 20 ] || { [ "$node_major" -eq 20 ] && [ "$node_minor" -lt 19 ]; }; then
    die "Node.js $(node --version) is too old for @tus/server; 20.19+ is needed"
fi
server_js_stamp="$server_js_dir/node_modules/.tus-install-stamp"
server_js_want="$(digest "$server_js_dir/package-lock.json")"
if [ -f "$server_js_stamp" ] && [ "$(cat "$server_js_stamp")" = "$server_js_want" ] \
    && [ -f "$server_js_dir/node_modules/@tus/server/package.json" ] \
    && [ -f "$server_js_dir/node_modules/@tus/file-store/package.json" ]; then
    say "tests/interop/server-js: node_modules is up to date with package-lock.json (nothing to do)"
else
    say "tests/interop/server-js: running npm ci (node_modules missing or stale)"
    (cd "$server_js_dir" && npm ci --no-audit --no-fund --loglevel=error)
    printf '%s\n' "$server_js_want" > "$server_js_stamp"
    say "tests/interop/server-js: installed @tus/server $(node -p "require('$server_js_dir/node_modules/@tus/server/package.json').version")"
fi

# --- the Python resumable-upload server (the client's interop tests) --------------------
server_venv="$server_py_dir/.venv"
server_py_stamp="$server_venv/.tus-install-stamp"
server_py_want="$(digest "$server_py_dir/requirements.txt")"
if [ ! -x "$server_venv/bin/python" ]; then
    say "tests/interop/server-py: creating the venv at tests/interop/server-py/.venv"
    rm -rf "$server_venv"
    "$python" -m venv "$server_venv" || die "cannot create a venv (on Debian: apt-get install python3-venv)"
fi
if [ -f "$server_py_stamp" ] && [ "$(cat "$server_py_stamp")" = "$server_py_want" ] \
    && "$server_venv/bin/python" -c 'import resumable_upload.server' >/dev/null 2>&1; then
    say "tests/interop/server-py: the venv is up to date with requirements.txt (nothing to do)"
else
    say "tests/interop/server-py: installing requirements.txt into the venv"
    "$server_venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$server_py_dir/requirements.txt"
    "$server_venv/bin/python" -c 'import resumable_upload.server' \
        || die "resumable-upload was installed but cannot be imported"
    printf '%s\n' "$server_py_want" > "$server_py_stamp"
    say "tests/interop/server-py: installed $("$server_venv/bin/python" -m pip show resumable-upload 2>/dev/null | sed -n 's/^Version: /resumable-upload /p')"
fi

say "ready: cargo test -p tus-cli"
