#!/usr/bin/env bash
# The bundled reasoner against an earlier model on the same held-out problems of the
# bundled one's trained levels (n=500 per task, seed 1, as recipes/default_eval.sh draws
# them), paired: per task and level, the difference with its bootstrap interval and the
# exact McNemar test (recipes/compare_evals.py).
#
#   bash recipes/default_eval.sh        # first: the bundled model's records
#   PREVIOUS=path/to/checkpoint bash recipes/compare_reasoners.sh
#   # e.g. the model an earlier commit shipped:
#   #   mkdir -p runs/previous && git archive REV src/ponder/assets/default | tar -x -C runs/previous
#   #   PREVIOUS=runs/previous/src/ponder/assets/default bash recipes/compare_reasoners.sh
#   # or the same recipe trained with another seed (recipes/default_reasoner.sh, SEED=1):
#   #   NAME=seed1 PREVIOUS=runs/seed1/checkpoint DIR=reports/seed1_retrain \
#   #     OUT=reports/default_vs_seed1.json bash recipes/compare_reasoners.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
PONDER=${PONDER:-.venv/bin/ponder}
PYTHON=${PYTHON:-.venv/bin/python}
PREVIOUS=${PREVIOUS:?set PREVIOUS to the earlier model\'s checkpoint directory}
N_TRAINED=${N_TRAINED:-500}
NAME=${NAME:-previous}  # the other model's name in file names and in the comparison
DIR=${DIR:-reports/compare_previous}
OUT=${OUT:-reports/default_vs_previous.json}
mkdir -p "$DIR"
trained=$("$PYTHON" -c 'from ponder.cli.demo import trained_levels
from ponder.tasks import get_task
for name, top in trained_levels(None).items():
    t = get_task(name)
    print(name, t.min_difficulty, min(top, t.max_difficulty))
')
tasks=()
while read -r task lo hi; do
  [ -n "$task" ] || continue
  tasks+=("$task")
  out="$DIR/${NAME}_${task}.json"
  [ -f "$out" ] && [ -z "${FORCE:-}" ] && continue  # kept from an earlier run (FORCE=1 redoes)
  "$PONDER" eval --model "$PREVIOUS" --task "$task" --n "$N_TRAINED" --difficulty "$lo-$hi" \
    --seed 1 --records --json "$out" < /dev/null
done <<< "$trained"
"$PYTHON" recipes/compare_evals.py --a "$DIR/${NAME}_{task}.json" \
  --b "reports/default_eval_{task}_trained.json" --tasks "$(IFS=,; echo "${tasks[*]}")" \
  --names "$NAME",current --out "$OUT"
