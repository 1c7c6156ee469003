#!/usr/bin/env bash
# Creates bench/.venv-evidently from requirements.txt beside this file (see ../setup_venv.sh).
exec bash "$(dirname "${BASH_SOURCE[0]}")/../setup_venv.sh" evidently evidently
