#!/usr/bin/env bash
# The seed claim "RL-found chains of thought beat SFT on teacher traces at equal model
# size", on arith levels 1-2: from the same weak seed (01_seed.sh), continue with SFT on
# teacher traces for as many optimizer steps as RL took (03_rl.sh: 400 GRPO steps), and
# compare held-out accuracy and pass@k on the same test problems.
# Writes reports/sft_more_arith.json and reports/traces_arith_sft_more.json.
source "$(dirname "$0")/common.sh"
# --per-family 4000 with the seed's --seed: the seed's 2000 problems plus 2000 new ones
$PONDER seed --init "$RUNS/seed_arith" --task arith --difficulty 1,2 --per-family 4000 \
  --steps 400 --batch-size 16 --lr 3e-4 --eval-n 96 --seed "$SEED" \
  --out "$RUNS/sft_more_arith" --name sft_more_arith
$PONDER traces --model "$RUNS/sft_more_arith" --task arith --difficulty 1,2 -n 96 -k 8 \
  --seed "$SEED" --name traces_arith_sft_more
