#!/usr/bin/env python3
"""Native benchmark of `cipherdrop encrypt` / `decrypt` (not a test; never gates CI).

Streams a 1 GiB plaintext at 64 KiB frames through the release CLI for both suites and
compares throughput with `openssl speed -evp aes-256-gcm` (single core, 64 KiB blocks)
measured in the same run. Also records the peak resident memory of `cipherdrop decrypt`.
Prints a table and writes target/bench/results.json (one entry per measure).
"""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "cipherdrop"
OUT = ROOT / "target" / "bench"
SIZE = int(os.environ.get("BENCH_BYTES", 1 << 30))
FRAME = 64 * 1024
KEY = f"bench/key={ROOT / 'tests' / 'data' / 'rsa-2048.pem'}"


def run(cmd, stdin_path, stdout_path):
    """Runs cmd with files as stdin/stdout; returns (seconds, peak RSS in bytes)."""
    with open(stdin_path, "rb") as fin, open(stdout_path, "wb") as fout:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=fin, stdout=fout)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
    if status != 0:
        sys.exit(f"bench: {' '.join(map(str, cmd))} failed with status {status}")
    return elapsed, usage.ru_maxrss * 1024


def openssl_speed():
    """AES-256-GCM MB/s of `openssl speed`, one core, 64 KiB blocks."""
    out = subprocess.run(
        ["openssl", "speed", "-evp", "aes-256-gcm", "-bytes", str(FRAME), "-seconds", "3"],
        capture_output=True, text=True, check=True,
    ).stdout
    line = next(l for l in out.splitlines() if l.lower().startswith("aes-256-gcm"))
    kbytes_per_s = float(re.findall(r"([\d.]+)k", line)[-1])
    return kbytes_per_s * 1000 / 1e6


def main():
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "cipherdrop-server"], cwd=ROOT, check=True)
    OUT.mkdir(parents=True, exist_ok=True)
    plain = OUT / "plain.bin"
    if not plain.exists() or plain.stat().st_size != SIZE:
        with open(plain, "wb") as f:
            block = os.urandom(1 << 20)
            for _ in range(SIZE >> 20):
                f.write(block)
    # Warm the page cache: the first encrypt would otherwise time the disk.
    with open(plain, "rb") as f:
        while f.read(1 << 24):
            pass
    mb = SIZE / 1e6
    baseline = openssl_speed()
    results = [{"name": "openssl speed -evp aes-256-gcm (64 KiB, 1 core)", "value": round(baseline, 1),
                "unit": "MB/s", "baseline": None, "ratio": None}]
    for suite in ("0x0478", "0x0578"):
        msg = OUT / f"message-{suite}.bin"
        encrypt = [BIN, "encrypt", "--rsa-key", KEY, "--suite", suite, "--frame-length", str(FRAME)]
        # Timed into /dev/null, as decrypt is: writing 1 GiB to disk would measure the disk.
        enc_s, _ = run(encrypt, plain, "/dev/null")
        run(encrypt, plain, msg)
        dec_s, rss = run([BIN, "decrypt", "--rsa-key", KEY], msg, "/dev/null")
        for op, secs in (("encrypt", enc_s), ("decrypt", dec_s)):
            rate = mb / secs
            results.append({"name": f"cipherdrop {op} {suite} 1 GiB stream, 64 KiB frames",
                            "value": round(rate, 1), "unit": "MB/s",
                            "baseline": "openssl speed -evp aes-256-gcm", "ratio": round(rate / baseline, 3)})
        results.append({"name": f"cipherdrop decrypt {suite} peak RSS", "value": rss, "unit": "bytes",
                        "baseline": "plaintext size", "ratio": round(rss / SIZE, 5)})
        msg.unlink()
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{'measure':60} {'value':>14} {'ratio':>8}")
    for r in results:
        value = f"{r['value'] / 2**20:.1f} MiB" if r["unit"] == "bytes" else f"{r['value']} {r['unit']}"
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.3f}"
        print(f"{r['name']:60} {value:>14} {ratio:>8}")
    print(f"\nratios: throughput / openssl (same machine, same run); RSS / {SIZE >> 20} MiB input")


if __name__ == "__main__":
    main()
