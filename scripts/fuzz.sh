#!/usr/bin/env bash
# Runs every fuzz target (or those named) for a bounded time with cargo-fuzz on nightly, then prints one
# line per target: seconds, executions, executions per second, corpus size, crashes. Exits non-zero when a
# target crashed (the input is in $FUZZ_WORK/artifacts/<target>/: minimise it with
# `cargo +nightly fuzz tmin`, copy it to fuzz/regressions/<target>/, fix the bug).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]      (just fuzz SECONDS)
#
# Nightly is used only here, from fuzz/cargo-fuzz (outside the workspace) and with its own target
# directory ($FUZZ_TARGET_DIR, default target/fuzz), so the stable build is never touched. Without a
# nightly toolchain it says so and replays each target's seed corpus and regressions once on stable
# (`cargo test -p mcp-auth-fuzz`), as CI does.
#
# Environment: FUZZ_TARGET_DIR, FUZZ_WORK (scratch corpus and artifacts, default target/fuzz-work),
# FUZZ_SANITIZER (default none: the workspace forbids unsafe code; address for C dependencies),
# FUZZ_TIMEOUT (seconds one input may take before it counts as a crash, default 10).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-60}"
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
    echo "fuzz: SECONDS_PER_TARGET must be a positive number, not '$seconds'" >&2
    exit 2
fi
fuzz_dir="$root/fuzz/cargo-fuzz"
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for file in "$fuzz_dir"/fuzz_targets/*.rs; do
        targets+=("$(basename "$file" .rs)")
    done
fi

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "fuzz: no nightly toolchain (install one with 'rustup toolchain install nightly');"
    echo "fuzz: replaying each target's seed corpus and regressions once on stable instead"
    cd "$root"
    exec cargo test -p mcp-auth-fuzz
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz from crates.io"
    cargo install cargo-fuzz --locked
fi

export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$root/target/fuzz}"
work="${FUZZ_WORK:-$root/target/fuzz-work}"
sanitizer="${FUZZ_SANITIZER:-none}"
timeout="${FUZZ_TIMEOUT:-10}"
mkdir -p "$work"
cd "$root"
# The nested workspace starts from the root lock file, so it fuzzes the versions the workspace ships.
[ -f "$fuzz_dir/Cargo.lock" ] || cp "$root/Cargo.lock" "$fuzz_dir/Cargo.lock"
flags=(--fuzz-dir "$fuzz_dir" --sanitizer "$sanitizer" --debug-assertions)
echo "fuzz: building ${#targets[@]} targets with $(rustc +nightly --version)"
cargo +nightly fuzz build "${flags[@]}"

summary=()
failed=0
for target in "${targets[@]}"; do
    corpus="$work/corpus/$target"
    artifacts="$work/artifacts/$target"
    log="$work/$target.log"
    mkdir -p "$corpus" "$artifacts"
    echo "fuzz: $target for ${seconds}s"
    status=0
    started=$(date +%s)
    # The scratch corpus comes first: libFuzzer adds what it finds there, never to the seeds in the repo.
    cargo +nightly fuzz run "${flags[@]}" "$target" "$corpus" "$root/fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" >"$log" 2>&1 || status=$?
    time=$(($(date +%s) - started))
    stat() { grep -m1 "^stat::$1:" "$log" | awk '{print $2}'; }
    runs="$(stat number_of_executed_units || true)"
    rate="$(stat average_exec_per_sec || true)"
    # libFuzzer's corpus at the end (inputs it keeps for new coverage), else the files in the scratch dir.
    size="$(grep -m1 'DONE' "$log" | sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p')"
    [ -n "$size" ] || size="$(find "$corpus" -type f | wc -l)"
    crashes="$(grep -c '^artifact_prefix=.*Test unit written to' "$log" || true)"
    if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        crashes="?"
    fi
    if [ "$status" -ne 0 ]; then
        failed=1
        echo "fuzz: $target FAILED (exit $status); log: $log; inputs: $artifacts"
        tail -n 30 "$log"
    fi
    summary+=("$(printf '%-18s %6ss %12s runs %9s exec/s %7s corpus %4s crashes' \
        "$target" "${time:-?}" "${runs:-?}" "${rate:-?}" "$size" "$crashes")")
done

echo
echo "fuzz: $(date -u +%Y-%m-%dT%H:%MZ), ${seconds}s per target, sanitizer $sanitizer"
printf '%s\n' "${summary[@]}"
exit "$failed"
