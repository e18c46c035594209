#!/usr/bin/env bash
# The bundled default reasoner (src/ponder/assets/default): a model trained from scratch
# on teacher chains of thought of the four built-in task families, within 30 minutes of
# wall-clock on 2 CPU cores (training, periodic held-out evaluation and saves included).
#
#   bash recipes/default_reasoner.sh            # train, then install the checkpoint
#   RESUME=1 bash recipes/default_reasoner.sh   # continue an interrupted run
#
# The run (checkpoint, state.pt, metrics.jsonl) goes to $RUN; the checkpoint's
# recipe.json records the exact command. Accuracy numbers: see recipes/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

PONDER=${PONDER:-.venv/bin/ponder}
RUN=${RUN:-runs/default_reasoner}
MINUTES=${MINUTES:-25}
ASSET=src/ponder/assets/default

"$PONDER" train \
  --task arith,chain,countdown,perm \
  --max-difficulty arith=4,chain=6,countdown=3,perm=8 \
  --preset small \
  --minutes "$MINUTES" \
  --batch-size 16 \
  --lr 3e-3 \
  --precision fp32 \
  --threads 2 \
  --seed 0 \
  --eval-every 0 \
  --eval-n 8 \
  --out "$RUN" \
  ${RESUME:+--resume}

# install atomically: copy next to the asset, then swap
mkdir -p "$(dirname "$ASSET")"
rm -rf "$ASSET.new" "$ASSET.old"
cp -r "$RUN/checkpoint" "$ASSET.new"
if [ -d "$ASSET" ]; then mv "$ASSET" "$ASSET.old"; fi
mv "$ASSET.new" "$ASSET"
rm -rf "$ASSET.old"
chmod -R a+rX "$ASSET"  # checkpoints are written private; package data must be readable
du -sh "$ASSET"
echo "installed $ASSET; try: $PONDER demo"
