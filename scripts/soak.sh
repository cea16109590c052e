#!/usr/bin/env bash
# Runs the soak driver (examples/soak.rs) from a private copy of the release binary, so that a rebuild of
# the shared target directory during the run cannot replace the servers it starts from the same binary.
# Usage: scripts/soak.sh SECONDS [--rate N] [--flows N] [--ttl N] [--redis URL]
set -euo pipefail
target="${CARGO_TARGET_DIR:-$(dirname "$0")/../target}"
copy="$(mktemp -d)"
trap 'rm -rf "$copy"' EXIT
cp "$target/release/examples/soak" "$copy/soak"
"$copy/soak" --seconds "$@"
