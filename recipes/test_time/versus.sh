#!/usr/bin/env bash
# A small model with test-time compute against a ~10x larger model's greedy answers, at
# equal FLOPs per problem (Snell et al. 2024: parameters vs inference compute).
#
#   bash recipes/test_time/versus.sh          # ~50 min training on one core, then ~15 min
#   RESUME=1 bash recipes/test_time/versus.sh # goes on after an interruption
#
# The larger model is the bundled reasoner (`small` preset, 1.02M parameters). The
# smaller one (`micro`, 0.11M: 9.5x fewer) is trained here with the bundled reasoner's
# own recipe (recipes/default_reasoner.sh: same task mix, levels, packing, batch, learning
# rate and seed) for as many optimizer steps as it took, so both saw the same training
# tokens and differ only in size — as the models Snell et al. compare do. Then, for each
# seed (different held-out problems), the micro model runs greedy and self-consistency at
# budgets 1..16 and the bundled one greedy on the same N problems; `ponder compare`
# reports, per level, the small model's accuracy at FLOPs no larger than the large
# model's greedy and the FLOPs it needs to match it (reports/versus_<task>_s<seed>.json);
# the evidence table pairs them problem by problem.
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1

PONDER=${PONDER:-.venv/bin/ponder}
PY=${PY:-.venv/bin/python}
RUN=${RUN:-runs/versus}
TASK=${TASK:-chain}
DIFF=${DIFF:-1,2,3}
N=${N:-500}
TOK=${TOK:-400}
SEEDS=${SEEDS:-0 1}
LARGE=src/ponder/assets/default
STEPS=${STEPS:-$("$PY" -c "import json; print(json.load(open('$LARGE/recipe.json'))['step'])")}
# the large model's own task mix, levels, weights and trace formats, from its recipe
MIX=$("$PY" -c "import json
s = json.load(open('$LARGE/recipe.json'))['sft']
pairs = lambda d: ','.join(f'{k}={v}' for k, v in d.items())
flags = ['--task', ','.join(s['tasks']), '--max-difficulty', pairs(s['max_difficulty'])]
flags += ['--weights', pairs(s['weights'])] if s.get('weights') else []
flags += ['--style', pairs(s['styles'])] if s.get('styles') else []
print(' '.join(flags))")

if [ ! -f "$RUN/micro/checkpoint/config.json" ] || [ -f "$RUN/micro/state.pt" ] && \
   [ "$("$PY" -c "import json; print(json.load(open('$RUN/micro/checkpoint/recipe.json')).get('step'))" 2>/dev/null)" != "$STEPS" ]; then
  # shellcheck disable=SC2086
  "$PONDER" train $MIX --preset micro --steps "$STEPS" \
    --batch-size 4 --pack-len 640 --lr 3e-3 --seed 0 --precision fp32 --curriculum uniform \
    --eval-every 0 --eval-n 0 \
    --threads 1 --quiet --out "$RUN/micro" $([ -f "$RUN/micro/state.pt" ] && echo --resume)
fi

scale() {  # name args...
  local name=$1
  shift
  [ -f "reports/$name.json" ] && [ -n "${RESUME:-}" ] && { echo "skip $name"; return; }
  "$PONDER" scale --task "$TASK" --difficulty "$DIFF" --n "$N" --max-tokens "$TOK" \
    --name "$name" "$@"
}
for SEED in $SEEDS; do
  scale "versus_${TASK}_small_s$SEED" --model "$RUN/micro/checkpoint" --seed "$SEED" \
    --strategies greedy,vote --budgets 1,2,4,8,16
  scale "versus_${TASK}_large_s$SEED" --model "$LARGE" --seed "$SEED" \
    --strategies greedy --budgets 1
  "$PONDER" compare "reports/versus_${TASK}_small_s$SEED.json" \
    "reports/versus_${TASK}_large_s$SEED.json" --name "versus_${TASK}_s$SEED"
done
"$PONDER" report
