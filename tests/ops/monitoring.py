#!/usr/bin/env python3
"""Static checks of the monitoring files (compose/prometheus, compose/grafana).

Used by tests/ops/monitoring_test.sh and tests/integration/monitoring_test.c:

  monitoring.py queried [--where] FILE...
      The metric names the PromQL of FILE queries, one per line, sorted
      (with --where: "name<TAB>job<TAB>file: what" for each use, job being
      the selector's job="..." matcher or "-" when it has none). FILE is a rule file
      (.yml/.yaml: every rule's expr; names a `record:` rule defines are not
      listed, they are no export) or a Grafana dashboard (.json: every "expr"
      of every panel and row, and the templating queries).
  monitoring.py self-test
      The extractor against expressions whose answer is known.
  monitoring.py dashboards PROVISIONING_DIR DASHBOARD_DIR
      Every dashboard parses and has what Grafana and we need (uid, title,
      timezone, panels with unique ids and a gridPos, every panel and target
      on the provisioned data source's uid, an expr on each target); the
      provisioning files point at the data source and folder compose mounts.
  monitoring.py dashboard-rules OUT DASHBOARD...
      Writes every query of the dashboards as a recording rule into OUT
      (Grafana's $__rate_interval, $__interval and $__range as 5m), for
      `promtool check rules` to parse: a query Prometheus cannot parse
      fails there.
  monitoring.py alert-tests RULES TESTS
      Every alert of RULES has in TESTS a case where it fires (exp_alerts
      not empty) and one where it does not (exp_alerts empty), and TESTS
      names no alert RULES does not have.
  monitoring.py compose COMPOSE PROMETHEUS_YML
      The files compose mounts are the ones prometheus.yml and Grafana's
      provisioning expect, and every scrape target is a compose service.

Exit status 0 when every check passes; each problem is printed on stderr.
"""

import json
import os
import re
import sys

import yaml

# ---- PromQL: the metric names an expression selects --------------------------------

# Words that are never a metric name where they stand: operators, modifiers
# and the literals PromQL spells as words.
KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
    "group_right", "bool", "offset", "inf", "nan", "atan2",
}
# Keywords followed by a parenthesised list of label names.
LABEL_LIST = {"by", "without", "on", "ignoring", "group_left", "group_right"}
# Aggregation operators: `sum by (le) (...)` puts a keyword, not "(", after
# the name, so they are known by name as well.
AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
    "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio",
}

# Grafana's variables ($__rate_interval, ${shop}, [[var]]) are replaced by a
# number before parsing: they stand for durations, intervals or values.
GRAFANA_VAR = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\[\[[^\]]*\]\]")
NUMBER = re.compile(
    r"(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)[A-Za-z0-9_]*")
IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
NAME_MATCHER = re.compile(r"""__name__\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")


class PromQLError(ValueError):
    pass


def _skip_string(s, i):
    """s[i] opens a string; returns the index after its closing quote."""
    quote = s[i]
    i += 1
    while i < len(s):
        if s[i] == "\\" and quote != "`":
            i += 2
            continue
        if s[i] == quote:
            return i + 1
        i += 1
    raise PromQLError("unterminated string")


def _tokens(expr):
    """Yields (kind, text): ident, number, string, matchers (the text
    between braces), range (between brackets), or one punctuation char."""
    s = GRAFANA_VAR.sub("1", expr)
    i = 0
    while i < len(s):
        c = s[i]
        if c.isspace():
            i += 1
        elif c == "#":  # a comment, to the end of the line
            nl = s.find("\n", i)
            i = len(s) if nl < 0 else nl + 1
        elif c in "\"'`":
            j = _skip_string(s, i)
            yield "string", s[i:j]
            i = j
        elif c in "{[":
            close = "}" if c == "{" else "]"
            j = i + 1
            while j < len(s) and s[j] != close:
                j = _skip_string(s, j) if s[j] in "\"'`" else j + 1
            if j >= len(s):
                raise PromQLError("unclosed " + c)
            yield ("matchers" if c == "{" else "range"), s[i + 1:j]
            i = j + 1
        elif c.isdigit() or (c == "." and i + 1 < len(s) and s[i + 1].isdigit()):
            m = NUMBER.match(s, i)
            yield "number", m.group(0)
            i = m.end()
        elif c.isalpha() or c in "_:":
            m = IDENT.match(s, i)
            yield "ident", m.group(0)
            i = m.end()
        else:
            yield c, c
            i += 1


JOB_MATCHER = re.compile(r"""(?<![A-Za-z0-9_])job\s*=(?!~)\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")


def _job_of(matchers):
    m = JOB_MATCHER.search(matchers or "")
    if m is None:
        return None
    return m.group(1) if m.group(1) is not None else m.group(2)


def metric_selectors(expr):
    """The set of (metric name, job) of the selectors of expr (vector and
    range selectors, and {__name__="..."} matchers); job is the value of an
    equality matcher on job, or None."""
    toks = list(_tokens(expr))
    found = set()
    depth_skip = 0  # > 0 inside a by (...) / on (...) label list
    i = 0
    while i < len(toks):
        kind, text = toks[i]
        nxt = toks[i + 1][0] if i + 1 < len(toks) else None
        if depth_skip:
            if kind == "(":
                depth_skip += 1
            elif kind == ")":
                depth_skip -= 1
            i += 1
            continue
        if kind == "matchers":
            for m in NAME_MATCHER.finditer(text):
                found.add((m.group(1) if m.group(1) is not None else m.group(2), _job_of(text)))
        elif kind == "ident":
            word = text.lower()
            if word in LABEL_LIST and nxt == "(":
                depth_skip = 1
                i += 2
                continue
            if word in KEYWORDS or text in AGGREGATIONS or nxt == "(":
                pass  # an operator, a modifier or a function call
            elif nxt == "matchers":
                found.add((text, _job_of(toks[i + 1][1])))
                i += 2  # the matchers are this selector's, not a {__name__} one
                continue
            else:
                found.add((text, None))
        i += 1
    return found


def metric_names(expr):
    """The set of metric names expr selects."""
    return {name for name, _ in metric_selectors(expr)}


def grafana_variable_query(q):
    """The PromQL inside a Grafana templating query of the Prometheus data
    source: label_values(selector, label), query_result(expr); label_values
    (label) and label_names() query no metric."""
    q = q.strip()
    m = re.fullmatch(r"label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)", q, re.S)
    if m:
        return m.group(1)
    m = re.fullmatch(r"query_result\((.*)\)", q, re.S)
    if m:
        return m.group(1)
    if re.fullmatch(r"label_values\(\s*[A-Za-z_][A-Za-z0-9_]*\s*\)|label_names\(\s*\)", q):
        return ""
    m = re.fullmatch(r"metrics\((.*)\)", q, re.S)
    if m:
        raise PromQLError("metrics(...) selects names by a pattern: " + q)
    return q  # a plain expression


def _dashboard_exprs(doc, where):
    """(where, expr) of every query of a dashboard, rows' panels included."""

    def panels(items, prefix):
        for p in items or []:
            title = p.get("title", "?")
            for t in p.get("targets", []) or []:
                expr = t.get("expr")
                if isinstance(expr, str) and expr.strip():
                    yield "%s: panel %r %s" % (prefix, title, t.get("refId", "")), expr
            yield from panels(p.get("panels"), prefix)

    yield from panels(doc.get("panels"), where)
    for v in (doc.get("templating") or {}).get("list", []) or []:
        if v.get("type") != "query":
            continue
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        if isinstance(q, str) and q.strip():
            yield "%s: variable %r" % (where, v.get("name", "?")), grafana_variable_query(q)


def _rule_exprs(doc, where):
    recorded = set()
    exprs = []
    for g in (doc or {}).get("groups", []) or []:
        for r in g.get("rules", []) or []:
            if "record" in r:
                recorded.add(r["record"])
            what = r.get("alert") or r.get("record") or "?"
            exprs.append(("%s: %s" % (where, what), str(r.get("expr", ""))))
    return exprs, recorded


def queried(paths):
    """{name: [where, ...]} over every file."""
    uses = {}
    recorded = set()
    for path in paths:
        with open(path, encoding="utf-8") as f:
            if path.endswith(".json"):
                exprs = list(_dashboard_exprs(json.load(f), path))
            else:
                exprs, rec = _rule_exprs(yaml.safe_load(f), path)
                recorded |= rec
        for where, expr in exprs:
            try:
                found = metric_selectors(expr)
            except PromQLError as e:
                raise PromQLError("%s: %s in %r" % (where, e, expr)) from None
            for name, job in found:
                uses.setdefault(name, []).append((job or "-", where))
    for name in recorded:
        uses.pop(name, None)
    return uses


SELF_TESTS = [
    ('up{job="barberpro-backend"} == 0', {"up"}),
    ('histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket'
     '{job="x", service="gateway"}[5m]))) > 0.2', {"http_request_duration_seconds_bucket"}),
    ('sum without (instance, le) (rate(a_total[$__rate_interval])) / ignoring(status) '
     'group_left(route) b_total offset 5m', {"a_total", "b_total"}),
    ('max without(instance) (x{l="sum(fake_metric)", m=~"a|b"}) and on(service) y > bool 1e3',
     {"x", "y"}),
    ('label_replace(z, "dst", "$1 metric_in_a_string", "src", "(.*)")', {"z"}),
    ("time() - max(last_ts{job='b'}) > 26 * 3600 # a comment naming not_a_metric",
     {"last_ts"}),
    ('{__name__="named_by_matcher", job="j"} + {job="only_a_job"}', {"named_by_matcher"}),
    ('sum(rate(c_total[5m:30s] @ end())) by (service) + 0x1F + Inf - NaN', {"c_total"}),
    ('topk(3, sum by (route) (rate(r_total[1h30m])))', {"r_total"}),
    ('count_values("v", build_info) or vector(0) or absent(gone_metric)',
     {"build_info", "gone_metric"}),
    ('rate(ns:recorded:rate5m[5m])', {"ns:recorded:rate5m"}),
]


def self_test():
    bad = 0
    for expr, want in SELF_TESTS:
        got = metric_names(expr)
        if got != want:
            print("self-test: %r gives %s, expected %s" % (expr, sorted(got), sorted(want)),
                  file=sys.stderr)
            bad += 1
    jobs = metric_selectors('a{job="j1"} / on (x) b{exported_job="no", job!="neg"} + '
                            'c{job=~"re"} + {__name__="d", job=\'j2\'}')
    if jobs != {("a", "j1"), ("b", None), ("c", None), ("d", "j2")}:
        print("self-test: jobs %s" % sorted(jobs, key=str), file=sys.stderr)
        bad += 1
    q = grafana_variable_query("label_values(barberpro_service_up{job=\"j\"}, service)")
    if metric_names(q) != {"barberpro_service_up"}:
        print("self-test: label_values gives %r" % q, file=sys.stderr)
        bad += 1
    for broken in ('rate(x[5m)', 'x{a="b}', 'sum(x{a="b"'):
        try:
            metric_names(broken)
            if broken != 'sum(x{a="b"':  # unbalanced parentheses are promtool's to find
                print("self-test: %r was accepted" % broken, file=sys.stderr)
                bad += 1
        except PromQLError:
            pass
    print("self-test: %d expressions, %d wrong" % (len(SELF_TESTS) + 2, bad))
    return 1 if bad else 0


# ---- Grafana -------------------------------------------------------------------------


def _load_yaml_dir(d):
    out = []
    for name in sorted(os.listdir(d)):
        if name.endswith((".yml", ".yaml")):
            with open(os.path.join(d, name), encoding="utf-8") as f:
                out.append((os.path.join(d, name), yaml.safe_load(f)))
    return out


def check_dashboards(provisioning, dash_dir):
    problems = []
    sources = []
    for path, doc in _load_yaml_dir(os.path.join(provisioning, "datasources")):
        sources += [(path, s) for s in doc.get("datasources", []) or []]
    prom = [s for _, s in sources if s.get("type") == "prometheus"]
    if len(prom) != 1 or not prom[0].get("uid"):
        problems.append("provisioning: expected one Prometheus data source with a uid, found %d"
                        % len(prom))
        uid = None
    else:
        uid = prom[0]["uid"]
        if prom[0].get("url") != "http://prometheus:9090":
            problems.append("provisioning: the data source's url %r is not the compose "
                            "service prometheus:9090" % prom[0].get("url"))
    providers = []
    for path, doc in _load_yaml_dir(os.path.join(provisioning, "dashboards")):
        providers += doc.get("providers", []) or []
    paths = [(p.get("options") or {}).get("path") for p in providers if p.get("type") == "file"]
    if not paths:
        problems.append("provisioning: no file provider of dashboards")

    uids, titles, n = {}, {}, 0
    for name in sorted(os.listdir(dash_dir)):
        if not name.endswith(".json"):
            continue
        n += 1
        path = os.path.join(dash_dir, name)
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except ValueError as e:
            problems.append("%s: not JSON: %s" % (path, e))
            continue
        for field in ("uid", "title", "panels", "schemaVersion", "timezone"):
            if not doc.get(field):
                problems.append("%s: no %s" % (path, field))
        if doc.get("id") is not None:
            problems.append("%s: has an id (provisioning assigns it; keep null)" % path)
        if doc.get("timezone") not in ("America/Argentina/Buenos_Aires",):
            problems.append("%s: timezone %r, not America/Argentina/Buenos_Aires"
                            % (path, doc.get("timezone")))
        u = doc.get("uid", "")
        if u in uids:
            problems.append("%s: uid %s also in %s" % (path, u, uids[u]))
        uids[u] = path
        t = doc.get("title", "")
        if t in titles:
            problems.append("%s: title %r also in %s" % (path, t, titles[t]))
        titles[t] = path
        if len(u) > 40 or not re.fullmatch(r"[A-Za-z0-9_-]+", u or "-"):
            problems.append("%s: uid %r is not 1-40 of [A-Za-z0-9_-]" % (path, u))

        ids = set()
        queries = 0

        def check_panels(items):
            nonlocal queries
            for p in items or []:
                where = "%s: panel %r" % (path, p.get("title"))
                if not p.get("title"):
                    problems.append("%s: a panel without a title" % path)
                if not isinstance(p.get("id"), int) or p["id"] in ids:
                    problems.append("%s: id %r missing or not unique" % (where, p.get("id")))
                ids.add(p.get("id"))
                gp = p.get("gridPos") or {}
                if not all(isinstance(gp.get(k), int) for k in ("x", "y", "w", "h")):
                    problems.append("%s: gridPos incomplete" % where)
                elif gp["x"] + gp["w"] > 24:
                    problems.append("%s: wider than the 24 columns" % where)
                if p.get("type") == "row":
                    check_panels(p.get("panels"))
                    continue
                ds = p.get("datasource") or {}
                if ds.get("uid") != uid or ds.get("type") != "prometheus":
                    problems.append("%s: datasource %r, not {type prometheus, uid %s}"
                                    % (where, ds, uid))
                targets = p.get("targets") or []
                if not targets and p.get("type") not in ("text", "news"):
                    problems.append("%s: no target" % where)
                refs = set()
                for t in targets:
                    queries += 1
                    tds = t.get("datasource") or {}
                    if tds.get("uid") != uid:
                        problems.append("%s: target %s on datasource %r"
                                        % (where, t.get("refId"), tds))
                    if not (t.get("expr") or "").strip():
                        problems.append("%s: target %s has no expr" % (where, t.get("refId")))
                    if not t.get("refId") or t.get("refId") in refs:
                        problems.append("%s: refId %r missing or repeated"
                                        % (where, t.get("refId")))
                    refs.add(t.get("refId"))

        check_panels(doc.get("panels"))
        # Panels that overlap are moved by Grafana, not shown as laid out.
        boxes = [(p.get("title"), p.get("gridPos") or {}) for p in doc.get("panels") or []]
        for i, (ta, a) in enumerate(boxes):
            for tb, b in boxes[i + 1:]:
                try:
                    if (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
                            and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]):
                        problems.append("%s: panels %r and %r overlap" % (path, ta, tb))
                except KeyError:
                    pass  # reported above
        print("dashboard %s: uid %s, %r, %d panels, %d queries, timezone %s"
              % (name, u, t, len(ids), queries, doc.get("timezone")))
    if n == 0:
        problems.append("%s: no dashboard" % dash_dir)
    for p in problems:
        print("dashboards: " + p, file=sys.stderr)
    return 1 if problems else 0


GRAFANA_RANGES = re.compile(r"\$__(?:rate_interval|interval|range)\b|\$\{__(?:rate_interval|interval|range)\}")


def dashboard_rules(out, paths):
    rules = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        for where, expr in _dashboard_exprs(doc, path):
            e = GRAFANA_RANGES.sub("5m", expr)
            if "$" in e:
                print("dashboard-rules: %s: a Grafana variable other than the intervals in %r"
                      % (where, expr), file=sys.stderr)
                return 1
            rules.append({"record": "dashboard:query:%d" % (len(rules) + 1), "expr": e,
                          "labels": {"where": where}})
    with open(out, "w", encoding="utf-8") as f:
        yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}, f, sort_keys=False)
    print("dashboard-rules: %d queries written to %s" % (len(rules), out))
    return 0


# ---- promtool test cases -------------------------------------------------------------


def check_alert_tests(rules_path, tests_path):
    with open(rules_path, encoding="utf-8") as f:
        rules = yaml.safe_load(f)
    with open(tests_path, encoding="utf-8") as f:
        tests = yaml.safe_load(f)
    alerts = [r["alert"] for g in rules.get("groups", []) for r in g.get("rules", [])
              if "alert" in r]
    fires, quiet = {}, {}
    for ti, t in enumerate(tests.get("tests", []) or []):
        for c in t.get("alert_rule_test", []) or []:
            name = c.get("alertname")
            book = fires if c.get("exp_alerts") else quiet
            book.setdefault(name, []).append("test %d at %s" % (ti + 1, c.get("eval_time")))
    problems = []
    for a in alerts:
        if a not in fires:
            problems.append("%s: no case where it fires" % a)
        if a not in quiet:
            problems.append("%s: no case where it stays quiet" % a)
        print("alert %s: fires in %d case(s), quiet in %d" % (a, len(fires.get(a, [])),
                                                              len(quiet.get(a, []))))
    for a in set(fires) | set(quiet):
        if a not in alerts:
            problems.append("%s: tested but not a rule of %s" % (a, rules_path))
    if len(set(alerts)) != len(alerts):
        problems.append("an alert name is used twice")
    for p in problems:
        print("alert-tests: " + p, file=sys.stderr)
    return 1 if problems else 0


# ---- compose -------------------------------------------------------------------------


def check_compose(compose_path, prom_path):
    with open(compose_path, encoding="utf-8") as f:
        compose = yaml.safe_load(f)
    with open(prom_path, encoding="utf-8") as f:
        prom = yaml.safe_load(f)
    services = compose.get("services", {})
    problems = []

    def mounts(svc):
        out = {}
        for v in (services.get(svc) or {}).get("volumes", []) or []:
            if isinstance(v, str):
                parts = v.split(":")
                if len(parts) >= 2:
                    out[parts[1]] = parts[0]
            elif isinstance(v, dict):
                out[v.get("target")] = v.get("source")
        return out

    base = os.path.dirname(compose_path)
    pm = mounts("prometheus")
    if pm.get("/etc/prometheus/prometheus.yml") not in ("./prometheus/prometheus.yml",):
        problems.append("prometheus: /etc/prometheus/prometheus.yml is not mounted from "
                        "./prometheus/prometheus.yml")
    for rf in prom.get("rule_files", []) or []:
        src = pm.get(rf)
        if src is None:
            problems.append("prometheus: the rule file %s is not mounted" % rf)
        elif not os.path.isfile(os.path.join(base, src)):
            problems.append("prometheus: %s is mounted from %s, which does not exist" % (rf, src))
    gm = mounts("grafana")
    for target, want in (("/etc/grafana/provisioning", "./grafana/provisioning"),
                         ("/var/lib/grafana/dashboards", "./grafana/dashboards")):
        if gm.get(target) != want:
            problems.append("grafana: %s is not mounted from %s" % (target, want))
    for job in prom.get("scrape_configs", []) or []:
        for sc in job.get("static_configs", []) or []:
            for target in sc.get("targets", []) or []:
                host = target.rsplit(":", 1)[0]
                if host != "localhost" and host not in services:
                    problems.append("job %s: target %s is no compose service (%s)"
                                    % (job.get("job_name"), target, ", ".join(sorted(services))))
                else:
                    print("job %s: target %s" % (job.get("job_name"), target))
    for p in problems:
        print("compose: " + p, file=sys.stderr)
    return 1 if problems else 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "queried":
        where = len(argv) > 2 and argv[2] == "--where"
        files = argv[3:] if where else argv[2:]
        if not files:
            print(__doc__, file=sys.stderr)
            return 2
        try:
            uses = queried(files)
        except (PromQLError, OSError, ValueError, yaml.YAMLError) as e:
            print("queried: %s" % e, file=sys.stderr)
            return 1
        for name in sorted(uses):
            if where:
                for job, w in sorted(set(uses[name])):
                    print("%s\t%s\t%s" % (name, job, w))
            else:
                print(name)
        return 0
    if argv[1:] == ["self-test"]:
        return self_test()
    if len(argv) == 4 and argv[1] == "dashboards":
        return check_dashboards(argv[2], argv[3])
    if len(argv) >= 4 and argv[1] == "dashboard-rules":
        return dashboard_rules(argv[2], argv[3:])
    if len(argv) == 4 and argv[1] == "alert-tests":
        return check_alert_tests(argv[2], argv[3])
    if len(argv) == 4 and argv[1] == "compose":
        return check_compose(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
