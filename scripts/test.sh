#!/usr/bin/env bash
# The checks a reviewer would make: formatting, lints, then every test on SQLite
# and, when it answers at 127.0.0.1:5432, on PostgreSQL too; the browser tests in
# headless Chromium when it is installed. Screenshots land in target/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings

if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then
    # PostgreSQL is up: its tests must run, not skip.
    export MITTAPHAP_REQUIRE_POSTGRES=1
    export MITTAPHAP_TEST_POSTGRES="${MITTAPHAP_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}"
fi
if [ -x /usr/bin/chromedriver ] && [ -x /usr/bin/chromium ]; then
    # The browser is installed: its tests must run, not skip.
    export MITTAPHAP_REQUIRE_BROWSER=1
fi
# The API against its OpenAPI document (schemathesis), a short pass; then every test.
cargo build --locked
scripts/api-fuzz.sh
cargo test --locked
