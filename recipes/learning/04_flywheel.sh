#!/usr/bin/env bash
# Expert iteration from the arith seed: vote search -> verified traces -> SFT, two rounds
# (reports/flywheel_arith_vote.json; data in $RUNS/flywheel_arith/roundN/*.jsonl).
source "$(dirname "$0")/common.sh"
$PONDER flywheel --model "$RUNS/seed_arith" --task arith --difficulty 1,2 --rounds 2 \
  --strategy vote --n 4 --max-tokens 200 --problems 512 --steps 100 --batch-size 16 \
  --lr 3e-4 --eval-n 96 --seed "$SEED" --out "$RUNS/flywheel_arith" \
  --name flywheel_arith_vote
