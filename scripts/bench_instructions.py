#!/usr/bin/env python3
"""Instructions per MCP request, counted by valgrind (callgrind): the HTTP benchmark's scenarios measured
by a figure that does not move with the machine's load, so a change can be judged on a busy machine.

Each server (`bench_server` in modes A open, B remote-nocache, C remote, D proxy, and C again for the
garbage-token flood G1) runs under callgrind with instrumentation off while it starts and warms up; it is
switched on only for a fixed wrk run (`tools/call whoami`, 4 keep-alive connections), then the count is
divided by the requests wrk completed. Start-up, the dev IdP's key generation and the warm-up are left out.

Usage: scripts/bench_instructions.py [--duration SECONDS] [--scenarios A,C,D] [--keep DIR]
Needs valgrind (callgrind_control) and wrk; the release binaries are built when missing.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_http  # noqa: E402

SCENARIOS = {
    "A": ("no auth (baseline)", "open", "token"),
    "B": ("remote auth, token cache off", "remote-nocache", "token"),
    "C": ("remote auth, token cache on", "remote", "token"),
    "D": ("OAuth proxy token", "proxy", "token"),
    "G1": ("401: garbage tokens", "remote", None),
}


def count(binary, mode, token_field, duration, workdir):
    """Instructions per request of one scenario, and the requests counted."""
    out = Path(workdir) / mode
    info = out.with_suffix(".json")
    with open(info, "w") as stdout, open(out.with_suffix(".log"), "w") as stderr:
        proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                                 f"--callgrind-out-file={out}.%p.out", str(binary), mode],
                                stdout=stdout, stderr=stderr)
    try:
        deadline = time.monotonic() + 300
        while not info.read_text().strip():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{mode} did not start under valgrind; see {out}.log")
            time.sleep(0.2)
        ready = json.loads(info.read_text().splitlines()[0])
        token = ready[token_field] if token_field else "garbage-" + "x" * 40
        bench_http.wrk(ready["url"], token, 2, 4, 1)
        subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], check=True, capture_output=True)
        result = bench_http.wrk(ready["url"], token, duration, 4, 1)
        subprocess.run(["callgrind_control", "-i", "off", str(proc.pid)], check=True, capture_output=True)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    total = 0
    for dump in Path(workdir).glob(f"{mode}.{proc.pid}.out*"):
        for line in dump.read_text().splitlines():
            if line.startswith("totals:"):
                total += int(line.split()[1])
    requests = int(result["requests"])
    return total / max(requests, 1), requests


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--scenarios", default="A,B,C,D,G1")
    parser.add_argument("--keep", metavar="DIR",
                        help="keep the callgrind profiles in DIR (read them with callgrind_annotate)")
    args = parser.parse_args()
    keys = args.scenarios.split(",")
    if "A" not in keys:
        keys.insert(0, "A")
    if shutil.which("callgrind_control") is None:
        sys.exit("valgrind is missing: apt-get install valgrind")
    bench_http.ensure_tools()
    binary = bench_http.build("release") / "examples" / "bench_server"
    rows = {}
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as scratch:
        workdir = args.keep or scratch
        Path(workdir).mkdir(parents=True, exist_ok=True)
        for key in keys:
            label, mode, token_field = SCENARIOS[key]
            per_request, requests = count(binary, mode, token_field, args.duration, workdir)
            rows[key] = (label, per_request, requests)
            bench_http.log(f"{key:<3} {per_request:>10,.0f} instructions per request ({requests} requests)")
    baseline = rows["A"][1]
    lines = [
        f"callgrind, wrk -t1 -c4 -d{args.duration}s per scenario, `tools/call whoami`; instructions per request "
        "(start-up and warm-up not counted).",
        "",
        "| scenario | instructions per request | A / scenario | requests counted |",
        "|---|---|---|---|",
    ]
    for key in keys:
        label, per_request, requests = rows[key]
        lines.append(f"| {key}. {label} | {per_request:,.0f} | {baseline / per_request:.2f} | {requests:,} |")
    report = "\n".join(lines) + "\n"
    bench_http.OUT.mkdir(parents=True, exist_ok=True)
    (bench_http.OUT / "instructions.md").write_text(report)
    print(report)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
