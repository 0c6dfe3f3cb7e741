#!/usr/bin/env bash
# Installs and starts what Mittaphap needs on a fresh machine: the Rust toolchain
# (checked, not installed: the machine provides it), a C compiler for SQLite and
# aws-lc, PostgreSQL for the second half of the test suite, and Chromium with its
# driver for the browser tests.
set -euo pipefail

need_apt=()
# The reference age tool: a test checks that it opens what Mittaphap seals.
command -v age >/dev/null || need_apt+=(age)
# Headless Chromium and its driver for the browser tests of the web pages, with
# fonts for Thai and Lao.
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -x /usr/bin/chromedriver ] || need_apt+=(chromium-driver)
# pdftotext, pdfinfo and pdftoppm: the browser test reads the printed handover
# record back from its PDF.
command -v pdftotext >/dev/null && command -v pdftoppm >/dev/null || need_apt+=(poppler-utils)
# libfaketime: a test runs a node with its clock ten minutes fast.
command -v faketime >/dev/null || need_apt+=(faketime)
fc-list 2>/dev/null | grep -qi "lao" || need_apt+=(fonts-lao fonts-thai-tlwg fonts-noto-core)
command -v cargo >/dev/null || { echo "setup: cargo is missing; install Rust 1.94 or newer (rustup)" >&2; exit 1; }
command -v cc >/dev/null || need_apt+=(gcc libc6-dev)
command -v pg_ctlcluster >/dev/null || command -v pg_isready >/dev/null || need_apt+=(postgresql)
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "setup: installing ${need_apt[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
    else
        echo "setup: please install: ${need_apt[*]}" >&2
    fi
fi

# PostgreSQL: start the local cluster if it is installed but down.
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
    if command -v pg_ctlcluster >/dev/null; then
        for version in $(ls /etc/postgresql 2>/dev/null); do
            pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
        done
        for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
    fi
fi
if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "setup: PostgreSQL answers at 127.0.0.1:5432"
else
    echo "setup: PostgreSQL is not reachable; the PostgreSQL half of the tests will be skipped"
fi

# aiosmtpd, a real SMTP server the notice tests start on 127.0.0.1.
python3 -c "import aiosmtpd" 2>/dev/null || python3 -m pip install -q aiosmtpd || \
    echo "setup: could not install aiosmtpd from PyPI" >&2

# openssl and Python's cryptography: a test loads the node's private keys with the
# tools an independent implementer would use.
command -v openssl >/dev/null || need_openssl=1
python3 -c "import cryptography" 2>/dev/null || python3 -m pip install -q cryptography || \
    echo "setup: could not install cryptography from PyPI" >&2
if [ "${need_openssl:-0}" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
fi

# schemathesis, for the API fuzz pass (scripts/api-fuzz.sh).
command -v schemathesis >/dev/null || python3 -m pip install -q schemathesis || \
    echo "setup: could not install schemathesis from PyPI" >&2

cargo fetch --locked 2>/dev/null || cargo fetch
