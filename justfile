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

# Figures are recorded in docs/benchmarks.md; criterion's reports land in target/criterion.
# Run the criterion benchmarks; `just bench -- --test` runs each once as a smoke test.
bench *ARGS:
    cargo bench --workspace {{ARGS}}

# The HTTP benchmark: wrk sending MCP tools/call over keep-alive connections, scenarios A-H interleaved,
# server and wrk on separate cores (scripts/bench_http.py; figures in docs/benchmarks.md).
bench-http *ARGS:
    python3 scripts/bench_http.py {{ARGS}}

# Scenario F, the token endpoint: authorization-code exchanges and refreshes per second with the memory
# store and Redis (127.0.0.1:6379), codes prepared by real sign-ins first (tests/examples/bench_token.rs;
# `--n`, `--concurrency`, `--rounds`, `--smoke`; figures in docs/benchmarks.md).
bench-token *ARGS:
    cargo run --release -p mcp-auth-tests --example bench_token -- {{ARGS}}

# The HTTP load run on loopback (AuthKit remote auth against an open route, same run).
load REQUESTS="20000" CONCURRENCY="32":
    cargo run --release -p mcp-auth-examples --example load_remote -- {{REQUESTS}} {{CONCURRENCY}}

# A flood of random bearer tokens against WorkOSTokenVerifier over a loopback stand-in for WorkOS.
flood SECONDS="10" WORKERS="64":
    cargo bench -p mcp-auth-workos --bench userinfo_flood -- {{SECONDS}} {{WORKERS}}

# The soak run (issue 16): a steady mixed load on the remote and proxy paths (valid, expired and garbage
# tokens, registrations, sign-ins, refreshes; the proxy over Redis on 127.0.0.1:6379) for SECONDS, sampled
# for RSS and Redis keys, with verdicts; exits non-zero on a failed one. Not in CI. Results in docs/security.md.
soak SECONDS="120" *ARGS:
    cargo build --release -p mcp-auth-examples --example soak
    bash scripts/soak.sh {{SECONDS}} {{ARGS}}

# Run the demo, e.g. `just demo --mode proxy` (`mcp-auth demo` runs the same).
demo *ARGS:
    cargo run -p mcp-auth-examples --example demo -- {{ARGS}}

# Run one example by name, e.g. `just example protected_axum`.
example NAME *ARGS:
    cargo run -p mcp-auth-examples --example {{NAME}} -- {{ARGS}}

# Regenerate docs/configuration.md from the settings catalog (crates/mcp-auth/src/config/catalog.rs).
config-docs:
    UPDATE_DOCS=1 cargo test -p mcp-auth --test configuration_doc docs_configuration_md_is_generated_from_the_catalog

# Everything CI runs.
ci:
    bash .ci/run

# Instructions per MCP request under callgrind (scenarios A-D, G1): a figure the machine's load does not
# move, for judging a change on a busy machine (scripts/bench_instructions.py; needs valgrind).
bench-instructions *ARGS:
    python3 scripts/bench_instructions.py {{ARGS}}

# Fuzz every target for SECONDS each with cargo-fuzz on nightly (scripts/fuzz.sh; replays the corpora on
# stable when nightly is missing). Figures are recorded in docs/security.md.
fuzz SECONDS="60" *TARGETS:
    bash scripts/fuzz.sh {{SECONDS}} {{TARGETS}}
