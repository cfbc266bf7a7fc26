#!/usr/bin/env bash
# Soak of the link-fault policy: `strider deploy` walking `strider virtual-robot` for
# SECONDS of real time (default 1800) at 50 Hz, with the README's faults (1 % of the
# robot's frames dropped, byte error rate 1e-3) and the pseudo-terminal unplugged for
# DISCONNECT seconds (default 0.5) every EVERY seconds (default 300). Prints deploy's JSON
# report (ending, ticks lost, holds, recoveries, reconnects) and deploy's resident memory
# a minute in and at the end, in kB.
#
#   bash bench/soak.sh                        # 30 minutes, dev profile
#   SECONDS_=120 EVERY=30 bash bench/soak.sh  # a short one
#   PROFILE=release bash bench/soak.sh
#   STRIDER=path/to/strider bash bench/soak.sh   # a binary already built
set -euo pipefail
cd "$(dirname "$0")/.."
RUN_S=${SECONDS_:-1800}
EVERY=${EVERY:-300}
DISCONNECT=${DISCONNECT:-0.5}
SPEED=${SPEED:-0.6}
source bench/strider-bin.sh
work=$(mktemp -d)
trap 'kill $robot 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin" virtual-robot --link "$work/tty" \
  --faults "drop=0.01,corrupt=1e-3,disconnect_s=$DISCONNECT@$EVERY/$EVERY,seed=1" \
  >"$work/robot.out" 2>"$work/robot.err" &
robot=$!
sleep 1
"$bin" deploy --port "$work/tty" --speed "$SPEED" --seconds "$RUN_S" --json >"$work/deploy.json" 2>"$work/deploy.err" &
deploy=$!
rss() { awk '/VmRSS/ {print $2}' "/proc/$deploy/status" 2>/dev/null || echo 0; }
sleep 60
rss_start=$(rss)
while kill -0 "$deploy" 2>/dev/null; do
  rss_end=$(rss)
  [ "$rss_end" != 0 ] && last=$rss_end
  sleep 5
done
wait "$deploy" && rc=0 || rc=$?
tail -3 "$work/deploy.err" >&2
echo "{\"seconds\": $RUN_S, \"disconnect_every_s\": $EVERY, \"rc\": $rc, \"rss_kb_after_1_min\": $rss_start, \"rss_kb_at_end\": ${last:-0}, \"deploy\": $(cat "$work/deploy.json" || echo null)}"
