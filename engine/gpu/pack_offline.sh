#!/usr/bin/env bash
# Packs what `deno task gpu-info|bench|generate` need on an offline GPU host (the device tool's
# machine) into .gpu/ (git-ignored): ../shared/device/pack.sh's Deno binary and Vulkan loader,
# plus a Deno cache (DENO_DIR) of every npm package deno.lock names, xz-compressed (~5 MB;
# Deno wants the whole lockfile snapshot present, not just what the engine imports), and a few
# lines appended to .gpu/enter.sh that unpack it and point DENO_DIR at it. Run from anywhere:
#   bash engine/gpu/pack_offline.sh [path/to/shared/device/pack.sh]
# On the host: source .gpu/enter.sh; deno task gpu-info --device gpu
# The whole .gpu/ is ~36 MB, under the device tool's 64 MiB carry limit.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
pack=${1:-../shared/device/pack.sh}
mkdir -p .git/info # pack.sh records .gpu/ in .git/info/exclude
[ -f .gpu/deno.xz ] && [ -f .gpu/enter.sh ] || bash "$pack"
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
DENO_DIR=$cache deno cache engine/bench/main.ts engine/gpu/info.ts engine/model/generate_cli.ts
rm -rf "$cache/gen" # compiled-JS cache: rebuilt on the host
tar -C "$cache" -cJf .gpu/deno-cache.tar.xz .
if ! grep -q 'kvlab: DENO_DIR' .gpu/enter.sh; then
  cat >> .gpu/enter.sh <<'LINES'
# kvlab: DENO_DIR with the npm packages deno.lock names (engine/gpu/pack_offline.sh)
if [ -f .gpu/deno-cache.tar.xz ] && [ ! -d /tmp/kvlab-deno/npm ]; then
  mkdir -p /tmp/kvlab-deno && tar -C /tmp/kvlab-deno -xJf .gpu/deno-cache.tar.xz
fi
export DENO_DIR=/tmp/kvlab-deno DENO_NO_UPDATE_CHECK=1
LINES
fi
du -sh .gpu
