#!/usr/bin/env bash
# The desk API against its own OpenAPI document: schemathesis generates requests
# for every operation on a demo node, signed in as an officer, and fails on any
# 5xx, undocumented status, or response that breaks the schema.
# MITTAPHAP_API_FUZZ_EXAMPLES sets the examples per operation (default 60).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v schemathesis >/dev/null || python3 -m pip install -q schemathesis
bin=target/debug/mittaphap
[ -x "$bin" ] || cargo build --locked
work=$(mktemp -d)
"$bin" demo --dir "$work/demo" > "$work/demo.log" 2>&1 &
demo=$!
trap 'kill $demo 2>/dev/null || true; wait $demo 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 240); do
    grep -q "Both nodes serve" "$work/demo.log" && break
    kill -0 $demo 2>/dev/null || { cat "$work/demo.log" >&2; exit 1; }
    sleep 0.5
done
grep -q "Both nodes serve" "$work/demo.log" || { echo "api-fuzz: the demo did not start" >&2; exit 1; }
base=$(grep "^th-msdhs: pages" "$work/demo.log" | grep -o "http://[0-9.:]*" | head -1)
token=$(curl -sf -X POST "$base/api/v1/session" -H 'content-type: application/json' \
    -d '{"username":"somchai.officer","password":"demo-password-th"}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
# Phases: examples, fuzzing and stateful sequences. The coverage phase is left out:
# on the referral's nested body schema it sometimes fails inside schemathesis itself
# (a Python "AST constructor recursion depth mismatch" while describing a strategy),
# a crash of the tool, not an answer of the API, that would fail CI at random.
# Excluded: sign-out and password change (they would end the session under test),
# and the check that every schema-valid body is accepted: message bodies are
# free-form JSON in the document and validated by the domain rules (422 naming
# the field), which the schema does not spell out.
schemathesis run "$base/api/v1/openapi.json" \
    -H "Authorization: Bearer $token" \
    --max-examples "${MITTAPHAP_API_FUZZ_EXAMPLES:-60}" \
    --exclude-method DELETE --exclude-path /api/v1/session/password \
    --exclude-checks positive_data_acceptance \
    --phases examples,fuzzing,stateful \
    --seed 1 -w 2
