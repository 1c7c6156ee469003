#!/usr/bin/env bash
# Creates bench/.venv-mlflow from requirements.txt beside this file. Idempotent: does nothing when
# the venv's stamp holds the sha256 of the current requirements.txt; otherwise rebuilds it from
# scratch. PYTHON picks the interpreter (default python3; the pins are for Python 3.11).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$(cd "$here/../.." && pwd)/.venv-mlflow"
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$venv/bin/python" ]]; then
    echo "bench/.venv-mlflow is up to date"
    exit 0
fi

rm -rf "$venv"
"${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
"$venv/bin/python" -m pip check
echo "$want" > "$stamp"
echo "bench/.venv-mlflow ready: mlflow $("$venv/bin/python" -c 'import mlflow; print(mlflow.__version__)')"
