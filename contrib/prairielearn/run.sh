#!/bin/sh
# PrairieLearn external grader entrypoint: the student's files are in /grade/student, the
# question's tests/ folder (holding the socklab lab: lab.yaml, solution/) in /grade/tests;
# the result goes to /grade/results/results.json. Exit 0 whenever a results file was
# written: the grader host ignores results.json after a non-zero exit.
ROOT=${GRADE_ROOT:-/grade}
SOCKLAB=${SOCKLAB:-/opt/socklab/bin/socklab}
LAB=${SOCKLAB_LAB:-$ROOT/tests/lab}
RESULTS=$ROOT/results/results.json
mkdir -p "$ROOT/results"
not_graded() {
    python3 - "$RESULTS" "$1" <<'PY'
import json, sys
json.dump({"gradable": False, "score": 0.0, "message": "not graded: " + sys.argv[2], "tests": []},
          open(sys.argv[1], "w"), indent=2)
PY
}
here=$(dirname "$0")
check=$here/grader-check.sh
[ -f "$check" ] || check=$here/../grader-check.sh
if ! problem=$(sh "$check" 2>&1); then
    not_graded "this grader container cannot run socklab's network labs: $problem"
    exit 0
fi
# shellcheck disable=SC2086
$SOCKLAB grade "$LAB" "$ROOT/student" --format prairielearn -o "$RESULTS" --jobs 1 --runs-dir /tmp/socklab-runs
status=$?
[ -s "$RESULTS" ] || not_graded "socklab grade exited with $status without writing results"
exit 0
