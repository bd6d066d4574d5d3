#!/usr/bin/env bash
# Model-check the replication protocol (src/quorumdb/replication/spec/paxos.pml) with spin.
#
# Every configuration below is an exhaustive search (spin -DSAFETY, all reachable states)
# at small bounds; README.md in the spec directory explains each one.  Three kinds:
#   pass   the real protocol: spin must finish the search with 0 errors;
#   bug    a deliberately broken variant: spin must FIND an assertion violation,
#          which proves the property has teeth;
#   reach  a non-vacuity probe (asserts that a wanted state is unreachable): spin must
#          find it reachable.
# Exit status is non-zero if any configuration gives another outcome, if a pass search is
# incomplete (depth or memory bound hit), or if spin/gcc fail.  Every search stores states
# exactly (no bitstate hashing); -DCOLLAPSE compression is used unless a configuration's
# fourth field says "plain" (the reconfiguration model is one flat vector, on which
# COLLAPSE costs time and memory).
#
# Usage: scripts/model-check.sh [NAME ...]     (no names: run every configuration)
# Env:   MODEL_CHECK_MEMORY_MB (default 6000)  memory bound handed to each pan
#        MODEL_CHECK_JOBS (default 2)          searches run in parallel
#        MODEL_CHECK_KEEP=1                    keep the work directory
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
spec="$here/src/quorumdb/replication/spec/paxos.pml"
memory_mb="${MODEL_CHECK_MEMORY_MB:-6000}"

ensure_spin() {
  command -v spin >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "model-check: installing spin with apt-get" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y spin >/dev/null 2>&1 ||
      { DEBIAN_FRONTEND=noninteractive apt-get update >/dev/null &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y spin >/dev/null; }
  fi
  command -v spin >/dev/null 2>&1 ||
    { echo "model-check: spin is not installed (apt-get install spin)" >&2; exit 2; }
}
ensure_spin
command -v gcc >/dev/null 2>&1 || { echo "model-check: gcc is required" >&2; exit 2; }

# name | expect | spin -D flags [| plain]
AGREE="-DNO_LEASE -DT_MAX=0 -DNO_HEARTBEAT -DNO_COMMIT_LEARN -DMAX_CAMPAIGNS=2 -DCRASH_NODE=0"
LEASE="-DNO_PHASE2 -DT_MAX=3 -DMAX_CAMPAIGNS=2 -DCRASH_NODE=1"
XFER="-DTRANSFER -DNO_PHASE2 -DT_MAX=1 -DMAX_CAMPAIGNS=2 -DMAX_CRASH=0"
AGREE3="-DNO_LEASE -DT_MAX=0 -DNO_HEARTBEAT -DNO_COMMIT_LEARN -DMAX_CAMPAIGNS=3 -DMAX_CRASH=0"
READ="-DT_MAX=0 -DMAX_CAMPAIGNS=2 -DMAX_CRASH=0 -DNO_COMMIT_LEARN -DNO_CLIENT"
RECONF="-DRECONFIG -DNO_LEASE -DT_MAX=0 -DR=3 -DMAX_CAMPAIGNS=4 -DMAX_CRASH=0 -DNO_CLIENT"
CONFIGS=(
  # the longest searches first, so that the parallel lanes finish together
  "agreement-commit-learning|pass|-DNO_LEASE -DT_MAX=0 -DMAX_CAMPAIGNS=2 -DMAX_CRASH=0 -DNO_CLIENT"
  "lease|pass|$LEASE"
  "transfer|pass|$XFER"
  "agreement|pass|$AGREE"
  "agreement-3-elections|pass|-DNO_LEASE -DT_MAX=0 -DNO_HEARTBEAT -DNO_COMMIT_LEARN -DMAX_CAMPAIGNS=3 -DMAX_CRASH=0 -DNO_CLIENT"
  "agreement-3-elections-client|pass|$AGREE3"
  "agreement-log-replica|pass|-DLOG_REPLICA $AGREE"
  "lease-log-replica|pass|-DLOG_REPLICA $LEASE"
  "read|pass|$READ"
  "bug-quorum-of-1|bug|$AGREE -DBUG_QUORUM1"
  "bug-no-repropose|bug|$AGREE -DBUG_NOREPROPOSE"
  "bug-log-replica-leads|bug|-DLOG_REPLICA $AGREE -DBUG_LOGLEADER"
  "bug-drift-per-clock|bug|-DNO_PHASE2 -DT_MAX=3 -DMAX_CAMPAIGNS=2 -DMAX_CRASH=0 -DBUG_DRIFT"
  "bug-restart-forgets-lease|bug|$LEASE -DBUG_RESTART"
  "bug-transfer-resume|bug|$XFER -DBUG_TRANSFER_RESUME"
  "bug-transfer-resume-fresh-round|bug|$XFER -DBUG_TRANSFER_RESUME_FRESH"
  "bug-read-before-noop|bug|$READ -DBUG_READ_EARLY"
  # prefix-closed acceptance (README, "Values and their prefix"): P_prefix
  "bug-no-accept-rule|bug|$AGREE -DBUG_NO_ACCEPT_RULE"
  "bug-no-merge-rule|bug|$AGREE3 -DBUG_NO_MERGE_RULE"
  "reach-client-value-chosen|reach|$AGREE -DREACH_CHOSEN"
  "reach-log-replica-vote-decides|reach|-DLOG_REPLICA $AGREE -DREACH_LOG_VOTE"
  "reach-lease-handover|reach|$LEASE -DREACH_HANDOVER"
  "reach-merge-drop|reach|$AGREE3 -DREACH_MERGE_DROP"
  "reach-read-by-second-leader|reach|-DTRANSFER -DT_MAX=1 -DMAX_CAMPAIGNS=2 -DMAX_CRASH=0 -DNO_CLIENT -DNO_COMMIT_LEARN -DREACH_READ"
  # reconfiguration through the log: log replica 2 joins C0 = {0, 1} (README, "Reconfiguration")
  "reconfig-client-values|pass|-DRECONFIG -DNO_LEASE -DT_MAX=0 -DR=3 -DMAX_CAMPAIGNS=3 -DMAX_CRASH=0|plain"
  "reconfig|pass|$RECONF|plain"
  "bug-reconfig-two-at-once|bug|$RECONF -DBUG_TWO_AT_ONCE|plain"
  "bug-reconfig-joiner-leads|bug|$RECONF -DBUG_JOINER_LEADS|plain"
  "reach-reconfig-committed|reach|$RECONF -DREACH_CONFIG|plain"
  "reach-reconfig-joiner-vote|reach|$RECONF -DREACH_JOINED_VOTE|plain"
  "reach-reconfig-joiner-promise|reach|$RECONF -DREACH_JOINER_PROMISE|plain"
  "reach-reconfig-lagging-refusal|reach|$RECONF -DREACH_LAGGING|plain"
  # origin/prev under reconfiguration (README, "Values and their prefix in the reconfiguration model")
  "reach-reconfig-prefix-cross|reach|$RECONF -DREACH_PREFIX_CROSS|plain"
)
# Not in the default run (too long for it; README, "Reconfiguration"): run them by name.
EXTRA_CONFIGS=(
  "reconfig-crash|pass|-DRECONFIG -DNO_LEASE -DT_MAX=0 -DR=3 -DMAX_CAMPAIGNS=3 -DMAX_CRASH=1 -DNO_CLIENT|plain"
)

work="$(mktemp -d "${TMPDIR:-/tmp}/model-check.XXXXXX")"
[ "${MODEL_CHECK_KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT

# run_one ENTRY: compile and search one configuration; writes $work/NAME/result
run_one() {
  local name expect flags storage dir log errors states transitions seconds megabytes
  local incomplete outcome ok compress
  IFS='|' read -r name expect flags storage <<<"$1"
  compress="-DCOLLAPSE"; [ "$storage" = plain ] && compress=""
  dir="$work/$name"; mkdir -p "$dir"; cp "$spec" "$dir/"
  log="$dir/pan.log"
  # shellcheck disable=SC2086
  if ! ( cd "$dir" && spin -a $flags paxos.pml >spin.log 2>&1 &&
         gcc -O2 -DSAFETY $compress -DMEMLIM="$memory_mb" -o pan pan.c >gcc.log 2>&1 ); then
    { printf '%-32s %-6s %-8s\n' "$name" "$expect" "no-build   <-- UNEXPECTED"
      cat "$dir/spin.log" "$dir/gcc.log" 2>/dev/null | head -n 20; } >"$dir/result"
    echo 1 >"$dir/failed"; return 0
  fi
  ( cd "$dir" && ./pan -m10000 -E -c1 -w24 >"$log" 2>&1 ) || true
  errors="$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$log" | tail -n 1)"
  states="$(sed -n 's/^ *\([0-9e.+]*\) states, stored.*/\1/p' "$log" | tail -n 1)"
  transitions="$(sed -n 's/^ *\([0-9e.+]*\) transitions.*/\1/p' "$log" | tail -n 1)"
  seconds="$(sed -n 's/^pan: elapsed time \([0-9.e+]*\) seconds.*/\1/p' "$log" | tail -n 1)"
  megabytes="$(sed -n 's/^ *\([0-9.]*\)[[:space:]]*total actual memory usage.*/\1/p' "$log" | tail -n 1)"
  incomplete=0
  grep -qE 'max search depth too small|reached -DMEMLIM bound|out of memory|Search not completed' \
    "$log" && incomplete=1
  if [ -z "$errors" ]; then outcome="crashed"
  elif [ "$errors" -gt 0 ] && grep -q 'assertion violated' "$log"; then outcome="violated"
  elif [ "$errors" -gt 0 ]; then outcome="error"
  elif [ "$incomplete" = 1 ]; then outcome="partial"
  else outcome="verified"
  fi
  ok=0
  case "$expect" in
    pass) [ "$outcome" = verified ] && ok=1 ;;
    bug|reach) [ "$outcome" = violated ] && ok=1 ;;
  esac
  {
    printf '%-32s %-6s %-8s %12s %14s %8s %9s%s\n' "$name" "$expect" "$outcome" "${states:-?}" \
      "${transitions:-?}" "${seconds:-?}" "${megabytes:-?}" "$([ "$ok" = 1 ] || echo '   <-- UNEXPECTED')"
    if [ "$outcome" = violated ] && [ "$expect" != reach ] || [ "$ok" != 1 ]; then
      # the counterexample, as the MSC lines the model prints along the trail
      # shellcheck disable=SC2086
      ( cd "$dir" && spin -t $flags paxos.pml 2>&1 | grep -E 'MSC:|assertion violated' |
        sed -e 's/^ *MSC: /    | /' -e 's/^spin: .*Error: /    | /' ) || true
    fi
    [ "$ok" = 1 ] || grep -E 'violated|error|Warning' "$log" | sed 's/^/    /' || true
  } >"$dir/result"
  [ "$ok" = 1 ] || echo 1 >"$dir/failed"
}

start_all=$SECONDS
jobs_max="${MODEL_CHECK_JOBS:-2}"
selected=()
all_configs=("${CONFIGS[@]}")
[ "$#" -gt 0 ] && all_configs+=("${EXTRA_CONFIGS[@]}")   # extras only when named
for entry in "${all_configs[@]}"; do
  name="${entry%%|*}"
  if [ "$#" -gt 0 ]; then
    wanted=0; for arg in "$@"; do [ "$arg" = "$name" ] && wanted=1; done
    [ "$wanted" = 1 ] || continue
  fi
  selected+=("$entry")
  run_one "$entry" &
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
done
wait
[ "${#selected[@]}" -gt 0 ] || { echo "model-check: no configuration matches: $*" >&2; exit 2; }

failures=0
printf '%-32s %-6s %-8s %12s %14s %8s %9s\n' configuration expect outcome states transitions seconds MB
for entry in "${selected[@]}"; do
  name="${entry%%|*}"
  cat "$work/$name/result"
  [ -e "$work/$name/failed" ] && failures=$((failures + 1))
done
echo "model-check: ${#selected[@]} configurations, $failures unexpected outcome(s)," \
  "$((SECONDS - start_all)) s wall clock"
[ "$failures" = 0 ]
