#!/usr/bin/env bash
# The monitoring files of compose/, checked with Prometheus' own promtool and
# tests/ops/monitoring.py (no Prometheus or Grafana runs here):
#   1. prometheus.yml is a valid configuration, its rule file included. It
#      names the rule file by its path in the container
#      (/etc/prometheus/alerts.yml), which does not exist here: the check
#      runs on a copy that names the repository's alerts.yml instead, so the
#      rules are checked as part of the configuration, as Prometheus would.
#   2. alerts.yml passes `promtool check rules`.
#   3. alerts_test.yml passes `promtool test rules`, and it has a firing and
#      a quiet case for every alert of alerts.yml.
#   4. every dashboard parses, has uid, title, timezone and panels, and
#      every panel and query is on the provisioned data source's uid; every
#      query is PromQL Prometheus parses (as recording rules through
#      `promtool check rules`).
#   5. the PromQL extractor that tests/integration/monitoring_test.c relies
#      on gets known expressions right, and reads every file here.
#   6. docker-compose.yml mounts the files where prometheus.yml and
#      Grafana's provisioning expect them, and every scrape target is a
#      compose service.
# Static only: it starts no process. Run by scripts/test.sh with the other
# tests/ops scripts (BP_OPS_TMP is its scratch folder).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
PROM=compose/prometheus
GRAFANA=compose/grafana
TOOL=tests/ops/monitoring.py

# A scratch folder of our own, removed at exit (BP_OPS_TMP when run by the
# harness, which removes it too).
SCRATCH=$(mktemp -d "${BP_OPS_TMP:-${TMPDIR:-/tmp}}/monitoring.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT

failures=0
step() { printf '\n--- %s\n' "$*"; }
check() {
    # Runs "$@", prints its output, and counts a failure instead of exiting
    # so that one run reports every problem.
    if "$@"; then
        echo "ok: $*"
    else
        echo "FAILED: $*" >&2
        failures=$((failures + 1))
    fi
}

command -v promtool >/dev/null || {
    echo "promtool is not installed (scripts/deps.sh installs the Debian package prometheus)" >&2
    exit 1
}
promtool --version 2>&1 | head -n 1

step "1. promtool check config (rule_files rewritten to the repository's alerts.yml)"
rule_files=$(python3 -c 'import sys, yaml; print("\n".join(yaml.safe_load(open(sys.argv[1]))["rule_files"]))' \
    "$PROM/prometheus.yml")
echo "rule_files in the container: $rule_files"
[[ $rule_files == /etc/prometheus/alerts.yml ]] || {
    echo "FAILED: expected exactly one rule file, /etc/prometheus/alerts.yml (what docker-compose.yml mounts)" >&2
    failures=$((failures + 1))
}
sed "s#/etc/prometheus/alerts.yml#$REPO/$PROM/alerts.yml#" "$PROM/prometheus.yml" >"$SCRATCH/prometheus.yml"
if grep -qF "$REPO/$PROM/alerts.yml" "$SCRATCH/prometheus.yml"; then
    check promtool check config "$SCRATCH/prometheus.yml"
else
    echo "FAILED: the rule path could not be rewritten" >&2
    failures=$((failures + 1))
fi

step "2. promtool check rules"
check promtool check rules "$PROM/alerts.yml"

step "3. promtool test rules, and a firing and a quiet case for every alert"
# promtool reads rule_files relative to the test file.
check promtool test rules "$PROM/alerts_test.yml"
check python3 "$TOOL" alert-tests "$PROM/alerts.yml" "$PROM/alerts_test.yml"

step "4. dashboards and provisioning"
shopt -s nullglob
dashboards=("$GRAFANA"/dashboards/*.json)
shopt -u nullglob
echo "${#dashboards[@]} dashboards: ${dashboards[*]}"
((${#dashboards[@]} >= 2)) || {
    echo "FAILED: expected the Overview and Argentina Business dashboards" >&2
    failures=$((failures + 1))
}
check python3 "$TOOL" dashboards "$GRAFANA/provisioning" "$GRAFANA/dashboards"
for title in "BarberPro Overview" "BarberPro Argentina Business"; do
    if grep -lqF "\"title\": \"$title\"" "${dashboards[@]}"; then
        echo "ok: a dashboard called $title"
    else
        echo "FAILED: no dashboard called $title" >&2
        failures=$((failures + 1))
    fi
done
if python3 "$TOOL" dashboard-rules "$SCRATCH/dashboard-queries.yml" "${dashboards[@]}"; then
    check promtool check rules "$SCRATCH/dashboard-queries.yml"
else
    failures=$((failures + 1))
fi

step "5. the metric names the alerts and dashboards query"
check python3 "$TOOL" self-test
if python3 "$TOOL" queried "$PROM/alerts.yml" "${dashboards[@]}" >"$SCRATCH/queried"; then
    echo "$(wc -l <"$SCRATCH/queried") metric names queried: $(tr '\n' ' ' <"$SCRATCH/queried")"
    # Each one is checked against the live exports by
    # tests/integration/monitoring_test.c; here only that there are some.
    [[ -s $SCRATCH/queried ]] || {
        echo "FAILED: no metric name found" >&2
        failures=$((failures + 1))
    }
else
    echo "FAILED: the queries could not be read" >&2
    failures=$((failures + 1))
fi

step "6. docker-compose.yml against prometheus.yml and the provisioning"
check python3 "$TOOL" compose compose/docker-compose.yml "$PROM/prometheus.yml"

echo
if ((failures)); then
    echo "monitoring: $failures check(s) failed" >&2
    exit 1
fi
echo "monitoring: every check passed"
