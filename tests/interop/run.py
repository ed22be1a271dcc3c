#!/usr/bin/env python3
"""Interop tests: the cipherdrop CLI against the official AWS Encryption SDKs.

Each case encrypts with one party and decrypts with another, both for real: `cli` (our binary),
`py` (aws-encryption-sdk, in this process) and `node` (@aws-crypto/client-node, one long-lived
helper process, tests/interop/node/helper.js). Run from the repository root:

    build/venv/bin/python tests/interop/run.py --cli target/debug/cipherdrop

`--directions py:node,node:py` checks the harness against the two official SDKs alone.
"""

import argparse
import base64
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import aws_encryption_sdk
from aws_encryption_sdk.exceptions import InvalidKeyIdError
from aws_encryption_sdk.identifiers import (
    Algorithm,
    CommitmentPolicy,
    EncryptionKeyType,
    WrappingAlgorithm,
)
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.base import MasterKeyProvider, MasterKeyProviderConfig
from aws_encryption_sdk.key_providers.raw import RawMasterKey
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = Path(__file__).resolve().parent / "node"
KEY_DIR = ROOT / "build" / "interop" / "keys"
PUBLIC_KEY_ENTRY = "aws-crypto-public-key"  # reserved context key of the signed suite 0x0578

# Matrix dimensions.
SUITES = (0x0478, 0x0578)
FRAMES = (128, 4096, 65536, 1 << 20)
SIZES = (lambda f: 0, lambda f: 1, lambda f: f - 1, lambda f: f, lambda f: f + 1,
         lambda f: 3 * f + 7)
CONTEXTS = {
    "empty": {},
    "unicode": {
        "ключ": "значение",
        "鍵": "値、中文字符",
        "emoji 🔐": "🦀🚀 ✨",
        "ascii": "a=b, c",  # a value may hold '='; the CLI splits at the first one
    },
    "many": {f"key-{i:02}": f"value {i} " + "x" * i for i in range(40)},
    "reserved": {PUBLIC_KEY_ENTRY: "AAAA"},  # not in the matrix: encrypt must refuse it
}
MATRIX_CONTEXTS = ("empty", "unicode", "many")
KEYSETS = (("2048",), ("3072",), ("4096",), ("2048", "3072", "4096"))
OAEP = ("sha1", "sha256", "sha384", "sha512")
IOS = ("pipe", "dash", "file")  # how the CLI reads and writes: stdin/stdout, `-`, -i/-o FILE
# Key label -> modulus bits; "other" is in no message and must not decrypt anything.
KEY_BITS = {"2048": 2048, "3072": 3072, "4096": 4096, "other": 2048}
PEM_KINDS = ("pk8", "pk1", "pub")  # private PKCS#8, private PKCS#1, public SPKI


class Failure(Exception):
    """The case failed: a party misbehaved or the results differ."""


class Refused(Exception):
    """A party refused cleanly: the expected outcome of a negative case, a failure otherwise."""


def check(cond, msg):
    if not cond:
        raise Failure(msg)


@dataclass(frozen=True)
class Case:
    name: str
    suite: int = 0x0578
    frame: int = 4096
    size: int = 1000
    ctx: str = "unicode"
    keys: tuple = ("2048",)
    dec_keys: tuple = None  # default: same as keys
    oaep: str = "sha256"
    dec_oaep: str = None  # default: same as oaep
    enc_pem: str = "pk8"
    dec_pem: str = "pk8"
    io: str = "pipe"
    require: dict = None  # `--context` pairs for the CLI decrypt; None: the whole context
    tamper: str = None  # "frame": flip a bit in the last frame; "signature": in the footer
    allow_legacy: bool = False  # CLI decrypt --allow-legacy
    expect: str = "ok"  # or "encrypt fails" / "decrypt fails"


# ---------------------------------------------------------------------------------------- keys

def key_path(label, kind):
    return KEY_DIR / f"rsa-{label}.{kind}.pem"


def key_spec(label, kind):
    """(namespace, name, PEM path); the name holds a '/' since NAME runs to the first '='."""
    return (f"interop-{label}", f"keys/rsa-{label}", key_path(label, kind))


def ensure_keys():
    KEY_DIR.mkdir(parents=True, exist_ok=True)
    for label, bits in KEY_BITS.items():
        if all(key_path(label, kind).exists() for kind in PEM_KINDS):
            continue
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        private = serialization.PrivateFormat
        pems = {
            "pk8": key.private_bytes(serialization.Encoding.PEM, private.PKCS8,
                                     serialization.NoEncryption()),
            "pk1": key.private_bytes(serialization.Encoding.PEM, private.TraditionalOpenSSL,
                                     serialization.NoEncryption()),
            "pub": key.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo),
        }
        for kind, pem in pems.items():
            tmp = key_path(label, kind).with_suffix(".tmp")
            tmp.write_bytes(pem)
            tmp.replace(key_path(label, kind))


# ------------------------------------------------------------------------------------- parties

class Cli:
    name = "cli"

    def __init__(self, path, workdir):
        self.path = Path(path).resolve()
        self.workdir = workdir

    def encrypt(self, case, pt):
        args = ["encrypt", "--suite", f"0x{case.suite:04x}", "--frame-length", str(case.frame)]
        args += [f"--context={k}={v}" for k, v in CONTEXTS[case.ctx].items()]
        return self._run(case, args, case.keys, case.enc_pem, case.oaep, pt, "encrypt")

    def decrypt(self, case, ct):
        require = CONTEXTS[case.ctx] if case.require is None else case.require
        args = ["decrypt"] + [f"--context={k}={v}" for k, v in require.items()]
        args += ["--allow-legacy"] if case.allow_legacy else []
        keys, oaep = case.dec_keys or case.keys, case.dec_oaep or case.oaep
        return self._run(case, args, keys, case.dec_pem, oaep, ct, "decrypt"), None

    def _run(self, case, args, keys, pem, oaep, data, op):
        args += [f"--rsa-key={ns}/{name}={path}" for ns, name, path in
                 (key_spec(k, pem) for k in keys)]
        args += ["--oaep", oaep]
        stdin = data
        with tempfile.TemporaryDirectory(dir=self.workdir) as tmp:
            src, dst = Path(tmp, "in"), Path(tmp, "out")
            if case.io == "dash":
                args += ["-i", "-", "-o", "-"]
            elif case.io == "file":
                src.write_bytes(data)
                args += ["-i", str(src), "-o", str(dst)]
                stdin = b""
            cmd = [str(self.path).encode()] + [a.encode() for a in args]
            p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=600)
            err = p.stderr.decode(errors="replace").strip()
            if p.returncode != 0:
                check(err and "\n" not in err, f"cli {op}: error is not one line: {err!r}")
                check(case.io != "file" or not dst.exists() or dst.stat().st_size == 0,
                      f"cli {op} exited {p.returncode} but left "
                      f"{dst.stat().st_size if dst.exists() else 0} bytes in -o FILE")
                raise Refused(f"cli {op} exited {p.returncode}: {err}")
            if case.io != "file":
                return p.stdout
            check(not p.stdout, f"cli {op} -o FILE also wrote {len(p.stdout)} bytes to stdout")
            return dst.read_bytes()


class _Keys(MasterKeyProvider):
    """Holds several RawMasterKeys (one per raw RSA key) as one provider."""

    provider_id = "cipherdrop-interop"
    _config_class = MasterKeyProviderConfig
    vend_masterkey_on_decrypt = False

    def _new_master_key(self, key_id):
        raise InvalidKeyIdError(key_id)


class Py:
    name = "py"
    WRAPPING = {h: getattr(WrappingAlgorithm, f"RSA_OAEP_{h.upper()}_MGF1") for h in OAEP}
    ALGORITHMS = {a.algorithm_id: a for a in Algorithm}

    def __init__(self):
        self.client = aws_encryption_sdk.EncryptionSDKClient(
            commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
        # Only to make a legacy (non-committing) message that the CLI must refuse.
        self.legacy = aws_encryption_sdk.EncryptionSDKClient(
            commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT)

    def provider(self, keys, pem, oaep):
        provider = _Keys()
        key_type = EncryptionKeyType.PUBLIC if pem == "pub" else EncryptionKeyType.PRIVATE
        for ns, name, path in (key_spec(k, pem) for k in keys):
            wrapping_key = WrappingKey(self.WRAPPING[oaep], path.read_bytes(), key_type)
            provider.add_master_key_provider(
                RawMasterKey(provider_id=ns, key_id=name.encode(), wrapping_key=wrapping_key))
        return provider

    def encrypt(self, case, pt):
        algorithm = self.ALGORITHMS[case.suite]
        client = self.client if algorithm.is_committing() else self.legacy
        ct, header = client.encrypt(
            source=pt,
            key_provider=self.provider(case.keys, case.enc_pem, case.oaep),
            encryption_context=CONTEXTS[case.ctx],
            frame_length=case.frame,
            algorithm=algorithm)
        return ct

    def decrypt(self, case, ct):
        provider = self.provider(case.dec_keys or case.keys, case.dec_pem,
                                 case.dec_oaep or case.oaep)
        pt, header = self.client.decrypt(source=ct, key_provider=provider)
        return pt, dict(context=header.encryption_context, suite=header.algorithm.algorithm_id,
                        frame=header.frame_length)


class Node:
    """@aws-crypto/client-node in one helper process; requests are matched to answers by id."""

    name = "node"

    def __init__(self):
        check((NODE_DIR / "node_modules").is_dir(), f"run `npm ci` in {NODE_DIR} first")
        self.proc = subprocess.Popen(["node", str(NODE_DIR / "helper.js")], cwd=NODE_DIR,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.lock = threading.Lock()
        self.ids = itertools.count()
        self.pending = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            res = json.loads(line)
            with self.lock:
                self.pending.pop(res["id"]).set_result(res)
        with self.lock:
            for fut in self.pending.values():
                fut.set_exception(Failure("node helper exited"))

    def call(self, op, keys, pem, oaep, data, **extra):
        fut = Future()
        with self.lock:
            req_id = next(self.ids)
            self.pending[req_id] = fut
            req = dict(id=req_id, op=op, oaep=oaep, data=base64.b64encode(data).decode(),
                       keys=[dict(namespace=ns, name=name, pem=str(path))
                             for ns, name, path in (key_spec(k, pem) for k in keys)], **extra)
            self.proc.stdin.write(json.dumps(req).encode() + b"\n")
            self.proc.stdin.flush()
        res = fut.result(timeout=600)
        if not res["ok"]:
            raise Refused(f"node {op}: {res['error']}")
        return base64.b64decode(res["data"]), res["header"]

    def encrypt(self, case, pt):
        return self.call("encrypt", case.keys, case.enc_pem, case.oaep, pt,
                         context=CONTEXTS[case.ctx], frameLength=case.frame, suiteId=case.suite)[0]

    def decrypt(self, case, ct):
        return self.call("decrypt", case.dec_keys or case.keys, case.dec_pem,
                         case.dec_oaep or case.oaep, ct)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


# --------------------------------------------------------------------------------------- cases

def matrix(d):
    """Direction number d's covering design: every (suite, frame length, size) triple once;
    contexts, key sets, OAEP hashes and CLI I/O modes rotate so that each value occurs in every
    direction and the rotation differs between directions."""
    for i, (suite, frame, size) in enumerate(itertools.product(SUITES, FRAMES, SIZES)):
        ctx = MATRIX_CONTEXTS[(i + i // len(SIZES) + d) % len(MATRIX_CONTEXTS)]
        keys = KEYSETS[(i + d) % len(KEYSETS)]
        oaep = OAEP[(i + i // len(OAEP) + d) % len(OAEP)]
        io = IOS[(i // 2 + d) % len(IOS)]
        n = size(frame)
        yield Case(f"{suite:04x}_f{frame}_p{n}_{ctx}_rsa{'+'.join(keys)}_{oaep}_{io}",
                   suite=suite, frame=frame, size=n, ctx=ctx, keys=keys, oaep=oaep, io=io)


def special(enc, dec):
    """Named cases of one direction: key choice and PEM kinds; for a CLI encrypt or decrypt, what
    it must refuse (cleanly: one-line error, nothing left in -o FILE); --context on decrypt."""
    all3 = ("2048", "3072", "4096")
    cases = [
        Case("only_third_of_three_keys", keys=all3, dec_keys=("4096",), oaep="sha512"),
        Case("encrypt_with_public_key_pem", enc_pem="pub", keys=all3, oaep="sha1"),
        Case("decrypt_with_pkcs1_pem", dec_pem="pk1", keys=("3072",), oaep="sha384"),
    ]
    if enc == "cli":
        cases.append(Case("reserved_context_key_rejected", ctx="reserved",
                          expect="encrypt fails"))
    if dec == "cli":
        fails = "decrypt fails"
        frames_ok = dict(frame=128, size=1000, io="file")  # 8 frames
        frames = dict(frames_ok, expect=fails)
        cases += [
            Case("decrypt_to_output_file", size=3 * 4096 + 7, io="file"),
            Case("require_context_present", require={"ключ": "значение"}, io="file"),
            Case("require_context_absent", require={"ключ": "значение", "absent": "x"},
                 io="file", expect=fails),
            Case("require_context_differs", require={"ключ": "другое"}, io="file",
                 expect=fails),
            Case("wrong_key", dec_keys=("other",), io="file", expect=fails),
            Case("wrong_oaep_hash", oaep="sha256", dec_oaep="sha1", io="file", expect=fails),
            Case("tampered_last_frame", suite=0x0478, tamper="frame", **frames),
            Case("tampered_signature", suite=0x0578, tamper="signature", **frames),
        ]
        if enc == "py":  # message format 1.0, non-committing
            cases += [
                Case("legacy_suite_0378_rejected", suite=0x0378, io="file", expect=fails),
                Case("legacy_suite_0378_allowed", suite=0x0378, allow_legacy=True, **frames_ok),
                Case("legacy_suite_0178_allowed", suite=0x0178, allow_legacy=True, **frames_ok),
                # frame_length 0: the non-framed content type, which readers must still accept.
                Case("non_framed_0578", suite=0x0578, frame=0, size=1000, io="file"),
                Case("non_framed_0478", suite=0x0478, frame=0, size=1000, io="file"),
            ]
    return cases


def check_coverage(cases):
    """The covering design's promises, checked rather than trusted."""
    for dim, values in (("suite", SUITES), ("frame", FRAMES), ("oaep", OAEP), ("io", IOS),
                        ("keys", KEYSETS), ("ctx", MATRIX_CONTEXTS)):
        seen = {getattr(c, dim) for c in cases}
        check(seen >= set(values), f"matrix misses {dim} {set(values) - seen}")
    triples = {(c.suite, c.frame, c.size) for c in cases}
    check(len(triples) == len(SUITES) * len(FRAMES) * len(SIZES), "matrix misses a triple")


# -------------------------------------------------------------------------------------- runner

def tamper(case, ct):
    """Flip one bit: in the last frame's content (unsigned suites: the message ends with its
    16-byte tag), or in the last byte of the message (signed suites: the footer's signature)."""
    ct = bytearray(ct)
    if case.tamper == "frame":
        check(case.suite == 0x0478 and case.size > 0, "tamper=frame needs unsigned content")
        ct[len(ct) - 16 - (case.size % case.frame or case.frame)] ^= 1
    else:
        ct[-1] ^= 1
    return bytes(ct)


def run_case(case, enc, dec):
    pt = random.Random(case.name).randbytes(case.size)
    try:
        ct = enc.encrypt(case, pt)
    except Refused:
        if case.expect == "encrypt fails":
            return
        raise
    check(case.expect != "encrypt fails", f"{enc.name} encrypt succeeded, must fail")
    if case.tamper:
        ct = tamper(case, ct)
    try:
        out, header = dec.decrypt(case, ct)
    except Refused:
        if case.expect == "decrypt fails":
            return
        raise
    check(case.expect == "ok", f"{dec.name} decrypt succeeded, must fail")
    if out != pt:
        diff = next((i for i, (a, b) in enumerate(zip(out, pt)) if a != b), min(len(out), len(pt)))
        raise Failure(f"plaintext differs: got {len(out)} bytes, want {len(pt)}; "
                      f"first difference at offset {diff}")
    if header is None:  # the CLI reports nothing but the plaintext
        return
    check(header["suite"] == case.suite, f"{dec.name} reports suite 0x{header['suite']:04x}, "
                                         f"want 0x{case.suite:04x}")
    check(header["frame"] == case.frame, f"{dec.name} reports frame length {header['frame']}, "
                                         f"want {case.frame}")
    ctx = dict(header["context"])
    public_key = ctx.pop(PUBLIC_KEY_ENTRY, None)
    check(ctx == CONTEXTS[case.ctx], f"{dec.name} reports context {ctx!r}")
    check((public_key is not None) == (case.suite == 0x0578),
          f"{dec.name} reports {PUBLIC_KEY_ENTRY}={public_key!r} for suite 0x{case.suite:04x}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cli", default=str(ROOT / "target" / "debug" / "cipherdrop"))
    ap.add_argument("--directions", default="cli:py,cli:node,py:cli,node:cli",
                    help="comma-separated ENCRYPTOR:DECRYPTOR pairs of cli, py, node")
    ap.add_argument("--filter", default="", help="run only cases whose name contains this")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    start = time.monotonic()
    directions = [tuple(d.split(":")) for d in args.directions.split(",")]

    results = []  # (name, error or None)

    def report(name, err):
        results.append((name, err))
        print(f"test {name} ... {'ok' if err is None else 'FAILED'}", flush=True)
        if err:
            print(f"    {err.splitlines()[0][:500]}", flush=True)

    if any("cli" in d for d in directions) and not os.access(args.cli, os.X_OK):
        report("interop::cli_binary", f"no executable CLI at {args.cli}")
        directions = [d for d in directions if "cli" not in d]

    ensure_keys()
    workdir = ROOT / "build" / "interop"
    parties = {"py": Py(), "cli": Cli(args.cli, workdir)}
    if any("node" in d for d in directions):
        try:
            parties["node"] = Node()
        except Failure as e:
            report("interop::node_helper", str(e))
            directions = [d for d in directions if "node" not in d]

    jobs, filtered = [], 0
    for d, (enc, dec) in enumerate(directions):
        cases = list(matrix(d))
        check_coverage(cases)
        for case in cases + special(enc, dec):
            name = f"interop::{enc}_to_{dec}::{case.name}"
            if args.filter in name:
                jobs.append((name, case, parties[enc], parties[dec]))
            else:
                filtered += 1

    def job(case, enc, dec):
        try:
            run_case(case, enc, dec)
        except (Failure, Refused) as e:
            return str(e)
        except Exception as e:  # an SDK's own exception: still this case's failure
            return f"{enc.name}->{dec.name}: {type(e).__name__}: {e}"
        return None

    with ThreadPoolExecutor(args.jobs) as pool:
        futures = [(name, pool.submit(job, case, enc, dec)) for name, case, enc, dec in jobs]
        for name, fut in futures:
            report(name, fut.result())
    if "node" in parties:
        parties["node"].close()

    failed = [name for name, err in results if err]
    if failed:
        print("\nfailures:\n" + "".join(f"    {name}\n" for name in failed))
    print(f"\ntest result: {'FAILED' if failed else 'ok'}. {len(results) - len(failed)} passed; "
          f"{len(failed)} failed; 0 ignored; 0 measured; {filtered} filtered out; "
          f"finished in {time.monotonic() - start:.2f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
