#!/usr/bin/env bash
# Stream of Search (Gandhi et al. 2024) on countdown: a model trained on whole search
# traces — tries, dead ends and backtracks — against one trained on the optimal paths
# only, at equal training tokens (the same steps of the same packed rows), each from
# scratch, the same `small` preset and seed. Then greedy accuracy of both on the same
# N held-out problems of levels 1-3, paired (claim 12 of the evidence table).
#
#   recipes/learning/search_traces.sh              # ~2 x 12 min on one core, then eval
#   SEED=1 recipes/learning/search_traces.sh       # the second seed
#
# Writes reports/sos_countdown_{search,optimal}_s<seed>.json (with per-problem records)
# (the runs: runs/learning/sos_countdown_<style>_s<seed>). Rerunning resumes an
# interrupted run and does not retrain a finished one.
source "$(dirname "$0")/common.sh"
REPORTS=${PONDER_REPORTS:-reports}
STEPS=${STEPS:-800}          # 4 packed rows of 1024 tokens a step: ~3.3M tokens an arm
LEVELS=${LEVELS:-1,2,3}
N=${N:-500}
for style in search optimal; do
  out=$RUNS/sos_countdown_${style}_s$SEED
  resume=(); [[ -f "$out/state.pt" ]] && resume=(--resume)  # goes on, or ends at once
  $PONDER train --task countdown --style "countdown=$style" --max-difficulty countdown=3 \
    --preset small --steps "$STEPS" --batch-size 4 --lr 3e-3 --direct-fraction 0 \
    --threads 1 --seed "$SEED" --eval-n 0 --quiet --out "$out" "${resume[@]}"
  $PONDER eval --model "$out" --task countdown -d "$LEVELS" --n "$N" --seed "$SEED" \
    --records --json "$REPORTS/sos_countdown_${style}_s$SEED.json"
done
