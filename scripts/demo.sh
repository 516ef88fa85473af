#!/usr/bin/env bash
# The main job: installs what is missing, builds render-supervisor, starts it on a
# temporary socket, renders the bundled sample report (supervisor/examples/report.html) to
# out/report.pdf and its chart to out/chart.png, stops the daemon and says where the files
# are.
#
# Run as root, the daemon drops to the unprivileged user render-test (created by setup.sh)
# and lets root submit jobs; run as anyone else, it runs as that user and only they may
# submit jobs.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

# Chromium, fonts, poppler-utils and the render-test user.
scripts/setup.sh

# A debug build: the demo renders two pages, where optimisation gains nothing, and a release
# build of the Chrome DevTools bindings takes several times longer. The test suite uses the
# same debug artefacts.
cargo build -p render-supervisor
bin="$repo/target/debug/render-supervisor"

# A private working directory for the socket, the job files and the daemon's log. The
# socket's own directory is left for the daemon to create, so that it belongs to the user
# the daemon runs as, which can then remove the socket when it stops.
work="$(mktemp -d)"
chmod 711 "$work"
socket="$work/run/render.sock"
log="$work/daemon.log"
daemon_pid=""

cleanup() {
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "demo: $*" >&2
    if [ -s "$log" ]; then
        echo "--- daemon log ($log) ---" >&2
        cat "$log" >&2
    fi
    exit 1
}

# Start the daemon.
serve=("$bin" serve --socket "$socket" --log-format text)
if [ "$(id -u)" -eq 0 ]; then
    serve+=(--user render-test --allowed-uid 0)
fi
"${serve[@]}" 2>"$log" &
daemon_pid=$!
echo "demo: render-supervisor started (pid $daemon_pid), socket $socket"

# Wait until it answers healthy: Chrome takes a second or two to start.
healthy=""
for _ in $(seq 1 60); do
    if ! kill -0 "$daemon_pid" 2>/dev/null; then
        fail "render-supervisor exited during start-up"
    fi
    if "$bin" health --socket "$socket" --timeout 2s >/dev/null 2>&1; then
        healthy=yes
        break
    fi
    sleep 0.5
done
[ -n "$healthy" ] || fail "render-supervisor did not become healthy within 30 s"
echo "demo: healthy: $("$bin" health --socket "$socket")"

# The jobs. The page is sent inline (as "html"), so json.dumps does the escaping. Its chart
# draws about 300 ms after load; the jobs wait until the page says it is done.
python3 - "$repo/supervisor/examples/report.html" "$work" <<'PY'
import json
import sys

html_path, work = sys.argv[1], sys.argv[2]
with open(html_path, encoding="utf-8") as f:
    html = f.read()
wait = {"expression": "window.reportReady === true"}
jobs = {
    "report-job.json": {
        "html": html,
        "wait": wait,
        "pdf": {"paper": "A4", "print_background": True},
    },
    "chart-job.json": {
        "html": html,
        "wait": wait,
        "viewport": {"width": 800, "height": 1000, "device_scale_factor": 2},
        "screenshot": {"selector": "#chart", "format": "png"},
    },
}
for name, job in jobs.items():
    with open(f"{work}/{name}", "w", encoding="utf-8") as f:
        json.dump(job, f)
PY

mkdir -p "$repo/out"
"$bin" render --socket "$socket" "$work/report-job.json" -o "$repo/out/report.pdf" ||
    fail "the PDF job failed"
"$bin" render --socket "$socket" --screenshot "$work/chart-job.json" \
    -o "$repo/out/chart.png" || fail "the screenshot job failed"

# Stop the daemon the way a service manager would, and wait for it to finish.
kill -TERM "$daemon_pid"
status=0
wait "$daemon_pid" || status=$?
daemon_pid=""
[ "$status" -eq 0 ] || fail "render-supervisor exited with status $status"
echo "demo: render-supervisor stopped"

echo
echo "The sample report:  $repo/out/report.pdf"
echo "Its chart as PNG:   $repo/out/chart.png"
