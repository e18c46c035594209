#!/usr/bin/env bash
# The stages in sequence: GRPO on the STaR (with rationalization) round-2 model, with
# pass@k before and after (reports/rl_arith_after_star.json,
# reports/traces_arith_star.json, reports/traces_arith_star_rl.json). Needs 02_star.sh.
source "$(dirname "$0")/common.sh"
STAR=$RUNS/star_arith_rationalize/round2/checkpoint
$PONDER traces --model "$STAR" --task arith --difficulty 1,2 -n 96 -k 8 --seed "$SEED" \
  --name traces_arith_star
$PONDER rl --model "$STAR" --task arith --difficulty 1,2 --steps 400 --batch 8 --group 8 \
  --advantage grpo --kl 0.0 --lr 1e-4 --eval-every 50 --eval-n 96 --seed "$SEED" \
  --out "$RUNS/rl_arith_after_star" --name rl_arith_after_star
$PONDER traces --model "$RUNS/rl_arith_after_star" --task arith --difficulty 1,2 -n 96 -k 8 \
  --seed "$SEED" --name traces_arith_star_rl
