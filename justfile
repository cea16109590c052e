# mcp-auth tasks. Install just with `cargo install just`; every recipe is a plain cargo command too.

# List the recipes.
default:
    @just --list

# Run the whole test suite (needs Redis on 127.0.0.1:6379, as .ci/run provides).
test:
    cargo test --workspace

# Lint: formatting check and clippy with warnings as errors, as CI does.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# Format every crate.
fmt:
    cargo fmt --all

# Run the criterion benchmarks (results: target/criterion; figures recorded in docs/benchmarks.md).
bench:
    cargo bench --workspace

# Run the demo.
demo:
    cargo run -p mcp-auth-examples --example demo

# Run one example by name, e.g. `just example protected_axum`.
example NAME *ARGS:
    cargo run -p mcp-auth-examples --example {{NAME}} -- {{ARGS}}

# Everything CI runs.
ci:
    bash .ci/run
