#!/usr/bin/env bash
# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

# The ctrl_bps_panda demo: a real Rubin pipeline through `bps submit` on the local PanDA.
#
#   make repo -> start local PanDA -> bps submit -> bps status (bounded) -> bps report
#   -> verify the butler outputs -> stop the server (also on failure or Ctrl-C)
#
# Usage: run_demo.sh [--engine E] [--fail-one] [--prepare-only] [--work DIR] [--detectors N] [--timeout S]
#   --engine E      the local PanDA's workflow engine: embedded (default); idds, the real iDDS
#                   daemons (needs `make real-idds-venv`); or panda, the real iDDS with the real
#                   panda-server and JEDI (also needs PANDA_DATABASE_DIR and pg_cron) (env: ENGINE)
#   --fail-one      one step2 quantum fails until its marker file is removed; the demo shows the
#                   run failing, then `bps restart` recovering it (env: DEMO_FAIL_ONE=1)
#   --prepare-only  stop after `bps prepare` (no server needed): shows the PanDA tasks and queues
#   --work DIR      work directory, recreated on each run (env: DEMO_WORK_DIR; default <repo>/demo-work)
#   --detectors N   data IDs per label; the graph has 3 x N quanta (default 5)
#   --timeout S     give up waiting for a run after S seconds (env: DEMO_TIMEOUT; default 900)
# Exits non-zero, saying what went wrong, if any stage fails or the outputs are not right.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PACKAGE_DIR=$(cd "$HERE/../.." && pwd)
VENV_DIR=${VENV_DIR:-$PACKAGE_DIR/.venv}
PYTHON=$VENV_DIR/bin/python
BPS=$VENV_DIR/bin/bps
PANDA_LOCAL=$VENV_DIR/bin/panda_local

FAIL_ONE=${DEMO_FAIL_ONE:-0}
ENGINE=${ENGINE:-embedded}
PREPARE_ONLY=0
WORK=${DEMO_WORK_DIR:-$PACKAGE_DIR/demo-work}
DETECTORS=5
TIMEOUT=${DEMO_TIMEOUT:-900}
POLL_SECONDS=5

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "ERROR: $*" >&2; exit 1; }

while (($#)); do
    case $1 in
        --engine) ENGINE=$2; shift ;;
        --fail-one) FAIL_ONE=1 ;;
        --prepare-only) PREPARE_ONLY=1 ;;
        --work) WORK=$2; shift ;;
        --detectors) DETECTORS=$2; shift ;;
        --timeout) TIMEOUT=$2; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument '$1'" ;;
    esac
    shift
done
[[ $FAIL_ONE == 1 || $FAIL_ONE == 0 ]] || die "DEMO_FAIL_ONE must be 0 or 1, got '$FAIL_ONE'"
[[ $ENGINE == embedded || $ENGINE == idds || $ENGINE == panda ]] ||
    die "ENGINE must be embedded, idds or panda, got '$ENGINE'"

WORK=$(mkdir -p "$WORK" && cd "$WORK" && pwd)
STATE_DIR=$WORK/state
LOG_DIR=""  # set once the directory exists
MARKER=$WORK/FAIL_ONE
WORK_TAG=$WORK/.ctrl_bps_panda_demo

# ---------------------------------------------------------------- stages, timings, clean-up
CURRENT_STAGE=""
STAGE_START=$EPOCHREALTIME
DEMO_START=$EPOCHREALTIME
TIMINGS=()
SERVER_STARTED=0

stage() {  # stage NAME: close the previous stage, start timing the next one
    end_stage
    CURRENT_STAGE=$1
    STAGE_START=$EPOCHREALTIME
    printf '\n== %s\n' "$CURRENT_STAGE"
}
end_stage() {
    [[ -n $CURRENT_STAGE ]] || return 0
    TIMINGS+=("$(printf '%8.1f s  %s' "$(elapsed "$STAGE_START")" "$CURRENT_STAGE")")
    CURRENT_STAGE=""
}
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local failed_stage=${CURRENT_STAGE:-setup}
    end_stage
    if ((SERVER_STARTED)); then
        echo "== stopping the local PanDA"
        "$PANDA_LOCAL" stop --state-dir "$STATE_DIR" >>"$LOG_DIR/panda_local.log" 2>&1 \
            || echo "WARNING: could not stop the local PanDA (state dir $STATE_DIR)" >&2
    fi
    printf '\nStage timings:\n'
    printf '%s\n' "${TIMINGS[@]}"
    printf '%8.1f s  total\n' "$(elapsed "$DEMO_START")"
    if ((rc != 0)); then
        echo "DEMO FAILED (exit $rc) during stage '$failed_stage'.${LOG_DIR:+ Logs: $LOG_DIR}" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT
trap 'echo "terminated" >&2; exit 143' TERM

run_logged() {  # run_logged LOG_NAME COMMAND...: output to logs/LOG_NAME.log; its tail on failure
    local log=$LOG_DIR/$1.log
    shift
    if ! "$@" >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        die "'$*' failed; full output in $log"
    fi
}

# ---------------------------------------------------------------- bps helpers
run_id_from() {  # run_id_from LOG: the id ctrl_bps printed as "Run Id: N"
    local id
    id=$(sed -n 's/^Run Id: *//p' "$1" | tail -n 1)
    [[ -n $id ]] || die "no 'Run Id:' in $1"
    echo "$id"
}

state_name() {  # bps status exits with the WmsStates value
    case $1 in
        0) echo SUCCEEDED ;; 10) echo UNKNOWN ;; 11) echo MISFIT ;; 12) echo UNREADY ;;
        13) echo READY ;; 14) echo PENDING ;; 15) echo RUNNING ;; 16) echo DELETED ;;
        17) echo HELD ;; 19) echo FAILED ;; 20) echo PRUNED ;; *) echo "exit-code-$1" ;;
    esac
}

wait_for_run() {  # wait_for_run ID: poll bps status until a terminal state; sets RUN_STATE
    local id=$1 start=$EPOCHREALTIME code last=""
    while :; do
        code=0
        "$BPS" status --id "$id" >>"$LOG_DIR/status.log" 2>&1 || code=$?
        RUN_STATE=$(state_name "$code")
        if [[ $RUN_STATE != "$last" ]]; then
            printf '  [%6.1f s] run %s: %s\n' "$(elapsed "$start")" "$id" "$RUN_STATE"
            last=$RUN_STATE
        fi
        case $RUN_STATE in
            SUCCEEDED | FAILED | DELETED | PRUNED) return 0 ;;
        esac
        if awk -v t="$(elapsed "$start")" -v max="$TIMEOUT" 'BEGIN { exit !(t > max) }'; then
            die "run $id still $RUN_STATE after ${TIMEOUT} s (raise --timeout; see $LOG_DIR/status.log)"
        fi
        sleep "$POLL_SECONDS"
    done
}

wait_until_not_failed() {  # wait_until_not_failed ID: bounded wait for a restart to be taken
    # The real iDDS (--engine idds) takes a retry command a few seconds after `bps restart`
    # returns: until then the run still reads FAILED. The embedded engine takes it at once.
    local id=$1 start=$EPOCHREALTIME code
    while :; do
        code=0
        "$BPS" status --id "$id" >>"$LOG_DIR/status.log" 2>&1 || code=$?
        [[ $(state_name "$code") != FAILED ]] && return 0
        if awk -v t="$(elapsed "$start")" 'BEGIN { exit !(t > 120) }'; then
            die "run $id still FAILED 120 s after bps restart (see $LOG_DIR/status.log)"
        fi
        sleep 2
    done
}

report() {  # report ID: print bps report (its log messages go to logs/report.log)
    "$BPS" report --id "$1" 2>>"$LOG_DIR/report.log" | tee -a "$LOG_DIR/report.out"
}

# ---------------------------------------------------------------- the demo
stage "check tools"
[[ -x $PYTHON && -x $BPS ]] || die "no $PYTHON or $BPS: run 'make venv' (or 'make demo') first"
if ((!PREPARE_ONLY)); then
    "$PYTHON" -c "import lsst.ctrl.bps.panda.local.cli" 2>/dev/null \
        || die "the local PanDA (lsst.ctrl.bps.panda.local.cli) is not installed; use --prepare-only"
    [[ -x $PANDA_LOCAL ]] || die "no $PANDA_LOCAL: reinstall the package (make venv)"
fi
if [[ -d $STATE_DIR ]]; then  # a server left over from an earlier demo in this directory
    "$PANDA_LOCAL" stop --state-dir "$STATE_DIR" >/dev/null 2>&1 || true
fi
if [[ -e $WORK_TAG ]]; then
    find "$WORK" -mindepth 1 -delete
elif [[ -n $(ls -A "$WORK") ]]; then
    die "$WORK is not empty and was not made by this demo; choose another --work directory"
fi
touch "$WORK_TAG"
LOG_DIR=$WORK/logs
mkdir -p "$LOG_DIR"
cd "$WORK"  # bps writes relative paths (bps_links, logs) here
echo "work directory: $WORK"

# Jobs run on this machine and read these from the environment (demo.yaml uses ${DEMO_WORK_DIR});
# export them before the server starts so that its executor inherits them.
export DEMO_WORK_DIR=$WORK CTRL_BPS_PANDA_DIR=$PACKAGE_DIR
export CTRL_MPEXEC_DIR=${CTRL_MPEXEC_DIR:-$VENV_DIR} DAF_BUTLER_DIR=${DAF_BUTLER_DIR:-$VENV_DIR}

stage "make butler repository and pipeline"
repo_args=(create "$WORK" --detectors "$DETECTORS")
if ((FAIL_ONE)); then
    repo_args+=(--fail-marker "$MARKER")
    touch "$MARKER"
    export PYTHONPATH=$HERE${PYTHONPATH:+:$PYTHONPATH}  # jobs import demo_tasks.FlakyAddTask
fi
run_logged make_repo "$PYTHON" "$HERE/make_repo.py" "${repo_args[@]}"
cat "$LOG_DIR/make_repo.log"
OUTPUT="u/$("$PYTHON" -c 'import getpass; print(getpass.getuser())')/demo"  # demo.yaml's output

if ((PREPARE_ONLY)); then
    stage "bps prepare"
    # Nothing is contacted, but pandaclient reads its URLs at import: keep them on loopback.
    for name in PANDA_URL PANDA_URL_SSL PANDACACHE_URL; do
        export "$name=${!name:-http://127.0.0.1:1/server/panda}"
    done
    export PANDA_BEHIND_REAL_LB=${PANDA_BEHIND_REAL_LB:-1}
    # `bps prepare` would also run the plugin's submission checks, which ping the PanDA server;
    # ctrl_bps's prepare driver without those checks does the same work offline.
    run_logged prepare "$PYTHON" -c 'import logging, sys
logging.basicConfig(level=logging.INFO)
from lsst.ctrl.bps.drivers import prepare_driver
prepare_driver(sys.argv[1], runWmsSubmissionChecks=False)' "$HERE/demo.yaml"
    submit_dir=$(sed -n 's/^Submit dir: *//p' "$LOG_DIR/prepare.log")
    cat "$submit_dir/panda_workflow.summary.txt"
    echo "prepared workflow in $submit_dir"
    end_stage
    exit 0
fi

stage "start the local PanDA (engine $ENGINE)"
SERVER_STARTED=1  # before starting, so that a half-started server is stopped too
run_logged panda_local "$PANDA_LOCAL" start --background --state-dir "$STATE_DIR" --engine "$ENGINE"
env_lines=$("$PANDA_LOCAL" env --state-dir "$STATE_DIR") || die "panda_local env failed"
eval "$env_lines"

stage "bps submit"
run_logged submit "$BPS" submit "$HERE/demo.yaml"
RUN_ID=$(run_id_from "$LOG_DIR/submit.log")
submit_dir=$(sed -n 's/^Submit dir: *//p' "$LOG_DIR/submit.log")
cat "$submit_dir/panda_workflow.summary.txt"
echo "submitted: run id $RUN_ID"

stage "wait for the run (bps status)"
wait_for_run "$RUN_ID"

if ((FAIL_ONE)); then
    [[ $RUN_STATE == FAILED || $RUN_STATE == PRUNED ]] \
        || die "run $RUN_ID ended $RUN_STATE, but the injected failure should have made it fail"
    stage "bps report (one quantum failed on purpose)"
    report "$RUN_ID" || die "bps report --id $RUN_ID failed (see $LOG_DIR/report.log)"
    problems=$("$PYTHON" "$HERE/make_repo.py" verify "$WORK/repo/butler.yaml" "$OUTPUT" 2>&1) || true
    echo "butler before the restart (expected to be incomplete):"
    echo "$problems" | sed 's/^/  /'

    stage "remove the failure and bps restart"
    rm -f "$MARKER"
    run_logged restart "$BPS" restart --id "$RUN_ID"
    grep -q '^Restart failed' "$LOG_DIR/restart.log" && die "$(grep '^Restart failed' "$LOG_DIR/restart.log")"
    RUN_ID=$(run_id_from "$LOG_DIR/restart.log")
    echo "restarted: run id $RUN_ID"

    stage "wait for the restarted run (bps status)"
    wait_until_not_failed "$RUN_ID"
    wait_for_run "$RUN_ID"
fi
if [[ $RUN_STATE != SUCCEEDED ]]; then
    report "$RUN_ID" || echo "WARNING: bps report --id $RUN_ID failed too" >&2
    die "run $RUN_ID ended $RUN_STATE (report above; job logs of the local PanDA under $STATE_DIR)"
fi

stage "bps report"
report "$RUN_ID" || die "bps report --id $RUN_ID failed (see $LOG_DIR/report.log)"

stage "verify butler outputs"
"$PYTHON" "$HERE/make_repo.py" verify "$WORK/repo/butler.yaml" "$OUTPUT" \
    || die "the butler does not hold the expected outputs of run $RUN_ID in $OUTPUT"
end_stage
echo "DEMO OK: run $RUN_ID SUCCEEDED and its outputs are verified"
