#!/usr/bin/env bash
# STaR from the arith seed, with and without rationalization (reports/star_arith*.json).
source "$(dirname "$0")/common.sh"
for mode in rationalize no-rationalize; do
  $PONDER star --model "$RUNS/seed_arith" --task arith --difficulty 1,2 --rounds 2 \
    --problems 512 --samples 4 --steps 100 --batch-size 16 --lr 3e-4 --eval-n 96 \
    --seed "$SEED" --"$mode" --out "$RUNS/star_arith_$mode" \
    --name "star_arith_${mode//-/_}"
done
