#!/usr/bin/env python3
"""Run the AWS Encryption SDK decrypt vectors in manifest.json through the cipherdrop CLI.

Standard library only:

    build/venv/bin/python tests/vectors/run.py --cli target/debug/cipherdrop [--data DIR]

For each vector and each of its RSA keys, `cipherdrop decrypt -i CT -o OUT --rsa-key
NAMESPACE/NAME=PEM --oaep HASH [--context K=V ...] [--allow-legacy]` must exit 0 and write
exactly the expected plaintext. Each v1 message must also be refused without
`--allow-legacy`. Each negative case must exit non-zero and leave nothing in the output
directory. Prints one libtest-style line per case and a closing `test result:` line; exits
non-zero on any failure.

The data files (ciphertexts, plaintexts, key PEM) are not in this repository: see README.md.
They are looked up in --data, then $CIPHERDROP_VECTORS_DIR, then ../shared/awses-vectors
beside the repository, then build/awses-vectors.
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TIMEOUT_S = 120


def data_dir_candidates(arg):
    if arg:
        return [arg]
    out = []
    if os.environ.get("CIPHERDROP_VECTORS_DIR"):
        out.append(os.environ["CIPHERDROP_VECTORS_DIR"])
    out.append(os.path.join(os.path.dirname(REPO), "shared", "awses-vectors"))
    out.append(os.path.join(REPO, "build", "awses-vectors"))
    return out


def check_files(data, files):
    """Problems with the data directory: missing files or SHA-256 mismatches."""
    problems = []
    for path, f in files.items():
        full = os.path.join(data, path)
        try:
            with open(full, "rb") as fh:
                digest = hashlib.sha256(fh.read()).hexdigest()
        except OSError as e:
            problems.append(f"{path}: {e.strerror}")
            continue
        if digest != f["sha256"]:
            problems.append(f"{path}: SHA-256 {digest} differs from the manifest")
    return problems


def mutate(data, mutation):
    if mutation is None:
        return data
    if mutation["type"] == "flip-bit":
        b = bytearray(data)
        b[mutation["offset"]] ^= 1 << mutation["bit"]
        return bytes(b)
    if mutation["type"] == "truncate":
        return data[:mutation["length"]]
    raise ValueError(f"unknown mutation {mutation['type']}")


class Case:
    """One CLI run and what it must do."""

    def __init__(self, name, vector, key, allow_legacy, expect_plaintext):
        self.name = name
        self.vector = vector
        self.key = key
        self.allow_legacy = allow_legacy
        self.expect_plaintext = expect_plaintext  # path, or None: must fail

    def run(self, cli, data):
        with tempfile.TemporaryDirectory(prefix="cipherdrop-vec-") as tmp:
            ct_path = os.path.join(data, self.vector["ciphertext"])
            if self.vector.get("mutation"):
                with open(ct_path, "rb") as fh:
                    mutated = mutate(fh.read(), self.vector["mutation"])
                ct_path = os.path.join(tmp, "ciphertext")
                with open(ct_path, "wb") as fh:
                    fh.write(mutated)
            out_dir = os.path.join(tmp, "out")
            os.mkdir(out_dir)
            out = os.path.join(out_dir, "plaintext")
            k = self.key
            argv = [cli, "decrypt", "-i", ct_path, "-o", out,
                    "--rsa-key", f"{k['namespace']}/{k['name']}={os.path.join(data, k['pem'])}",
                    "--oaep", k["oaep"]]
            for ck, cv in sorted(self.vector.get("context", {}).items()):
                argv += ["--context", f"{ck}={cv}"]
            if self.allow_legacy:
                argv.append("--allow-legacy")
            try:
                p = subprocess.run(argv, capture_output=True, timeout=TIMEOUT_S,
                                   stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                return f"timed out after {TIMEOUT_S} s"
            except OSError as e:
                return f"could not run {cli}: {e.strerror}"
            left = sorted(os.listdir(out_dir))
            if self.expect_plaintext is None:
                if p.returncode == 0:
                    return "exit 0, but decryption must fail"
                if left:
                    return f"exit {p.returncode} as expected, but left {', '.join(left)} behind"
                return None
            if p.returncode != 0:
                return f"exit {p.returncode}: {last_line(p.stderr)}"
            if not os.path.exists(out):
                return f"exit 0 but no output file (left: {', '.join(left) or 'nothing'})"
            with open(out, "rb") as fh:
                got = fh.read()
            with open(os.path.join(data, self.expect_plaintext), "rb") as fh:
                want = fh.read()
            if got != want:
                at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b),
                          min(len(got), len(want)))
                return f"plaintext differs: {len(got)} bytes vs {len(want)} expected, " \
                       f"first difference at byte {at}"
            return None


def last_line(stderr):
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "(no stderr)"


def build_cases(manifest):
    cases = []
    for v in manifest["vectors"]:
        multi = len(v["keys"]) > 1
        for k in v["keys"]:
            name = f"vectors::{v['id']}"
            if multi:
                name += f"::{k['name']}/{k['oaep']}"
            cases.append(Case(name, v, k, v["allow_legacy"], v["expect"]["plaintext"]))
        if v["allow_legacy"]:
            cases.append(Case(f"vectors::{v['id']}::refused_without_allow_legacy", v,
                              v["keys"][0], False, None))
    for n in manifest["negative"]:
        cases.append(Case(f"vectors::{n['id']}", n, n["keys"][0], n["allow_legacy"], None))
    return cases


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", default=os.path.join(REPO, "target", "debug", "cipherdrop"),
                    help="cipherdrop binary (default: target/debug/cipherdrop)")
    ap.add_argument("--data", help="data directory (see README.md)")
    ap.add_argument("--manifest", default=os.path.join(HERE, "manifest.json"))
    ap.add_argument("--filter", default="", help="run only cases whose name contains this")
    ap.add_argument("--exclude", action="append", default=[], metavar="TEXT",
                    help="skip cases whose name contains TEXT (repeatable); skipped cases "
                    "are counted as filtered out, not passed")
    ap.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()

    with open(a.manifest) as fh:
        manifest = json.load(fh)
    all_cases = build_cases(manifest)
    cases = [c for c in all_cases
             if a.filter in c.name and not any(x in c.name for x in a.exclude)]
    filtered = len(all_cases) - len(cases)

    setup_failures = []
    cli = os.path.abspath(a.cli)
    if not (os.path.isfile(cli) and os.access(cli, os.X_OK)):
        setup_failures.append(("vectors::cli", f"no executable at {cli}"))
    data = next((d for d in data_dir_candidates(a.data) if os.path.isdir(d)), None)
    if data is None:
        setup_failures.append(("vectors::data", "no data directory; tried "
                               + ", ".join(data_dir_candidates(a.data))))
    else:
        problems = check_files(data, manifest["files"])
        if problems:
            setup_failures.append(("vectors::data", f"{data}: {problems[0]}"
                                   + (f" (+{len(problems) - 1} more)" if len(problems) > 1
                                      else "")))

    if setup_failures:
        print(f"\nrunning 0 tests ({len(cases)} not run)")
        for name, why in setup_failures:
            print(f"test {name} ... FAILED ({why})")
        print(f"\ntest result: FAILED. 0 passed; {len(setup_failures)} failed; 0 ignored")
        return 1

    print(f"\nrunning {len(cases)} tests (data: {data})")
    failed = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
        for case, why in zip(cases, pool.map(lambda c: c.run(cli, data), cases)):
            if why is None:
                print(f"test {case.name} ... ok", flush=True)
            else:
                print(f"test {case.name} ... FAILED ({why})", flush=True)
                failed.append(case.name)
    if failed:
        print("\nfailures:")
        for name in failed:
            print(f"    {name}")
    status = "FAILED" if failed else "ok"
    print(f"\ntest result: {status}. {len(cases) - len(failed)} passed; {len(failed)} failed; "
          f"0 ignored; 0 measured; {filtered} filtered out")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
