#!/usr/bin/env bash
# Chain of thought against direct answering on the same held-out problems (Li et al.,
# ICLR 2024: a constant-depth transformer cannot compose many steps in one token, but
# can with a chain of thought), by number of steps (the task's level): greedy decoding
# of the bundled reasoner with its chain of thought vs with the thinking closed in the
# prompt (`direct=greedy`, `{"think": false}`), paired per problem, two seeds.
#
#   bash recipes/test_time/cot_direct.sh                 # perm and arith, levels 1-4
#   TASKS=perm LEVELS=1,2,3,4,5,6 bash recipes/test_time/cot_direct.sh
# Writes reports/cot_direct_<task>_s<seed>.json (by_difficulty: accuracy per level).
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
PONDER=${PONDER:-.venv/bin/ponder}
TASKS=${TASKS:-perm arith}
LEVELS=${LEVELS:-1,2,3,4}
PER_LEVEL=${PER_LEVEL:-500}
N=$((PER_LEVEL * $(echo "$LEVELS" | tr ',' '\n' | wc -l)))
for TASK in $TASKS; do
  for SEED in ${SEEDS:-0 1}; do
    "$PONDER" scale --task "$TASK" --difficulty "$LEVELS" --n "$N" --seed "$SEED" \
      --strategies greedy,direct=greedy --options '{"direct": {"think": false}}' \
      --budgets 1 --max-tokens "${TOK:-400}" --name "cot_direct_${TASK}_s${SEED}"
  done
done
