#!/usr/bin/env bash
# Countdown: does RL change how often the model backtracks ("back:" lines) and how long it
# thinks? pass@k, trace length and backtracks before and after GRPO
# (reports/traces_countdown_*.json, reports/rl_countdown_grpo.json).
#
# The base is the bundled default reasoner (src/ponder/assets/default, made by
# recipes/default_reasoner.sh: a `tiny` model SFT-trained on the four families at low
# levels). A countdown seed from 200 traces alone never solved a problem (pass@8 = 0 on
# levels 1-2), so there was nothing for RL to reinforce.
source "$(dirname "$0")/common.sh"
BASE=${BASE:-src/ponder/assets/default}
$PONDER traces --model "$BASE" --task countdown --difficulty 1,2 -n 64 -k 8 \
  --seed "$SEED" --name traces_countdown_base
$PONDER rl --model "$BASE" --task countdown --difficulty 1,2 --steps 200 --batch 8 \
  --group 8 --advantage grpo --kl 0.0 --lr 1e-4 --eval-every 50 --eval-n 64 \
  --seed "$SEED" --out "$RUNS/rl_countdown_grpo" --name rl_countdown_grpo
$PONDER traces --model "$RUNS/rl_countdown_grpo" --task countdown --difficulty 1,2 -n 64 \
  -k 8 --seed "$SEED" --name traces_countdown_rl

