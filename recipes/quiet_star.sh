#!/usr/bin/env bash
# Quiet-STaR (Zelikman et al. 2024) on text in which no reasoning is written: TRAIN
# problems followed directly by their answers. Against two controls trained for the same
# FLOPs on the same text — pause tokens (filler thoughts of the same length) and plain
# next-token training — and the model before training. Measures, on N held-out problems
# per task: answer log-likelihood with thoughts of 0/4/8/16 tokens (paired gains, and
# gains by how hard each token is for the plain model), direct-answer accuracy with 95%
# intervals (each model paired with the base), and generation tokens/s with vs without
# thoughts. Writes reports/quiet_star_*.json and reports/quiet_star_gain.png.
#
# Cost: a Quiet-STaR step runs 1 + n_thoughts * (T + 1 + NTRUE) = 27 tokens through the
# model per text token (the controls are stopped at the same FLOPs). arith's direct text
# is ~45 tokens (~4.5 s a Quiet-STaR step at BATCH=16 on one core, so ~25 min for each
# of the Quiet-STaR and pause runs); chain's is ~270, and thought-step attention grows
# with its square, so TASKS=arith,chain costs several times more.
#
# TARGETS=answer (default) scores only the answer tokens; TARGETS=text every token, as
# the paper does on web text. Here the question is random digits, which no thought can
# predict, and the bundled reasoner was fine-tuned on completions only, so its loss on
# question tokens (~6.4 nats) would swamp the answer's (~0.3).
#
# STAGES=rw RW=1e6 trains and evaluates only a variant with a stronger REINFORCE term.
#
# A stage whose output exists is skipped (rerun after an interruption to go on);
# FRESH=1 reruns every stage. SEED=1 reruns the whole experiment with another training
# seed and other held-out problems, into runs/quiet_star_s1 and reports named *_s1.
#
# Small-budget smoke run (under a minute), results kept out of reports/:
#   RUNS=/tmp/qs PONDER_REPORTS=/tmp/qs/reports STEPS=2 BATCH=2 T=2 NTRUE=2 N=3 \
#     LENGTHS=0,2 BENCH_PROMPTS=2 BENCH_TOKENS=3 recipes/quiet_star.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SEED=${SEED:-0}
SFX=$([ "$SEED" = 0 ] || echo "_s$SEED")  # seed 0's names carry no suffix
RUNS=${RUNS:-runs/quiet_star$SFX}
export PONDER_REPORTS=${PONDER_REPORTS:-reports}
REPORTS=$PONDER_REPORTS
PONDER=${PONDER:-.venv/bin/ponder}
PYTHON=${PYTHON:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
SPEED=${SPEED:-1}            # 0: skip the generation-speed benchmark
DEVICE=${DEVICE:-cpu}        # cuda: same commands on a GPU (not yet tried there)
BASE=${BASE:-}               # base model: "" = the bundled reasoner; or a run dir, hf:DIR
TASKS=${TASKS:-arith}        # task families with a direct style (arith, chain, perm)
MAX_LEVEL=${MAX_LEVEL:-4}    # the bundled reasoner's trained levels (direct accuracy there
                             # runs 0.93 -> 0.06, the range where thoughts could help)
STEPS=${STEPS:-300}          # Quiet-STaR optimizer steps; the controls match its FLOPs
BATCH=${BATCH:-16}
LR=${LR:-3e-4}
T=${T:-8}                    # thought tokens in training
NTRUE=${NTRUE:-4}            # non-myopic horizon
TARGETS=${TARGETS:-answer}   # answer | text (see above)
N=${N:-500}                  # held-out problems per task
LENGTHS=${LENGTHS:-0,4,8,16}
BENCH_PROMPTS=${BENCH_PROMPTS:-64}
BENCH_TOKENS=${BENCH_TOKENS:-16}
mkdir -p "$RUNS" "$REPORTS"
common=(--task "$TASKS" --batch-size "$BATCH" --lr "$LR" --thought-tokens "$T"
        --n-true "$NTRUE" --seed "$SEED" --device "$DEVICE" --max-level "$MAX_LEVEL"
        --targets "$TARGETS")
todo() { [[ -n "${FRESH:-}" || ! -f "$1" ]]; }  # run a stage unless its output exists
again() { [[ -f "$1/state.pt" ]] && echo --resume; }  # a run interrupted: go on

# the stronger-policy-gradient variant alone (STAGES=rw, RW=weight): Quiet-STaR with the
# REINFORCE term weighted RW (the reference code's policy_loss_beta is 1e6), evaluated
# on the same problems -> reports/quiet_star_{train,eval}_quiet_rw<sfx>.json
if [[ " ${STAGES:-} " == *" rw "* ]]; then
  todo "$RUNS/quiet_rw/train.json" && $PONDER quiet-star train --model "$BASE" \
    --out "$RUNS/quiet_rw" $(again "$RUNS/quiet_rw") --mode quiet --n-thoughts 2 \
    --steps "$STEPS" --reinforce-weight "${RW:-1e6}" "${common[@]}" \
    --name quiet_star_train_quiet_rw$SFX
  $PONDER quiet-star eval --model "$RUNS/quiet_rw" --task "$TASKS" --n "$N" --seed "$SEED" \
    --device "$DEVICE" --max-level "$MAX_LEVEL" --lengths "$LENGTHS" --acc-lengths "0,$T" \
    --name quiet_star_eval_quiet_rw$SFX
  exit 0
fi

# 1. Quiet-STaR, then the controls stopped at its training FLOPs
todo "$RUNS/quiet/train.json" && $PONDER quiet-star train --model "$BASE" \
  --out "$RUNS/quiet" $(again "$RUNS/quiet") --mode quiet --n-thoughts 2 --steps "$STEPS" "${common[@]}" \
  --name quiet_star_train_quiet$SFX
todo "$RUNS/pause/train.json" && $PONDER quiet-star train --model "$BASE" \
  --out "$RUNS/pause" $(again "$RUNS/pause") --mode pause --n-thoughts 1 --steps "$((STEPS * 2))" \
  --match-flops "$RUNS/quiet" "${common[@]}" --name quiet_star_train_pause$SFX
todo "$RUNS/plain/train.json" && $PONDER quiet-star train --model "$BASE" \
  --out "$RUNS/plain" $(again "$RUNS/plain") --mode plain --steps "$((STEPS * 30))" \
  --match-flops "$RUNS/quiet" "${common[@]}" --name quiet_star_train_plain$SFX

# 2. Held-out evaluation (same problems for every model: same tasks, N and seed)
ev=(--task "$TASKS" --n "$N" --seed "$SEED" --device "$DEVICE" --max-level "$MAX_LEVEL")
$PONDER quiet-star eval --model "$BASE" "${ev[@]}" --lengths 0 --acc-lengths 0 \
  --name quiet_star_eval_base$SFX
$PONDER quiet-star eval --model "$RUNS/plain" "${ev[@]}" --lengths 0 --acc-lengths 0 \
  --name quiet_star_eval_plain$SFX
$PONDER quiet-star eval --model "$RUNS/pause" "${ev[@]}" --lengths "$LENGTHS" \
  --acc-lengths "0,$T" --name quiet_star_eval_pause$SFX
$PONDER quiet-star eval --model "$RUNS/quiet" "${ev[@]}" --lengths "$LENGTHS" \
  --acc-lengths "0,$T" --plot "$REPORTS/quiet_star_gain$SFX.png" --name quiet_star_eval_quiet$SFX
$PONDER quiet-star compare "$REPORTS/quiet_star_eval_base$SFX.json" \
  "$REPORTS/quiet_star_eval_plain$SFX.json" "$REPORTS/quiet_star_eval_pause$SFX.json" \
  "$REPORTS/quiet_star_eval_quiet$SFX.json" --name quiet_star_compare$SFX

# 3. Generation speed with and without thoughts (same model, same prompts)
[ "$SPEED" = 1 ] || exit 0
IFS=, read -r -a lens <<< "$LENGTHS"
bench_lengths=$(printf '%s\n' "${lens[@]}" | awk '$1 > 0' | paste -sd, -)
$PYTHON benchmarks/quiet_star.py --model "$RUNS/quiet" --task "$TASKS" \
  --prompts "$BENCH_PROMPTS" --new-tokens "$BENCH_TOKENS" --lengths "${bench_lengths:-$T}" \
  --seed "$SEED" --device "$DEVICE" --loop --json "$REPORTS/quiet_star_speed.json"
