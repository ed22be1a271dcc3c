#!/usr/bin/env python3
"""Key-server benchmark (not a test; never gates CI): unwraps/s over loopback HTTP.

For each deployment (one node on SQLite, one node on PostgreSQL, two replicas on one
PostgreSQL) it starts real `cipherdrop serve` processes (and PostgreSQL, as the postgres user
in a temporary directory on a free port), creates an RSA-3072 key, and measures in paired
rounds: raw aws-lc-rs RSA-3072 OAEP decryptions/s on all cores (the ceiling), then unwraps/s
through the HTTP API with enough clients to saturate the cores. The best of each is compared.
Then it offers 80% of the best unwrap rate open loop and reports p50/p99 latency.

Everything runs on the same cores: the load generator and PostgreSQL share them with the
server, as they would not in production. Results merge into target/bench/results.json.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "cipherdrop"
LOAD = ROOT / "target" / "release" / "examples" / "unwrap_bench"
OUT = ROOT / "target" / "bench"
SECONDS = float(os.environ.get("BENCH_SECONDS", 6))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 3))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", 16))
CORES = os.cpu_count() or 1
TARGETS = {"sqlite": 0.85, "postgres": 0.85, "postgres-2-replicas": 0.8}
P99_TARGET_MS = 20.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(addr, path, token=None, body=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(f"{addr}{path}", data=body and json.dumps(body).encode(),
                                 headers=headers, method="POST" if body else "GET")
    with urllib.request.urlopen(req) as r:
        return r.read()


class Postgres:
    """A throwaway cluster run as the postgres user (PostgreSQL refuses to run as root)."""

    def __init__(self, tmp):
        self.dir = Path(tmp) / "pg"
        self.dir.mkdir()
        self.port = free_port()
        as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if as_pg:
            for p in [self.dir, *self.dir.parents]:
                if p == Path("/"):
                    break
                os.chmod(p, os.stat(p).st_mode | 0o001)
            shutil.chown(self.dir, "postgres")
        self.as_pg = as_pg
        self.ctl = lambda *a: subprocess.run([*as_pg, *a], cwd=self.dir, check=True, capture_output=True)
        self.ctl("initdb", "--no-sync", "-D", str(self.dir / "data"), "-A", "trust", "-U", "cipherdrop")
        self.ctl("pg_ctl", "-D", str(self.dir / "data"), "-w", "-l", str(self.dir / "log"), "-o",
                 f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "start")

    def database(self, name):
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "cipherdrop", "-d",
                        "postgres", "-qc", f'CREATE DATABASE "{name}"'], check=True)
        return f"postgres://cipherdrop@127.0.0.1:{self.port}/{name}"

    def stop(self):
        subprocess.run([*self.as_pg, "pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "stop"],
                       cwd=self.dir, capture_output=True)


def serve(data_dir, args=()):
    port = free_port()
    addr = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([BIN, "serve", "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}",
                             "--rate-limit", "1000000", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            call(addr, "/healthz")
            return proc, addr
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit(f"bench: the server on {data_dir} did not start")


def load(*args):
    out = subprocess.run([LOAD, *map(str, args)], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def measure(name, addrs, token, key_id):
    raws, https = [], []
    for _ in range(ROUNDS):
        raws.append(load("raw", SECONDS, CORES, "RSA_3072")["decrypts_per_s"])
        https.append(load("http", ",".join(addrs), token, key_id, SECONDS, CLIENTS)["unwraps_per_s"])
    raw, best = max(raws), max(https)
    at80 = load("http", ",".join(addrs), token, key_id, SECONDS, CLIENTS, round(0.8 * best, 1))
    ratio = best / raw
    return [
        {"name": f"key server unwraps/s, RSA-3072, {name}, {CLIENTS} clients", "value": round(best, 1),
         "unit": "ops/s", "baseline": f"aws-lc-rs RSA-3072 OAEP decrypts/s, {CORES} threads",
         "ratio": round(ratio, 3), "target": f">= {TARGETS[name]}", "met": ratio >= TARGETS[name]},
        {"name": f"aws-lc-rs RSA-3072 OAEP decrypts/s, {CORES} threads (ceiling of {name})",
         "value": round(raw, 1), "unit": "ops/s", "baseline": None, "ratio": None},
        {"name": f"key server unwrap p50 at 80% load ({round(0.8 * best)}/s), {name}",
         "value": round(at80["p50_ms"], 2), "unit": "ms", "baseline": None, "ratio": None},
        {"name": f"key server unwrap p99 at 80% load ({round(0.8 * best)}/s), {name}",
         "value": round(at80["p99_ms"], 2), "unit": "ms", "baseline": None, "ratio": None,
         "target": f"< {P99_TARGET_MS} ms", "met": at80["p99_ms"] < P99_TARGET_MS},
    ]


def deployment(name, tmp, pg):
    """Starts the servers of one deployment; returns (processes, addresses, admin token, key)."""
    root_key = Path(tmp) / f"{name}-root-key"
    root_key.write_bytes(os.urandom(32))
    if name == "sqlite":
        urls = [None]
    else:
        url = pg.database("bench_" + name.replace("-", "_"))
        urls = [url] * (2 if name.endswith("replicas") else 1)
    procs, addrs = [], []
    for i, url in enumerate(urls):
        args = ["--root-key-file", root_key] + (["--database-url", url] if url else [])
        proc, addr = serve(str(Path(tmp) / f"{name}-{i}"), args)
        procs.append(proc)
        addrs.append(addr)
    token = (Path(tmp) / f"{name}-0" / "admin-token").read_text().strip()
    key = json.loads(call(addrs[0], "/v0/keys", token, {"keySpec": "RSA_3072"}))["keyId"]
    return procs, addrs, token, key


def main():
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "cipherdrop-server", "--bin", "cipherdrop",
                    "--example", "unwrap_bench"], cwd=ROOT, check=True)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        pg = Postgres(tmp)
        try:
            for name in TARGETS:
                procs, addrs, token, key = deployment(name, tmp, pg)
                try:
                    results += measure(name, addrs, token, key)
                finally:
                    for p in procs:
                        p.terminate()
                        p.wait()
        finally:
            pg.stop()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "results.json"
    old = json.loads(path.read_text()) if path.exists() else []
    names = {r["name"] for r in results}
    kept = [r for r in old if r["name"] not in names and "key server unwrap" not in r["name"]
            and "aws-lc-rs RSA-3072" not in r["name"]]
    path.write_text(json.dumps(kept + results, indent=2) + "\n")
    print(f"\n{'measure':72} {'value':>12} {'ratio':>7}  target")
    for r in results:
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.3f}"
        verdict = "" if "met" not in r else f"{'MET' if r['met'] else 'NOT MET'} ({r['target']})"
        print(f"{r['name']:72} {str(r['value']) + ' ' + r['unit']:>12} {ratio:>7}  {verdict}")


if __name__ == "__main__":
    main()
