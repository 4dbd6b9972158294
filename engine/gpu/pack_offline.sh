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
pack=$(realpath "${1:-$(dirname "$0")/../../../shared/device/pack.sh}")
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$root"
[ -d .git ] && mkdir -p .git/info # pack.sh records .gpu/ in .git/info/exclude
# (re)run pack.sh unless .gpu/ holds this machine's Deno already
packed=""
if [ -f .gpu/deno.xz ] && [ -f .gpu/enter.sh ]; then
  packed=$(xz -dc .gpu/deno.xz > /tmp/kvlab-packed-deno && chmod +x /tmp/kvlab-packed-deno &&
    /tmp/kvlab-packed-deno --version | head -1 || true)
  rm -f /tmp/kvlab-packed-deno
fi
[ -n "$packed" ] && [ "$packed" = "$(deno --version | head -1)" ] || bash "$pack"
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
DENO_DIR=$cache deno cache --frozen engine/bench/main.ts engine/gpu/info.ts engine/model/generate_cli.ts
rm -rf "$cache/gen" # compiled-JS cache: rebuilt on the host
tar -C "$cache" -cJf .gpu/deno-cache.tar.xz .
if ! grep -q 'kvlab: DENO_DIR' .gpu/enter.sh; then
  chmod u+w .gpu/enter.sh
  cat >> .gpu/enter.sh <<'LINES'
# kvlab: DENO_DIR with the npm packages deno.lock names (engine/gpu/pack_offline.sh), unpacked
# once per cache archive (a folder named by its hash, so a new archive is never mixed with old)
if [ -f .gpu/deno-cache.tar.xz ]; then
  KVLAB_DENO_DIR=/tmp/kvlab-deno-$(sha256sum .gpu/deno-cache.tar.xz | cut -c1-16)
  if [ ! -d "$KVLAB_DENO_DIR/npm" ]; then
    mkdir -p "$KVLAB_DENO_DIR" && tar -C "$KVLAB_DENO_DIR" -xJf .gpu/deno-cache.tar.xz
  fi
  export DENO_DIR=$KVLAB_DENO_DIR DENO_NO_UPDATE_CHECK=1
fi
LINES
fi
du -sh .gpu
