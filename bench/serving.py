"""API throughput under many clients: wrk against a live `reelforge serve --workers 0`.

    .venv/bin/python bench/serving.py [--duration 10] [--connections 8,64] [--database sqlite|postgresql]
                                      [--src PATH]

Needs wrk (`apt-get install -y wrk`). The server runs on a throwaway data dir with SQLite, or with
``--database postgresql`` on a throwaway cluster (tests/pgcluster.py), in the open local mode
(loopback, no keys). Before the load it creates ``--jobs`` jobs; then, at each connection count,
wrk drives three cases for ``--duration`` seconds each (the polls and healthz at every count
first, then the creates):

- healthz: GET /healthz, the framework's floor;
- poll:    GET /v1/videos/{id}, round robin over the jobs;
- create:  POST /v1/videos with a small JSON body (each one queues a job; no worker takes them).

It prints rps and p99 per case, each case's rps as a ratio to healthz at the same connection
count, and poll rps at the most connections over poll rps at the fewest. It also prints the API
process's CPU time per request (user + system, from /proc; PostgreSQL's own processes are not in
it), which moves less than rps when other work shares the machine, and on PostgreSQL the CPU time
of the cluster's processes per request, which shares the same cores. ``--src`` runs the server from
another checkout's ``src`` (a copy of an older tree), to compare the two back to back.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.live import LiveServer  # noqa: E402
from tests.pgcluster import PostgresCluster, create_database  # noqa: E402

CREATE_BODY = {"prompt": "a red ball rolls across a green field", "size": "256x256", "num_frames": 9}

# wrk's Lua hooks: ``request`` walks the poll paths (one list per wrk thread), ``done`` prints the
# summary as one JSON line, since wrk's own text output rounds and mixes units.
LUA = """
local paths = {%(paths)s}
local i = 0
%(request)s
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, "non_2xx": %%d, "socket_errors": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""
POLL_REQUEST = """
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
"""
CREATE_REQUEST = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '%(body)s'
"""


def find_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("bench/serving.py needs wrk, the HTTP load generator: install it with "
                         "`apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk` (macOS).")
    return wrk


def lua_script(folder: Path, case: str, poll_paths: list[str]) -> Path:
    request = {"healthz": "", "poll": POLL_REQUEST, "create": CREATE_REQUEST % {"body": json.dumps(CREATE_BODY)}}[case]
    path = folder / f"{case}.lua"
    path.write_text(LUA % {"paths": ", ".join(f'"{p}"' for p in poll_paths), "request": request})
    return path


def _stat(pid: int | str) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux's /proc)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int | None) -> float:
    """CPU time of ``pid`` (PostgreSQL's postmaster), its live children (the backends) and the
    children it has reaped; 0 without one."""
    if pid is None:
        return 0.0
    fields = _stat(pid)
    total = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                child = _stat(entry.name)
            except (FileNotFoundError, ProcessLookupError):
                continue
            if child[1] == str(pid):
                total += int(child[11]) + int(child[12])
    return total / os.sysconf("SC_CLK_TCK")


def postmaster_pid(cluster: PostgresCluster | None) -> int | None:
    return None if cluster is None else int((cluster.data / "postmaster.pid").read_text().split()[0])


def run_wrk(wrk: str, url: str, script: Path, connections: int, threads: int, duration: float, pid: int,
            db_pid: int | None = None) -> dict:
    cmd = [wrk, "-t", str(min(threads, connections)), "-c", str(connections), "-d", f"{duration:g}s",
           "--timeout", "10s", "-s", str(script), url]
    cpu, db_cpu = cpu_seconds(pid), tree_cpu_seconds(db_pid)
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    cpu, db_cpu = cpu_seconds(pid) - cpu, tree_cpu_seconds(db_pid) - db_cpu
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:  # a Lua error does not change wrk's exit status
        raise SystemExit(f"wrk printed no summary:\n{done.stdout}{done.stderr}")
    result = json.loads(lines[-1])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["cpu_us"] = cpu / max(1, result["requests"]) * 1e6
    result["db_cpu_us"] = db_cpu / max(1, result["requests"]) * 1e6
    return result


def bench(server: LiveServer, args: argparse.Namespace, wrk: str, folder: Path,
          db_pid: int | None = None) -> dict[tuple[str, int], dict]:
    url, pid = server.base_url, server.proc.pid
    with httpx.Client(base_url=url, timeout=30) as client:
        ids = []
        for _ in range(args.jobs):
            r = client.post("/v1/videos", json=CREATE_BODY)
            r.raise_for_status()
            ids.append(r.json()["id"])
    scripts = {case: lua_script(folder, case, [f"/v1/videos/{i}" for i in ids]) for case in ("healthz", "poll", "create")}
    paths = {"healthz": "/healthz", "poll": "/v1/videos", "create": "/v1/videos"}  # poll's script picks its own
    # A short warm-up, so the first case does not pay for imports and the pool's first connections.
    for case in ("healthz", "poll"):
        run_wrk(wrk, url + paths[case], scripts[case], 4, 1, 1, pid)
    results = {}
    # The creates go last: each one adds a row (thousands per case), and a read case after them
    # would measure the database digesting them (PostgreSQL's autovacuum and analyze took a poll's
    # database CPU from ~120 to ~1,000 us), not the reads.
    for cases in (("healthz", "poll"), ("create",)):
        for connections in args.connections:
            for case in cases:
                results[case, connections] = run_wrk(wrk, url + paths[case], scripts[case], connections,
                                                     args.threads, args.duration, pid, db_pid)
    return dict(sorted(results.items(), key=lambda kv: (args.connections.index(kv[0][1]),
                                                        ("healthz", "poll", "create").index(kv[0][0]))))


def report(results: dict[tuple[str, int], dict], args: argparse.Namespace) -> None:
    print(f"reelforge serve --workers 0, {args.database}, open local mode; wrk -t{args.threads}, "
          f"{args.duration:g} s per case" + (f"; server from {args.src}" if args.src else ""))
    print(f"{'case':<8} {'conns':>5} {'rps':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'errors':>7} "
          f"{'/healthz':>9} {'cpu us/req':>11}" + (f" {'db cpu us/req':>14}" if args.database == "postgresql" else ""))
    for (case, connections), r in results.items():
        base = results["healthz", connections]["rps"]
        print(f"{case:<8} {connections:5d} {r['rps']:9.0f} {r['p50_us'] / 1000:8.1f} {r['p99_us'] / 1000:8.1f} "
              f"{r['non_2xx']:8d} {r['socket_errors']:7d} {r['rps'] / base:8.2f}x {r['cpu_us']:11.0f}"
              + (f" {r['db_cpu_us']:14.0f}" if args.database == "postgresql" else ""))
    lo, hi = min(args.connections), max(args.connections)
    if lo != hi:
        print(f"poll rps({hi}) / poll rps({lo}): {results['poll', hi]['rps'] / results['poll', lo]['rps']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per case")
    parser.add_argument("--connections", type=lambda s: [int(c) for c in s.split(",")], default=[8, 64],
                        help="comma-separated connection counts")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--jobs", type=int, default=20, help="jobs created to poll")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--src", type=Path, default=None, help="a checkout's src folder to run the server from")
    args = parser.parse_args()
    wrk = find_wrk()

    cluster = PostgresCluster() if args.database == "postgresql" else None
    with tempfile.TemporaryDirectory() as tmp:
        server = None
        try:
            database = None
            if cluster is not None:
                database = create_database(cluster.start(), f"bench_{uuid.uuid4().hex[:8]}")
            # Settings come from the flags here; the server's own log (access lines included) goes to its file.
            env = {"PYTHONPATH": str(args.src.resolve())} if args.src else {}
            server = LiveServer(Path(tmp) / "data", workers=0, database=database, env=env).start()
            results = bench(server, args, wrk, Path(tmp), postmaster_pid(cluster))
        finally:
            if server is not None:
                server.stop()
            if cluster is not None:
                cluster.stop()
    report(results, args)


if __name__ == "__main__":
    main()
