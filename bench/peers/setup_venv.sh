#!/usr/bin/env bash
# Usage: setup_venv.sh PEER MODULE
# Creates bench/.venv-PEER from bench/peers/PEER/requirements.txt. Idempotent: does nothing when
# the venv's stamp holds the sha256 of the current requirements.txt; otherwise rebuilds it from
# scratch, then prints MODULE's version. PYTHON picks the interpreter (default python3; the pins
# are for Python 3.11).
set -euo pipefail

peer="$1"
module="$2"
peers="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$(cd "$peers/.." && pwd)/.venv-$peer"
req="$peers/$peer/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$venv/bin/python" ]]; then
    echo "bench/.venv-$peer is up to date"
    exit 0
fi

rm -rf "$venv"
"${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
"$venv/bin/python" -m pip check
echo "$want" > "$stamp"
echo "bench/.venv-$peer ready: $module $("$venv/bin/python" -c "import $module; print($module.__version__)")"
