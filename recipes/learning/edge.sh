#!/usr/bin/env bash
# The learning claims at the edge of competence of the bundled reasoner (countdown
# level 3 by default, the level past its training where its greedy accuracy lies
# between 0.2 and 0.8: reports/default_eval_countdown_ladder.json), every arm starting from
# the same bundled model and scored on the same N held-out problems, paired:
#
#   star_rat / star_norat  STaR rounds with and without rationalization (Zelikman et al.)
#   rl                     GRPO on the edge levels
#   sft                    continued SFT on teacher traces of the same levels for as many
#                          optimizer steps as rl, on about as many tokens a step: the o1
#                          claim "RL-found chains of thought beat written ones"
#   flywheel               search (majority vote) traces -> SFT, over rounds
#
# Then greedy accuracy of every arm (reports/learn_edge_<task>_<arm>_s<seed>.json, with
# per-problem records), pass@1..k, trace length and backtracking of base / rl / sft
# (reports/learn_edge_<task>_traces_<arm>_s<seed>.json), and the paired comparisons
# (reports/learn_edge_<task>.json, via edge_summary.py, over every seed run so far).
#
#   recipes/learning/edge.sh                 # seed 0 (~40 min on one core)
#   SEED=1 recipes/learning/edge.sh          # the second seed
#   STAGES="eval summary" recipes/learning/edge.sh
#   # smoke test (~2 min), results kept out of reports/:
#   RUNS=/tmp/le PONDER_REPORTS=/tmp/le/reports N=8 K=2 PROBLEMS=8 RL_STEPS=2 \
#     FIT_STEPS=2 SFT_PROBLEMS=32 recipes/learning/edge.sh
#
# A stage whose output exists is skipped, so rerunning goes on after an interruption.
source "$(dirname "$0")/common.sh"
PYTHON=${PYTHON:-.venv/bin/python}
REPORTS=${PONDER_REPORTS:-reports}
TASK=${TASK:-countdown}
LEVELS=${LEVELS:-3}
N=${N:-500}                    # held-out problems per arm
K=${K:-8}                      # samples per problem for pass@k
ROUNDS=${ROUNDS:-2}            # STaR and flywheel rounds
PROBLEMS=${PROBLEMS:-512}      # TRAIN problems per STaR / flywheel round
RL_STEPS=${RL_STEPS:-150}
FIT_STEPS=${FIT_STEPS:-100}    # fine-tuning steps per STaR / flywheel round
SFT_PROBLEMS=${SFT_PROBLEMS:-4000}  # teacher traces for the SFT arm
STAGES=${STAGES:-star rl sft flywheel eval traces summary}
STAR_ARMS=${STAR_ARMS:-star_rat star_norat}  # which STaR arms the star stage trains
R=$RUNS/edge_${TASK}_s$SEED
mkdir -p "$R"
base=$($PYTHON -c 'from ponder.lm.registry import default_model_path as p; print(p())')
has() { [[ " $STAGES " == *" $1 "* ]]; }
trained() { [[ -e "$1/config.json" || -e "$1/checkpoint/config.json" ]]; }
todo() { [[ ! -e "$1" ]]; }
lv=(--task "$TASK" --difficulty "$LEVELS" --seed "$SEED")
fit=(--steps "$FIT_STEPS" --batch-size 16 --lr 3e-4 --eval-n 0)

if has star; then
  for pair in "rationalize star_rat" "no-rationalize star_norat"; do
    read -r mode arm <<< "$pair"
    [[ " $STAR_ARMS " == *" $arm "* ]] || continue
    todo "$R/$arm/round$ROUNDS/checkpoint" && $PONDER star "${lv[@]}" --"$mode" \
      --rounds "$ROUNDS" --problems "$PROBLEMS" --samples 4 "${fit[@]}" --out "$R/$arm" \
      --name "learn_edge_${TASK}_${arm}_train_s$SEED"
  done
fi
if has rl; then
  todo "$R/rl/checkpoint/config.json" && $PONDER rl "${lv[@]}" --steps "$RL_STEPS" \
    --batch 8 --group 8 --advantage grpo --lr 1e-4 --eval-every "$RL_STEPS" --eval-n 200 \
    --save-every 25 --out "$R/rl" --name "learn_edge_${TASK}_rl_train_s$SEED"
fi
if has sft; then
  # as many optimizer steps as RL, each on about as many tokens (4 packed rows of 1024
  # against RL's 64 completions of ~70 tokens); RL also pays for its rollouts
  todo "$R/sft/checkpoint/config.json" && $PONDER seed "${lv[@]}" --init "$base" \
    --per-family "$SFT_PROBLEMS" --hint-fraction 0 --steps "$RL_STEPS" --batch-size 4 \
    --lr 3e-4 --eval-n 0 --out "$R/sft" --name "learn_edge_${TASK}_sft_train_s$SEED"
fi
if has flywheel; then
  todo "$R/flywheel/round$ROUNDS/checkpoint" && $PONDER flywheel "${lv[@]}" \
    --rounds "$ROUNDS" --strategy vote --n 8 --problems "$PROBLEMS" "${fit[@]}" \
    --out "$R/flywheel" --name "learn_edge_${TASK}_flywheel_train_s$SEED"
fi

declare -A model=([base]="$base" [rl]="$R/rl" [sft]="$R/sft")
arms=(base rl sft)
for run in star_rat star_norat flywheel; do  # the last round, and round 1 (over rounds)
  model[$run]=$R/$run/round$ROUNDS; model[${run}_r1]=$R/$run/round1; arms+=("$run" "${run}_r1")
done
if has eval; then
  for arm in "${arms[@]}"; do
    out=$REPORTS/learn_edge_${TASK}_${arm}_s$SEED.json
    if ! trained "${model[$arm]}"; then echo "skip $arm: no model at ${model[$arm]}"; continue; fi
    todo "$out" && $PONDER eval --model "${model[$arm]}" --task "$TASK" -d "$LEVELS" \
      --n "$N" --seed "$SEED" --records --json "$out"
  done
fi
if has traces; then
  for arm in base rl sft; do
    trained "${model[$arm]}" || continue
    todo "$REPORTS/learn_edge_${TASK}_traces_${arm}_s$SEED.json" && \
      $PONDER traces --model "${model[$arm]}" "${lv[@]}" -n "$N" -k "$K" \
      --name "learn_edge_${TASK}_traces_${arm}_s$SEED"
  done
fi
if has summary; then
  $PYTHON recipes/learning/edge_summary.py "$TASK"
fi
