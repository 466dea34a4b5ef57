#!/usr/bin/env bash
# `make demo`: the main job on the simulated robot (see scripts/demo.py); FULL=1 trains a better policy,
# VISION=1 one that sees; extra arguments go to demo.py.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
set +u; . .venv/bin/activate; set -u
# The demo's nodes talk over DDS on this machine only, in a domain of their own.
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$((RANDOM % 100 + 1))}"
if [[ "${FULL:-0}" == 1 ]]; then set -- --full "$@"; fi
if [[ "${VISION:-0}" == 1 ]]; then set -- --vision "$@"; fi
exec python scripts/demo.py "$@"
