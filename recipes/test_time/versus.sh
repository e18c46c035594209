#!/usr/bin/env bash
# A small model with test-time compute against a ~12x larger model's greedy answers, at
# equal FLOPs per problem (Snell et al. 2024: parameters vs inference compute).
#
#   bash recipes/test_time/versus.sh          # ~40 min on 2 cores
#
# Both models are trained from scratch on the same arith teacher traces (levels 1-4),
# side by side, one core each, for fixed step budgets (so the result does not depend on
# the machine's load): `tiny` (0.34M parameters, 3000 steps) and `base` (3.98M, 3500
# steps; about 14x the tiny model's training FLOPs). With 1500 steps the base model
# was no better than the tiny one at greedy decoding, which made the comparison moot.
# The tiny model then runs greedy and self-consistency at budgets 1..32 on held-out
# problems; the base model runs greedy on the same problems; `ponder
# compare` reports, per level, the tiny model's accuracy at FLOPs no larger than the base
# model's greedy, and the FLOPs it needs to match it.
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1

PONDER=${PONDER:-.venv/bin/ponder}
RUN=${RUN:-runs/versus}
TINY_STEPS=${TINY_STEPS:-3000}
BASE_STEPS=${BASE_STEPS:-3500}
TASK=arith
DIFF=${DIFF:-1,2,3,4}
N=${N:-200}
TOK=${TOK:-160}

train() {  # preset lr steps
  "$PONDER" train --task "$TASK" --max-difficulty "$TASK=4" --preset "$1" --lr "$2" \
    --steps "$3" --batch-size 16 --precision fp32 --threads 1 --seed 0 \
    --eval-every 0 --eval-n 8 --quiet --out "$RUN/$1" ${RESUME:+--resume}
}
mkdir -p "$RUN"
train tiny 3e-3 "$TINY_STEPS" > "$RUN/tiny.log" 2>&1 &
tiny=$!
train base 1e-3 "$BASE_STEPS" > "$RUN/base.log" 2>&1
wait "$tiny"

"$PONDER" scale --model "$RUN/tiny/checkpoint" --task "$TASK" --difficulty "$DIFF" --n "$N" \
  --strategies greedy,vote --budgets 1,2,4,8,16,32 --max-tokens "$TOK" \
  --name "versus_${TASK}_tiny" &
"$PONDER" scale --model "$RUN/base/checkpoint" --task "$TASK" --difficulty "$DIFF" --n "$N" \
  --strategies greedy --budgets 1 --max-tokens "$TOK" --name "versus_${TASK}_base"
wait
"$PONDER" compare "reports/versus_${TASK}_tiny.json" "reports/versus_${TASK}_base.json" \
  --name "versus_${TASK}"
"$PONDER" report
