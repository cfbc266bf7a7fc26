# Sourced by the bench scripts: sets `bin` to the strider binary to run — $STRIDER if set,
# else the PROFILE (default dev) build, built first.
PROFILE=${PROFILE:-dev}
dir=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
target=${CARGO_TARGET_DIR:-target}
bin=${STRIDER:-}
if [ -z "$bin" ]; then
  cargo build -q --profile "$PROFILE" -p strider-cli
  bin="$target/$dir/strider"
fi
