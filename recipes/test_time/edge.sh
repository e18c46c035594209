#!/usr/bin/env bash
# Test-time compute at the edge of competence: the levels where the bundled reasoner's
# greedy accuracy lies between 0.2 and 0.8 (read from reports/default_eval_<task>.json,
# written by recipes/default_eval.sh), N held-out problems per arm, twice (seeds 0 and 1,
# different problems). Greedy against self-consistency (majority vote) at 4 and 16
# samples, paired on the same problems; the summary also fits coverage (pass@k) with a
# power law (Brown et al., "Large Language Monkeys").
#
#   bash recipes/test_time/edge.sh                     # arith, N=500
#   TASK=countdown N=500 bash recipes/test_time/edge.sh
# Writes reports/edge_<task>_s<seed>.json (+ .records.jsonl, .png).
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

PONDER=${PONDER:-.venv/bin/ponder}
PY=${PY:-.venv/bin/python}
TASK=${TASK:-arith}
N=${N:-500}
TOK=${TOK:-400}
BUDGETS=${BUDGETS:-1,4,16}
EVAL=reports/default_eval_${TASK}.json
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
echo "edge of competence for $TASK: levels $EDGE"
for SEED in 0 1; do
  "$PONDER" scale --task "$TASK" --difficulty "$EDGE" --n "$N" --seed "$SEED" \
    --strategies greedy,vote --budgets "$BUDGETS" --max-tokens "$TOK" \
    --name "edge_${TASK}_s${SEED}"
done
