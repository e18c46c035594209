#!/usr/bin/env bash
# Distillation: the best `small` arith reasoner (STaR with rationalization, round 2)
# teaches a fresh `tiny` student on its verified TRAIN traces; accuracy and FLOPs per
# answer of both (reports/distill_arith_tiny.json). Needs 02_star.sh first.
source "$(dirname "$0")/common.sh"
$PONDER distill --teacher "$RUNS/star_arith_rationalize/round2/checkpoint" --preset tiny \
  --task arith --difficulty 1,2 --problems 2000 --samples 4 --steps 600 --batch-size 16 \
  --lr 3e-3 --eval-n 96 --seed "$SEED" --out "$RUNS/distill_arith_tiny" \
  --name distill_arith_tiny
