#!/usr/bin/env bash
# RL vs continued SFT where the teacher's traces are not optimal: countdown levels 1-2,
# whose teacher traces are depth-first searches with dead ends. From the bundled
# reasoner, 200 GRPO steps against 200 steps of SFT on more teacher search traces; the
# same 64 held-out problems; accuracy, pass@k, trace length and backtracks.
# (06_countdown.sh makes the RL side: reports/rl_countdown_grpo.json and traces_*.)
source "$(dirname "$0")/common.sh"
BASE=${BASE:-src/ponder/assets/default}
$PONDER seed --init "$BASE" --task countdown --difficulty 1,2 --per-family 2000 \
  --hint-fraction 0 --steps 200 --batch-size 16 --lr 1e-4 --eval-n 64 --seed "$SEED" \
  --out "$RUNS/sft_more_countdown" --name sft_more_countdown
$PONDER traces --model "$RUNS/sft_more_countdown" --task countdown --difficulty 1,2 -n 64 \
  -k 8 --seed "$SEED" --name traces_countdown_sft_more
