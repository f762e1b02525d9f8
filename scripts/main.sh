#!/usr/bin/env bash
# Set-up, build, then the main job: the default benchmark table (cllama bench).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec build/cllama bench "$@"
