#!/usr/bin/env bash
# Lints the tree and runs every package's tests with real rclpy (`make test` runs it after set-up).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k dataset -x`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
set +u; . .venv/bin/activate; set -u

echo "== ruff"
ruff check .
ruff format --check .

echo "== pytest"
status=0
python -m pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: every package is expected to have tests, so this is a failure." >&2
    exit 1
fi
exit "$status"
