#!/usr/bin/env bash
# Test-time compute on held-out problems with the bundled reasoner (or $MODEL):
# reward models (exact and Monte-Carlo step labels), accuracy-vs-FLOPs curves per
# strategy and difficulty, budget forcing, and a compute-optimal policy fitted on
# training problems. Every step writes reports/<name>.json; `ponder report` summarises.
#
#   bash recipes/test_time/run.sh                       # arith levels 1-4
#   TASK=chain DIFF=1,2,3 bash recipes/test_time/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # 2 threads thrash on a shared 2-core box

PONDER=${PONDER:-.venv/bin/ponder}
MODEL=${MODEL:-src/ponder/assets/default}
TASK=${TASK:-arith}
DIFF=${DIFF:-1,2,3,4}
N=${N:-80}
TOK=${TOK:-200}
RUN=${RUN:-runs/test_time/$TASK}
mkdir -p "$RUN"

# 1. reward models trained on the policy's own samples; held-out step accuracy
"$PONDER" prm train --model "$MODEL" --task "$TASK" --labels exact --out "$RUN/prm_exact" \
  --problems 200 --samples 4 --steps 250 --eval-problems 60 --max-tokens "$TOK" \
  --name "prm_${TASK}_exact"
"$PONDER" prm train --model "$MODEL" --task "$TASK" --labels mc --mc-k 4 --out "$RUN/prm_mc" \
  --problems 100 --samples 4 --steps 250 --eval-problems 60 --max-tokens "$TOK" \
  --name "prm_${TASK}_mc"

# 2. accuracy vs compute: greedy, self-consistency, PRM best-of-N (weighted), PRM beam
#    search and MCTS
"$PONDER" scale --model "$MODEL" --task "$TASK" --difficulty "$DIFF" --n "$N" \
  --strategies greedy,vote,best_of_n,beam,mcts --budgets 4,8,16,32 --prm "$RUN/prm_exact" \
  --options '{"best_of_n": {"weighted": true}}' --max-tokens "$TOK" --name "scale_${TASK}"

# 2c. selection at equal compute on more problems, at the levels with headroom
#     (level 1 is near ceiling): greedy vs self-consistency vs PRM-weighted best-of-N
"$PONDER" scale --model "$MODEL" --task "$TASK" --difficulty "${HARD:-2,3,4}" --n "$((3 * N))" \
  --strategies greedy,vote,best_of_n --budgets 1,4,16 --prm "$RUN/prm_exact" \
  --options '{"best_of_n": {"weighted": true}}' --max-tokens "$TOK" \
  --name "selection_${TASK}"

# 2b. sequential revisions: a revision model trained on the policy's own wrong attempts
#     followed by a right one, against parallel sampling from the same model
"$PONDER" revision train --model "$MODEL" --task "$TASK" --difficulty "$DIFF" \
  --problems 256 --samples 8 --epochs 3 --out "$RUN/revision" --name "revision_${TASK}"
"$PONDER" scale --model "$RUN/revision/checkpoint" --task "$TASK" --difficulty "$DIFF" \
  --n "$N" --strategies vote,revise --budgets 4,8,16 --max-tokens "$TOK" \
  --name "revise_${TASK}"

# 3. budget forcing: accuracy vs thinking-token cap
"$PONDER" scale --model "$MODEL" --task "$TASK" --difficulty "$DIFF" --n "$N" \
  --strategies budget --budgets 16,32,64,128,256 --max-tokens "$TOK" \
  --name "budget_${TASK}"

# 4. compute-optimal: fit per-difficulty policies on TRAIN problems, compare on held-out
"$PONDER" optimal fit --model "$MODEL" --task "$TASK" --difficulty "$DIFF" --n "$N" \
  --strategies greedy,vote,best_of_n --budgets 1,4,16 --prm "$RUN/prm_exact" \
  --options '{"best_of_n": {"weighted": true}}' --max-tokens "$TOK" --out "$RUN/policy.json"
"$PONDER" scale --model "$MODEL" --task "$TASK" --difficulty "$DIFF" --n "$N" \
  --strategies optimal,best_of_n --budgets 4,16 --prm "$RUN/prm_exact" \
  --options "{\"optimal\": {\"policy\": \"$RUN/policy.json\"}, \"best_of_n\": {\"weighted\": true}}" \
  --max-tokens "$TOK" --name "optimal_${TASK}"

"$PONDER" report
