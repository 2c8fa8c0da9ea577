#!/usr/bin/env bash
# Runs every test of strata against real services (MariaDB, FUSE, sshd, an S3 server), installing
# what is missing first. With CI=true, a missing service fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/common.sh

ensure_packages "${TEST_PACKAGES[@]}"
ensure_python_test_packages
ensure_cargo

cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
skips=target/tmp/skipped-tests.txt
rm -f "$skips"
cargo test --all-targets 2>&1
# Tests that skipped (never under CI=true, where a missing service fails instead).
if [ -s "$skips" ]; then
    echo "SKIPPED $(wc -l < "$skips") test(s):"
    sed 's/^/  skipped: /' "$skips"
fi
