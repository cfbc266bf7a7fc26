#!/usr/bin/env bash
# The acceptance suites of the policy (docs/SIM.md, "The shipped policy"), on seeds that
# neither training (collect and DAgger episodes use hashed 64-bit seeds) nor checkpoint
# selection (`strider improve`: seeds from 5000) ever used: 7000 on by default, FIRST_SEED
# to move on once a choice has looked at them. The policy runs 8 robots per model call
# (`sim eval`'s default `--lanes`; LANES=1 for one-stream policies). Runs each suite for
# the policy (MODEL, default the built-in one) and, with EXPERT=1, for the expert too,
# and prints the tables (Markdown) with the command that made each.
#
#   bash bench/policy_acceptance.sh                        # the built-in model, dev profile
#   MODEL=runs/dagger/best/model.toml bash bench/policy_acceptance.sh
#   EXPERT=1 STRIDER=target/release/strider bash bench/policy_acceptance.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FIRST=${FIRST_SEED:-7000}
source bench/strider-bin.sh
controllers=(policy)
[ "${EXPERT:-0}" = 1 ] && controllers+=(expert)
for c in "${controllers[@]}"; do
  args=(--controller "$c")
  [ "$c" = policy ] && [ -n "${MODEL:-}" ] && args+=(--model "$MODEL")
  [ "$c" = policy ] && [ -n "${LANES:-}" ] && args+=(--lanes "$LANES")
  run() {
    echo "### $c: strider sim eval $* --first-seed $FIRST ${args[*]}"
    echo
    "$bin" sim eval "$@" --first-seed "$FIRST" "${args[@]}" 2>/dev/null
    echo
  }
  run --suite speed --commands=-0.5,-0.3,0,0.3,0.6,0.9,1.0,1.2 --seeds 20 --seconds 20
  run --suite transitions --seeds 20
  run --suite speed --commands 1.0 --seeds 200 --seconds 8          # start-up
  run --suite speed --commands 0.35,0.5,0.7 --seeds 20 --seconds 10   # the paper's position metric
  run --suite envelope --seeds 20 --seconds 20
  run --suite push
done
