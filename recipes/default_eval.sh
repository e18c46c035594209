#!/usr/bin/env bash
# Held-out accuracy of the bundled reasoner (or $MODEL) per task and difficulty, with a
# chain of thought and, where the task has the format, without one (--direct), each with
# its 95% Wilson interval. N problems per task are spread evenly over every level, the
# trained ones and the ladder above them; then N_TRAINED more per task over its trained
# levels alone (read from the checkpoint's recipe.json), with and without a chain of
# thought, so that the trained-level targets are measured on n >= 500 per family.
# Writes reports/default_eval_<task>[_direct].json and
# reports/default_eval_<task>_trained[_direct].json (the chain-of-thought ones with every
# completion, which recipes/compare_reasoners.sh pairs with another model's);
# Last, the ladder past the trained levels: N_LADDER problems at each of the LADDER
# levels above a family's highest trained one (reports/default_eval_<task>_ladder.json), where
# accuracy falls from the trained levels' to chance and the edge of competence lies.
# `ponder report` summarises them. ONLY=ladder runs the ladder alone.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
PONDER=${PONDER:-.venv/bin/ponder}
PYTHON=${PYTHON:-.venv/bin/python}
N=${N:-1000}
N_TRAINED=${N_TRAINED:-500}
N_LADDER=${N_LADDER:-500}
LADDER=${LADDER:-3}
ONLY=${ONLY:-}
MODEL_ARG=${MODEL:+--model $MODEL}
# "task lowest highest direct top" for every task the model was trained on, e.g.
# "arith 1 5 1 9" (levels clamped to the task's ladder; direct: 1 if it has that format;
# top: the ladder's last level)
trained=$("$PYTHON" -c 'import sys
from ponder.cli.demo import trained_levels
from ponder.tasks import get_task
model = sys.argv[1].removeprefix("native:") or None
for name, top in trained_levels(model).items():
    t = get_task(name)
    print(name, t.min_difficulty, min(top, t.max_difficulty), int("direct" in t.styles),
          t.max_difficulty)
' "${MODEL:-}")
ladder() {
  while read -r task lo hi direct top; do
    [ -n "$task" ] && [ "$hi" -lt "$top" ] || continue
    last=$(( hi + LADDER < top ? hi + LADDER : top ))
    "$PONDER" eval $MODEL_ARG --task "$task" --n $(( N_LADDER * (last - hi) )) \
      --difficulty "$(( hi + 1 ))-$last" --seed 1 --records \
      --json "reports/default_eval_${task}_ladder.json" < /dev/null
  done <<< "$trained"
}
if [ "$ONLY" = ladder ]; then ladder; exit 0; fi
for task in arith chain countdown perm; do
  "$PONDER" eval $MODEL_ARG --task "$task" --n "$N" --json "reports/default_eval_$task.json"
done
for task in arith chain perm; do
  "$PONDER" eval $MODEL_ARG --task "$task" --n "$N" --direct \
    --json "reports/default_eval_${task}_direct.json"
done
while read -r task lo hi direct top; do
  [ -n "$task" ] || continue
  "$PONDER" eval $MODEL_ARG --task "$task" --n "$N_TRAINED" --difficulty "$lo-$hi" \
    --seed 1 --records --json "reports/default_eval_${task}_trained.json" < /dev/null
  if [ "$direct" = 1 ]; then
    "$PONDER" eval $MODEL_ARG --task "$task" --n "$N_TRAINED" --difficulty "$lo-$hi" \
      --seed 1 --direct --json "reports/default_eval_${task}_trained_direct.json" < /dev/null
  fi
done <<< "$trained"
ladder
"$PONDER" report --readme README.md  # refills the table in README.md
