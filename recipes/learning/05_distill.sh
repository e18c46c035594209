#!/usr/bin/env bash
# Distillation: the RL-trained `small` arith model teaches a fresh `tiny` student on its
# verified traces; accuracy and FLOPs per answer of both (reports/distill_arith_tiny.json).
source "$(dirname "$0")/common.sh"
$PONDER distill --teacher "$RUNS/rl_arith_grpo/checkpoint" --preset tiny --task arith \
  --difficulty 1,2 --problems 1000 --samples 2 --steps 600 --batch-size 16 --lr 3e-3 \
  --eval-n 96 --seed "$SEED" --out "$RUNS/distill_arith_tiny" --name distill_arith_tiny
