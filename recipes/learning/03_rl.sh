#!/usr/bin/env bash
# RL with verifiable rewards from the seeds; pass@k and trace statistics before and after
# (reports/rl_*.json, reports/traces_*.json).
source "$(dirname "$0")/common.sh"
$PONDER traces --model "$RUNS/seed_arith" --task arith --difficulty 1,2 -n 96 -k 8 \
  --seed "$SEED" --name traces_arith_seed
$PONDER rl --model "$RUNS/seed_arith" --task arith --difficulty 1,2 --steps 400 \
  --batch 8 --group 8 --advantage grpo --kl 0.0 --lr 1e-4 --eval-every 50 --eval-n 96 \
  --seed "$SEED" --out "$RUNS/rl_arith_grpo" --name rl_arith_grpo
$PONDER traces --model "$RUNS/rl_arith_grpo" --task arith --difficulty 1,2 -n 96 -k 8 \
  --seed "$SEED" --name traces_arith_rl
