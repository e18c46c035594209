#!/usr/bin/env bash
# Every learning measurement in order (each step <= ~30 min on 2 CPU cores), then the
# reports index.
source "$(dirname "$0")/common.sh"
for r in 01_seed 02_star 03_rl 04_flywheel 05_distill 06_countdown 07_star_then_rl 08_rl_vs_sft 09_countdown_rl_vs_sft; do
  bash "recipes/learning/$r.sh"
done
$PONDER report
