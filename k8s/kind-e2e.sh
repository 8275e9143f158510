#!/usr/bin/env bash
# End to end on a real cluster: a kind cluster, the worker image, Redis, the
# reference sweep (10,000 parameters, 3 workers) with one worker pod deleted
# mid-run, and the report's verdict: grand sum 5,000,355.00, nothing missing,
# nothing counted twice. Everything it created is torn down on exit.
#
# Needs: docker (with a running engine), kind, kubectl, and ttglib with the
# k8s extra (the 'ttg' command; set TTG to use another, e.g. ".venv/bin/ttg").
#
#   k8s/kind-e2e.sh
#
# Settings (environment):
#   CLUSTER       kind cluster name             [ttg-sandbox]
#   NAMESPACE     namespace for Redis and jobs  [ttg-e2e]
#   IMAGE         worker image tag              [ttg-worker:v<ttglib version>]
#   WORK_MS       simulated work per parameter  [5]  (long enough to kill mid-run)
#   KEEP_CLUSTER  1: leave the cluster up after the test
#
# An existing cluster of the same name is used as it is and never deleted.

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

TTG=${TTG:-ttg}
CLUSTER=${CLUSTER:-ttg-sandbox}
NAMESPACE=${NAMESPACE:-ttg-e2e}
WORK_MS=${WORK_MS:-5}
KEEP_CLUSTER=${KEEP_CLUSTER:-0}
RUN_ID="e2e-$(date +%Y%m%d-%H%M%S)"
CONTEXT="kind-${CLUSTER}"
EXPECTED_SUM="5000355.00"

work=$(mktemp -d "${TMPDIR:-/tmp}/ttg-e2e.XXXXXX")
created_cluster=0
run_pid=""

say() { printf '\n==> %s\n' "$*" >&2; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 || fail "$1 is not installed ($2)"
}

teardown() {
  local status=$?
  set +e
  if [[ -n "$run_pid" ]] && kill -0 "$run_pid" 2>/dev/null; then
    kill "$run_pid" 2>/dev/null
    wait "$run_pid" 2>/dev/null
  fi
  if [[ "$status" -ne 0 && -s "$work/run.log" ]]; then
    say "last lines of 'ttg k8s run'"
    tail -n 20 "$work/run.log" >&2
  fi
  if [[ "$created_cluster" == 1 && "$KEEP_CLUSTER" != 1 ]]; then
    say "deleting kind cluster $CLUSTER"
    kind delete cluster --name "$CLUSTER"
  elif kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
    say "removing ttg from namespace $NAMESPACE (cluster $CLUSTER stays)"
    ttg_k8s down --purge --yes
    kubectl --context "$CONTEXT" delete namespace "$NAMESPACE" --ignore-not-found --wait=false
  fi
  rm -rf "$work"
  exit "$status"
}
trap teardown EXIT
trap 'exit 130' INT TERM

ttg_k8s() { $TTG --log-level WARNING k8s --context "$CONTEXT" --namespace "$NAMESPACE" "$@"; }

redis_cli() {
  kubectl --context "$CONTEXT" -n "$NAMESPACE" exec ttg-redis-0 -- redis-cli "$@"
}

# --- tools ---------------------------------------------------------------------
need docker "https://docs.docker.com/engine/install/"
need kind "https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
need kubectl "https://kubernetes.io/docs/tasks/tools/"
command -v "${TTG%% *}" >/dev/null 2>&1 || fail "no '$TTG': pip install 'ttglib[k8s]' or set TTG"
docker info >/dev/null 2>&1 || fail "the Docker engine is not running"

version=$($TTG --version | awk '{print $NF}')
IMAGE=${IMAGE:-ttg-worker:v${version}}

# --- cluster, image, Redis -----------------------------------------------------
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  say "using the existing kind cluster $CLUSTER"
else
  say "creating kind cluster $CLUSTER"
  created_cluster=1
  kind create cluster --name "$CLUSTER" --config "$here/kind-config.yaml" --wait 180s
fi

say "building $IMAGE"
docker build --build-arg "VERSION=${version}" --tag "$IMAGE" "$repo"
kind load docker-image "$IMAGE" --name "$CLUSTER"

say "deploying Redis in namespace $NAMESPACE"
ttg_k8s up --create-namespace --wait-seconds 300

# --- the run, with one worker pod deleted mid-way ------------------------------
say "running $RUN_ID: 10,000 parameters, 3 workers, ${WORK_MS} ms each"
ttg_k8s run --run-id "$RUN_ID" --workers 3 --total-params 10000 --chunk-size 100 \
  --work-ms "$WORK_MS" --image "$IMAGE" --timeout 900 --json \
  >"$work/report.json" 2>"$work/run.log" &
run_pid=$!

settled=0
for _ in $(seq 1 600); do
  kill -0 "$run_pid" 2>/dev/null || break
  settled=$(redis_cli HLEN "ttg:{${RUN_ID}}:done" 2>/dev/null || echo 0)
  [[ "$settled" =~ ^[0-9]+$ ]] || settled=0
  (( settled >= 10 )) && break
  sleep 0.5
done
(( settled >= 10 )) || fail "the run did not reach 10 settled chunks (saw $settled)"
(( settled < 100 )) || fail "the run finished before a worker could be deleted; raise WORK_MS"

victim=$(kubectl --context "$CONTEXT" -n "$NAMESPACE" get pods \
  -l "ttg.io/run=${RUN_ID}" --field-selector status.phase=Running \
  -o jsonpath='{.items[0].metadata.name}')
[[ -n "$victim" ]] || fail "no running worker pod to delete"
say "deleting worker pod $victim at $settled of 100 chunks"
kubectl --context "$CONTEXT" -n "$NAMESPACE" delete pod "$victim" --wait=false

say "waiting for the run to finish"
if ! wait "$run_pid"; then
  run_pid=""
  fail "'ttg k8s run' failed"
fi
run_pid=""

# --- the verdict -----------------------------------------------------------------
say "checking the report"
python3 - "$work/report.json" "$EXPECTED_SUM" <<'PY'
import json
import sys

report = json.load(open(sys.argv[1]))
check = report["verification"]
problems = []
if f"{report['grand_sum']:.2f}" != sys.argv[2]:
    problems.append(f"grand sum {report['grand_sum']:,.2f}, expected {float(sys.argv[2]):,.2f}")
if report["params_processed"] != 10_000:
    problems.append(f"{report['params_processed']} parameters processed")
if check["chunks_missing"] or check["chunks_with_result"] != 100:
    problems.append(f"{check['chunks_missing']} chunks missing")
if check["duplicates_in_results"]:
    problems.append(f"{check['duplicates_in_results']} duplicated results")
if problems:
    sys.exit("FAIL: " + "; ".join(problems))
print(
    f"PASS: grand sum {report['grand_sum']:,.2f}, 100 chunks, nothing missing or "
    f"duplicated ({check['duplicates_suppressed']} duplicates suppressed, "
    f"{check['recoveries']} recoveries)"
)
PY
