# Shared settings of the learning recipes; sourced, not run.
# Every recipe runs from the repository root and writes its numbers to reports/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
RUNS=${RUNS:-runs/learning}
SEED=${SEED:-0}
# One thread: these models are small, and the machines they were measured on are shared.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
PONDER=${PONDER:-.venv/bin/ponder}
mkdir -p "$RUNS"
