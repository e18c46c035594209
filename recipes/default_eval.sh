#!/usr/bin/env bash
# Held-out accuracy of the bundled reasoner (or $MODEL) per task and difficulty, with a
# chain of thought and, where the task has the format, without one (--direct), each with
# its 95% Wilson interval. N problems per task are spread evenly over every level, the
# trained ones and the ladder above them.
# Writes reports/default_eval_<task>[_direct].json; `ponder report` summarises them.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
PONDER=${PONDER:-.venv/bin/ponder}
N=${N:-1000}
MODEL_ARG=${MODEL:+--model $MODEL}
for task in arith chain countdown perm; do
  "$PONDER" eval $MODEL_ARG --task "$task" --n "$N" --json "reports/default_eval_$task.json"
done
for task in arith chain perm; do
  "$PONDER" eval $MODEL_ARG --task "$task" --n "$N" --direct \
    --json "reports/default_eval_${task}_direct.json"
done
"$PONDER" report --readme README.md  # refills the table in README.md
