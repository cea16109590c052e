#!/usr/bin/env python3
"""The HTTP benchmark: real MCP `tools/call whoami` requests from wrk over keep-alive connections, on
loopback, with the servers pinned to one core and wrk to another, every scenario run in the same
invocation and interleaved (A, B, C, ... then again), so machine noise hits every side.

Scenarios (docs/benchmarks.md):
  A  the rmcp server with no auth (the baseline)
  A2 the same, sent C's token, which it ignores (a reference: what carrying the bearer header costs)
  B  remote auth (AuthKitProvider), token cache off: an RS256 check per request
  C  remote auth with the verified-token cache on (the default)
  D  the OAuth proxy (WorkOSProvider), a proxy-issued token
  E  `mcp-auth gateway` (AuthKit) in front of server A
  G1 a flood of garbage tokens at C's server (401 path)
  G2 a flood of expired tokens at C's server (401 path)
  H  the demo's full sign-in, step by step (`mcp-auth demo`, its own timings)

Usage: scripts/bench_http.py [--duration SECONDS] [--connections N] [--rounds N] [--scenarios A,C,D] [--smoke]
Environment: SERVER_CPU (default 0), LOAD_CPU (default 1). Results: a Markdown table on stdout and in
target/bench-http/results.md. Needs wrk (installed with apt-get when missing) and taskset.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "target" / "bench-http"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
LUA = ROOT / "scripts" / "bench-http.lua"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message):
    print(message, file=sys.stderr, flush=True)


def ensure_tools():
    if shutil.which("wrk") is None:
        log("installing wrk (apt-get)")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if shutil.which("taskset") is None:
        sys.exit("taskset is missing (util-linux)")


def build(profile):
    """The directory of the binaries: release ones built here; for a smoke run, the debug ones the test
    suite built (built here if missing)."""
    directory = TARGET / profile
    if profile == "debug" and (directory / "mcp-auth").exists() and (directory / "examples" / "bench_server").exists():
        return directory
    log(f"building the {profile} binaries (bench_server, mcp-auth)")
    flags = ["--release"] if profile == "release" else []
    subprocess.run(["cargo", "build", *flags, "-q", "-p", "mcp-auth-examples", "--example", "bench_server",
                    "-p", "mcp-auth-cli", "--bin", "mcp-auth"], check=True, cwd=ROOT)
    return directory


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A pinned child process whose first stdout line is JSON (or which answers /healthz)."""

    def __init__(self, name, args, cpu, env=None, ready_line=True, health=None):
        self.name = name
        self.log = open(OUT / f"{name}.log", "w")
        self.proc = subprocess.Popen(["taskset", "-c", str(cpu), *args], stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, env={**os.environ, **(env or {})})
        self.info = {}
        started = time.monotonic()
        if ready_line:
            line = self.proc.stdout.readline()
            if not line:
                raise SystemExit(f"{name} exited before it was ready; see {OUT / (name + '.log')}")
            self.info = json.loads(line)
        if health:
            while True:
                try:
                    with socket.create_connection(health, timeout=1) as s:
                        s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
                        if b" 200 " in s.recv(64):
                            break
                except OSError:
                    pass
                if self.proc.poll() is not None or time.monotonic() - started > 60:
                    raise SystemExit(f"{name} did not become healthy; see {OUT / (name + '.log')}")
                time.sleep(0.05)
        self.ready_ms = (time.monotonic() - started) * 1000

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def rss_kib(self, field):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def wrk(url, token, duration, connections, load_cpu):
    out = subprocess.run(["taskset", "-c", str(load_cpu), "wrk", "-t1", f"-c{connections}", f"-d{duration}s",
                          "--timeout", "10s", "-s", str(LUA), url],
                         capture_output=True, text=True, env={**os.environ, "TOKEN": token or ""}, check=True)
    line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")
    return {k: float(v) for k, v in (kv.split("=") for kv in line.split()[1:])}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scenarios", default="A,A2,B,C,D,E,G1,G2",
                        help="which scenarios to run (A, the baseline, always runs): more rounds of fewer "
                             "scenarios keep each ratio's two sides closer in time on a noisy machine")
    parser.add_argument("--smoke", action="store_true",
                        help="1 s, 1 round, 4 connections, debug binaries: checks the script works")
    args = parser.parse_args()
    if args.smoke:
        args.duration, args.rounds, args.connections = 1, 1, 4
    server_cpu = int(os.environ.get("SERVER_CPU", "0"))
    load_cpu = int(os.environ.get("LOAD_CPU", "1"))
    OUT.mkdir(parents=True, exist_ok=True)
    ensure_tools()
    binaries = build("debug" if args.smoke else "release")
    bench = str(binaries / "examples" / "bench_server")
    gateway_bin = str(binaries / "mcp-auth")

    procs = {}
    try:
        procs["A"] = Process("open", [bench, "open"], server_cpu)
        procs["B"] = Process("remote-nocache", [bench, "remote-nocache"], server_cpu)
        procs["C"] = Process("remote", [bench, "remote"], server_cpu)
        procs["D"] = Process("proxy", [bench, "proxy"], server_cpu)
        gw_port = free_port()
        gw_url = f"http://127.0.0.1:{gw_port}/mcp"
        idp = Process("gateway-idp", [bench, "idp", "--audience", gw_url], server_cpu)
        procs["idp"] = idp
        procs["E"] = Process("gateway", [gateway_bin, "--quiet", "gateway", "--upstream", procs["A"].info["url"],
                                         "--listen", f"127.0.0.1:{gw_port}"], server_cpu,
                             env={"MCP_AUTH_PROVIDER": "authkit", "MCP_AUTH_AUTHKIT_DOMAIN": idp.info["issuer"],
                                  "MCP_AUTH_BASE_URL": f"http://127.0.0.1:{gw_port}", "RUST_LOG": "warn"},
                             ready_line=False, health=("127.0.0.1", gw_port))
        idle_rss = {key: procs[key].rss_kib("VmRSS") for key in "ABCD"}
        scenarios = [
            ("A", "no auth (baseline)", procs["A"].info["url"], "", ["A"]),
            # A reference, not a target: what carrying C's 0.9 KB bearer header costs server A, which ignores it.
            ("A2", "no auth, C's token sent and ignored", procs["A"].info["url"], procs["C"].info["token"], ["A"]),
            ("B", "remote auth, token cache off", procs["B"].info["url"], procs["B"].info["token"], ["B"]),
            ("C", "remote auth, token cache on", procs["C"].info["url"], procs["C"].info["token"], ["C"]),
            ("D", "OAuth proxy token", procs["D"].info["url"], procs["D"].info["token"], ["D"]),
            ("E", "gateway in front of A", gw_url, idp.info["token"], ["E", "A"]),
            ("G1", "401: garbage tokens", procs["C"].info["url"], "garbage-" + "x" * 40, ["C"]),
            ("G2", "401: expired tokens", procs["C"].info["url"], procs["C"].info["expired"], ["C"]),
        ]
        wanted = set(args.scenarios.split(",")) | {"A"}
        scenarios = [scenario for scenario in scenarios if scenario[0] in wanted]
        # Warm-up: connections, caches, JIT of nothing.
        for key, _, url, token, _ in scenarios:
            wrk(url, token, 1, args.connections, load_cpu)
        results = {key: [] for key, *_ in scenarios}
        rss_after_warmup = {key: procs[key].rss_kib("VmRSS") for key in "ABCD"}
        for round_ in range(args.rounds):
            for key, label, url, token, measured in scenarios:
                before = [procs[m].cpu_seconds() for m in measured]
                result = wrk(url, token, args.duration, args.connections, load_cpu)
                spent = [procs[m].cpu_seconds() - b for m, b in zip(measured, before)]
                result["cpu_us_per_req"] = sum(spent) * 1e6 / max(result["requests"], 1)
                result["own_cpu_us_per_req"] = spent[0] * 1e6 / max(result["requests"], 1)
                results[key].append(result)
                log(f"round {round_ + 1} {key:<3} {result['rps']:>9.0f} req/s  p50 {result['p50_us'] / 1000:.2f} ms"
                    f"  p99 {result['p99_us'] / 1000:.2f} ms  non-2xx {int(result['non2xx'])}")
        peak = {key: procs[key].rss_kib("VmHWM") for key in "ABCDE"}
        rss_end = {key: procs[key].rss_kib("VmRSS") for key in "ABCD"}
    finally:
        for proc in procs.values():
            proc.stop()

    def median(key, field):
        return statistics.median(r[field] for r in results[key])

    def ratio(key):
        # Per-round ratios against the baseline of the same round, then the median.
        return statistics.median(r["rps"] / a["rps"] for r, a in zip(results[key], results["A"]))

    lines = [
        f"wrk -t1 -c{args.connections} -d{args.duration}s, {args.rounds} interleaved rounds, servers on CPU "
        f"{server_cpu}, wrk on CPU {load_cpu}; medians; `tools/call whoami` (stateless, JSON answers).",
        "",
        "| scenario | req/s | ratio to A | p50 | p99 | server CPU per request | peak RSS | non-2xx |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, label, _, _, measured in scenarios:
        rss_key = measured[0] if key not in peak else key
        lines.append(
            f"| {key}. {label} | {median(key, 'rps'):,.0f} | {ratio(key):.2f} | {median(key, 'p50_us') / 1000:.2f} ms "
            f"| {median(key, 'p99_us') / 1000:.2f} ms | {median(key, 'cpu_us_per_req'):.0f} µs "
            f"| {peak[rss_key] / 1024:.1f} MiB | {int(sum(r['non2xx'] for r in results[key]))} |")
    if "E" in results:
        lines += [
            "",
            f"E's CPU per request is the gateway's and server A's together; the gateway's own is "
            f"{median('E', 'own_cpu_us_per_req'):.0f} µs (A alone: {median('A', 'cpu_us_per_req'):.0f} µs). "
            "Both share the server core.",
        ]
    lines += [
        "",
        "Start-up to ready (first authenticated call answered, JWKS fetched), without the in-process dev "
        "IdP's own start-up (its RSA key generation, shown apart): "
        + ", ".join(f"{k} {procs[k].info.get('ready_ms', 0) - procs[k].info.get('idp_ms', 0):.0f} ms "
                    f"(+{procs[k].info.get('idp_ms', 0):.0f} ms IdP)" for k in "ABCD") + ".",
        "Idle RSS: " + ", ".join(f"{k} {idle_rss[k] / 1024:.1f} MiB" for k in "ABCD") + ".",
        "RSS after warm-up -> at the end: " + ", ".join(
            f"{k} {rss_after_warmup[k] / 1024:.1f} -> {rss_end[k] / 1024:.1f} MiB" for k in "ABCD") + ".",
    ]
    # H: the demo's sign-in, step by step, with its own timings.
    demo = subprocess.run([gateway_bin, "demo", "--mode", "remote"], capture_output=True, text=True, cwd=ROOT)
    steps = [l.strip().split("): ")[0] + ")" for l in demo.stdout.splitlines()
             if l.strip().startswith(("[ok]", "[FAIL]"))]
    lines += ["", f"H. `mcp-auth demo --mode remote` (exit {demo.returncode}):", ""]
    lines += [f"    {step}" for step in steps] or ["    (no step lines)"]
    report = "\n".join(lines) + "\n"
    (OUT / "results.md").write_text(report)
    print(report)
    failed = [key for key, *_ in scenarios if key not in ("G1", "G2")
              and sum(r["non2xx"] for r in results[key]) > 0]
    unexpected_ok = [key for key in ("G1", "G2") if key in results and any(r["non2xx"] < r["requests"] for r in results[key])]
    if failed or unexpected_ok or demo.returncode != 0:
        sys.exit(f"unexpected answers: non-2xx in {failed}, 2xx in {unexpected_ok}, demo exit {demo.returncode}")


if __name__ == "__main__":
    main()
