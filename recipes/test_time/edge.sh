#!/usr/bin/env bash
# Test-time compute at the edge of competence: the levels where the bundled reasoner's
# greedy accuracy lies between 0.2 and 0.8 (read from reports/default_eval_<task>_ladder.json, 500
# problems a level past the trained ones, else reports/default_eval_<task>.json; both
# written by recipes/default_eval.sh), N held-out problems per arm, twice (seeds 0 and 1,
# different problems), every comparison paired on the same problems. Stages (STAGES):
#
#   vote     greedy vs self-consistency at BUDGETS samples, and the coverage (pass@k)
#            power-law fit (Brown et al., "Large Language Monkeys")
#                                                   -> reports/edge_<task>_s<seed>.json
#   rm       a PRM and an ORM trained on the policy's own samples of TRAIN problems at
#            the edge levels (exact step labels)   -> reports/edge_<task>_{prm,orm}.json
#   select   majority vote vs ORM best-of-N vs PRM-weighted best-of-N at 4 and 16 samples:
#            the same samples (same seeds), three ways of choosing (Lightman et al.)
#                                            -> reports/edge_<task>_select_s<seed>.json
#   aggregate  the same comparison with the other ways of choosing: PRM scores
#            aggregated by min and product (Lightman et al.) as well as the last step's,
#            weighted or not, and the ORM weighted  -> reports/edge_<task>_aggregate_s<seed>.json
#            and, paired with the select stage, reports/edge_<task>_selection.json
#   search   PRM beam search and MCTS vs PRM best-of-N at 4 and 16, by level (Snell et al.)
#                                            -> reports/edge_<task>_search_s<seed>.json
#   budget   budget forcing: greedy thinking capped at CAPS tokens (8..128), and "Wait" extension
#                                            -> reports/edge_<task>_budget_s<seed>.json
#   revise   sequential revisions (one chain of N attempts, the last 4 in context) by a
#            revision model fine-tuned from the bundled one on its own wrong-then-right
#            attempts at the edge levels (Snell et al. §6), against that model's majority
#            vote; and parallel agents (greedy + two voters of N samples at temperatures
#            0.6 and 1.0, majority over the three answers: 2N+1 samples; its vote arm is the
#            vote stage's, same problems and seeds), and the same N=16 split into 4
#            parallel chains of 4 revisions     -> reports/edge_<task>_{revise,revise_split,agents}_s<seed>.json
#   optimal  compute-optimal allocation by predicted difficulty, fitted on TRAIN problems,
#            vs PRM best-of-N              -> reports/edge_<task>_optimal_s<seed>.json
#
#   bash recipes/test_time/edge.sh                          # countdown, every stage
#   STAGES=vote,rm,select bash recipes/test_time/edge.sh     # some stages
#   TASK=chain EDGE=2,3 bash recipes/test_time/edge.sh      # set levels by hand
#   RESUME=1 bash recipes/test_time/edge.sh                 # skip reports that exist
#   STAGES=budget CAPS=32,64,128,256,384 bash recipes/test_time/edge.sh  # countdown's
#                                            # traces run to ~300 tokens
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

PONDER=${PONDER:-.venv/bin/ponder}
PY=${PY:-.venv/bin/python}
TASK=${TASK:-countdown}
N=${N:-500}
TOK=${TOK:-400}
BUDGETS=${BUDGETS:-1,4,16}
CAPS=${CAPS:-8,16,32,64,128}  # thinking-token caps of the budget stage
SEEDS=${SEEDS:-0 1}
STAGES=${STAGES:-vote,rm,select,aggregate,search,budget,revise,optimal}
RUN=${RUN:-runs/edge/$TASK}
RM_PROBLEMS=${RM_PROBLEMS:-1000}
RM_STEPS=${RM_STEPS:-600}
EVAL=reports/default_eval_${TASK}_ladder.json
[ -f "$EVAL" ] || EVAL=reports/default_eval_${TASK}.json
if [ -z "${EDGE:-}" ]; then
  EDGE=$("$PY" - "$EVAL" <<'EOF'
import json, sys
from ponder.eval.report import edge_levels
levels = edge_levels(json.load(open(sys.argv[1]))["by_difficulty"])
if not levels:
    sys.exit(f"no level of {sys.argv[1]} lies in the edge band; set EDGE=levels")
print(",".join(levels))
EOF
)
fi
echo "edge of competence for $TASK: levels $EDGE; stages $STAGES"
mkdir -p "$RUN"

want() { [[ ",$STAGES," == *",$1,"* ]]; }
done_already() { [ -n "${RESUME:-}" ] && [ -f "reports/$1.json" ]; }
scale() {  # name seed args...
  local name=$1 seed=$2
  shift 2
  if done_already "$name"; then echo "skip $name (exists)"; return; fi
  "$PONDER" scale --task "$TASK" --difficulty "$EDGE" --n "$N" --seed "$seed" \
    --max-tokens "$TOK" --name "$name" "$@"
}
PRM_BON='"best_of_n": {"scorer": "prm", "weighted": true}'
BEAM='"beam": {"beam_width": "sqrt"}'  # M = sqrt(N), as in Snell et al.

if want vote; then
  for SEED in $SEEDS; do
    scale "edge_${TASK}_s${SEED}" "$SEED" --strategies greedy,vote --budgets "$BUDGETS"
  done
fi

if want rm; then
  for KIND in prm orm; do
    if done_already "edge_${TASK}_${KIND}" && [ -d "$RUN/$KIND" ]; then continue; fi
    "$PONDER" prm train --task "$TASK" --difficulty "$EDGE" --kind "$KIND" --labels exact \
      --problems "$RM_PROBLEMS" --samples 4 --steps "$RM_STEPS" --eval-problems 200 \
      --max-tokens "$TOK" --out "$RUN/$KIND" --name "edge_${TASK}_${KIND}"
  done
fi

if want select; then
  for SEED in $SEEDS; do
    scale "edge_${TASK}_select_s${SEED}" "$SEED" --budgets 4,16 \
      --strategies greedy,vote,orm=best_of_n,prm=best_of_n --prm "$RUN/prm" --orm "$RUN/orm" \
      --options '{"orm": {"scorer": "orm"}, "prm": {"scorer": "prm", "weighted": true}}'
  done
fi

if want aggregate; then
  for SEED in $SEEDS; do
    scale "edge_${TASK}_aggregate_s${SEED}" "$SEED" --budgets 4,16 \
      --strategies vote,prm_best=best_of_n,prm_min=best_of_n,prm_prod=best_of_n,orm_w=best_of_n \
      --prm "$RUN/prm" --orm "$RUN/orm" --options '{"prm_best": {"scorer": "prm"},
        "prm_min": {"scorer": "prm", "aggregate": "min", "weighted": true},
        "prm_prod": {"scorer": "prm", "aggregate": "prod", "weighted": true},
        "orm_w": {"scorer": "orm", "weighted": true}}'
  done
  # the two reward models paired rule for rule across the select and aggregate runs
  "$PY" recipes/test_time/selection_summary.py "$TASK"
fi

if want search; then
  for SEED in $SEEDS; do
    scale "edge_${TASK}_search_s${SEED}" "$SEED" --budgets 4,16 \
      --strategies best_of_n,beam,mcts --prm "$RUN/prm" --options "{$PRM_BON, $BEAM}"
  done
fi

if want budget; then
  for SEED in $SEEDS; do
    scale "edge_${TASK}_budget_s${SEED}" "$SEED" --temperature 0 --budgets "$CAPS" \
      --strategies cap=budget,wait=budget --options '{"wait": {"extend": 2}}'
  done
fi

if want revise; then
  REVISER=$RUN/revision
  if [ ! -f "$REVISER/checkpoint/config.json" ]; then
    "$PONDER" revision train --task "$TASK" --difficulty "$EDGE" --problems 512 --samples 8 \
      --epochs 3 --out "$REVISER" --name "edge_${TASK}_revision"
  fi
  for SEED in $SEEDS; do
    scale "edge_${TASK}_revise_s${SEED}" "$SEED" --model "$REVISER" --budgets 1,4,16 \
      --strategies vote,revise
    # Snell et al.'s split of the budget: parallel chains of a few revisions each
    scale "edge_${TASK}_revise_split_s${SEED}" "$SEED" --model "$REVISER" --budgets 16 \
      --strategies revise --options '{"revise": {"sequential": 4}}'
    scale "edge_${TASK}_agents_s${SEED}" "$SEED" --budgets 1,4,16 --strategies agents
  done
fi

if want optimal; then
  POLICY=$RUN/policy.json
  if [ ! -f "$POLICY" ] || [ -z "${RESUME:-}" ]; then
    "$PONDER" optimal fit --task "$TASK" --difficulty "$EDGE" --n "$N" \
      --strategies greedy,vote,best_of_n,beam --budgets 1,4,16 --targets 4,16 \
      --prm "$RUN/prm" --options "{$PRM_BON, $BEAM}" --max-tokens "$TOK" --out "$POLICY"
  fi
  for SEED in $SEEDS; do
    scale "edge_${TASK}_optimal_s${SEED}" "$SEED" --budgets 4,16 \
      --strategies optimal,best_of_n --prm "$RUN/prm" \
      --options "{\"optimal\": {\"policy\": \"$POLICY\"}, $PRM_BON}"
  done
fi
