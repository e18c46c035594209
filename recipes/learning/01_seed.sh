#!/usr/bin/env bash
# Weak SFT seed: a fresh `small` model fit briefly to teacher traces of 1- and 2-digit
# arithmetic, so STaR, RL and the flywheel start from a model that solves some problems,
# not all (reports/seed_arith.json).
#
# Calibration (same command, other sizes): with 200 traces per family and 400 steps the
# model reached 5% on arith 1-3 and its samples hardly varied (pass@8 = pass@1 = 9%):
# nothing for RL to reinforce. 2000 traces and 800 steps (~0.7 epoch each) give a seed
# that is weak but varied.
source "$(dirname "$0")/common.sh"
$PONDER seed --task arith --difficulty 1,2 --per-family 2000 --preset small \
  --steps 800 --batch-size 16 --eval-n 96 --seed "$SEED" \
  --out "$RUNS/seed_arith" --name seed_arith
