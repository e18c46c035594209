#!/usr/bin/env bash
# A small model with test-time compute against a ~12x larger model's greedy answers, at
# equal FLOPs per problem (Snell et al. 2024: parameters vs inference compute).
#
#   bash recipes/test_time/versus.sh          # ~80 core-minutes: two cores, ~40 min
#   RESUME=1 bash recipes/test_time/versus.sh # goes on after an interruption
#
# Both models are trained from scratch on the same arith teacher traces (levels 1-4),
# side by side, one core each, for fixed step budgets (so the result does not depend on
# the machine's load): `tiny` (0.34M parameters, 3000 steps) and `base` (3.98M, 3500
# steps; about 14x the tiny model's training FLOPs). With 1500 steps the base model
# was no better than the tiny one at greedy decoding, which made the comparison moot.
# Then, for each seed (different held-out problems), the tiny model runs greedy and
# self-consistency at budgets 1..16 and the base model greedy on the same N problems;
# `ponder compare` reports, per level, the tiny model's accuracy at FLOPs no larger than
# the base model's greedy, and the FLOPs it needs to match it
# (reports/versus_arith_s<seed>.json); the evidence table pairs them problem by problem.
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1

PONDER=${PONDER:-.venv/bin/ponder}
RUN=${RUN:-runs/versus}
TINY_STEPS=${TINY_STEPS:-3000}
BASE_STEPS=${BASE_STEPS:-3500}
TASK=arith
DIFF=${DIFF:-1,2,3,4}
N=${N:-500}
TOK=${TOK:-400}
SEEDS=${SEEDS:-0 1}

train() {  # preset lr steps
  [ -f "$RUN/$1/checkpoint/config.json" ] && [ -n "${RESUME:-}" ] && return
  "$PONDER" train --task "$TASK" --max-difficulty "$TASK=4" --preset "$1" --lr "$2" \
    --steps "$3" --batch-size 16 --precision fp32 --threads 1 --seed 0 \
    --eval-every 0 --eval-n 8 --quiet --out "$RUN/$1" \
    $([ -f "$RUN/$1/state.pt" ] && echo --resume)
}
scale() {  # name args...
  local name=$1
  shift
  [ -f "reports/$name.json" ] && [ -n "${RESUME:-}" ] && { echo "skip $name"; return; }
  "$PONDER" scale --task "$TASK" --difficulty "$DIFF" --n "$N" --max-tokens "$TOK" \
    --name "$name" "$@"
}
mkdir -p "$RUN"
train tiny 3e-3 "$TINY_STEPS" > "$RUN/tiny.log" 2>&1 &
tiny=$!
train base 1e-3 "$BASE_STEPS" > "$RUN/base.log" 2>&1
wait "$tiny"

for SEED in $SEEDS; do
  scale "versus_${TASK}_tiny_s$SEED" --model "$RUN/tiny/checkpoint" --seed "$SEED" \
    --strategies greedy,vote --budgets 1,2,4,8,16 &
  scale "versus_${TASK}_base_s$SEED" --model "$RUN/base/checkpoint" --seed "$SEED" \
    --strategies greedy --budgets 1
  wait
  "$PONDER" compare "reports/versus_${TASK}_tiny_s$SEED.json" \
    "reports/versus_${TASK}_base_s$SEED.json" --name "versus_${TASK}_s$SEED"
done
"$PONDER" report
