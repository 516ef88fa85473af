#!/usr/bin/env bash
# The test command: installs what is missing (scripts/setup.sh), checks formatting and
# lints, builds everything and runs every test, unit and end-to-end, against the real
# Chromium and Docker engine on this machine. Run it as root: the end-to-end tests start
# render-supervisor as root so that it drops to an unprivileged user, the path that keeps
# Chrome's own sandbox on.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace --all-targets
# Two at a time: each end-to-end test runs its own Chromium, and machines have two cores.
cargo test --workspace -- --test-threads=2
