#!/usr/bin/env python3
"""Select AWS Encryption SDK decrypt vectors for cipherdrop and lay out their data files.

Standard library only. Reads the upstream repositories as bare git directories (snapshots of
aws/aws-encryption-sdk-dafny and aws/aws-encryption-sdk-c, pinned to the commits below) and

  select   writes tests/vectors/manifest.json (our manifest) and the data directory;
  extract  rebuilds the data directory from the upstream git directories, using only the
           `files` table of the committed manifest, and checks every file's SHA-256.

The data directory (ciphertexts, plaintexts, the RSA key PEM, upstream LICENSE/NOTICE) is not
committed here: see README.md. run.py reads it.

    python3 tests/vectors/upstream.py extract \
        --git aws/aws-encryption-sdk-dafny=/path/to/dafny.git \
        --git aws/aws-encryption-sdk-c=/path/to/c.git --out DATA_DIR
"""

import argparse
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, "manifest.json")

DAFNY = "aws/aws-encryption-sdk-dafny"
CSDK = "aws/aws-encryption-sdk-c"

# Upstream sources. The awslabs/aws-encryption-sdk-test-vectors zips that carry raw RSA
# vectors (python-1.3.7 .. python-2.3.0) are all >= 4 MiB and were absent from the snapshot
# we could read; python-1.3.5.zip (present) is KMS-only. These two official AWS sources carry
# raw RSA OAEP vectors for all eleven ESDK suites instead.
SOURCES = {
    "net-4.0.1": {
        "repo": DAFNY,
        "commit": "864c2e2446ccf8a85ae2394ab53494de4afec8fe",
        "path": "AwsEncryptionSDK/runtimes/net/TestVectorsNative/TestVectors/resources/"
        "v4-Net-4.0.1.zip",
        "zip": True,
        "upstream_manifest": "manifest.json",
        "sdk": "ESDK-NET 4.0.1 (zip v4-Net-4.0.1.zip; its manifest's client field says "
        "ESDK-NET 4.0.0)",
        "manifest_format": "awses-decrypt version 4",
    },
    "dafny-4.1.0": {
        "repo": CSDK,
        "commit": "b353e973347e8d078a5d5297af279a879c5de5ed",
        "path": "tests/TestVectors/from-dafny",
        "zip": False,
        "upstream_manifest": "decrypt-manifest.json",
        "sdk": "aws-encryption-sdk-dafny 4.1.0 (vectors copied into aws-encryption-sdk-c)",
        "manifest_format": "awses-decrypt version 5 (decryption-scenario)",
    },
}

LEGAL = {
    "LICENSE.aws-encryption-sdk-dafny": (DAFNY, SOURCES["net-4.0.1"]["commit"], "LICENSE"),
    "NOTICE.aws-encryption-sdk-dafny": (DAFNY, SOURCES["net-4.0.1"]["commit"], "NOTICE"),
    "LICENSE.aws-encryption-sdk-c": (CSDK, SOURCES["dafny-4.1.0"]["commit"], "LICENSE"),
    "NOTICE.aws-encryption-sdk-c": (CSDK, SOURCES["dafny-4.1.0"]["commit"], "NOTICE"),
}

KEY_PEM = "keys/rsa-4096-private.pem"

DATA_README = """AWS Encryption SDK decrypt test vectors used by cipherdrop's tests/vectors/run.py.

Copied unmodified (the key PEM is the `material` string of `rsa-4096-private` in the upstream
keys.json) from aws/aws-encryption-sdk-dafny and aws/aws-encryption-sdk-c, both Apache-2.0:
see LICENSE.* and NOTICE.* here. Which file came from which repository, commit and path, and
its SHA-256, is listed under `files` in cipherdrop's tests/vectors/manifest.json; its
tests/vectors/upstream.py rebuilds this directory (`extract`). The RSA key is a published
test key: never use it for anything else.
"""
HASHES = ("sha1", "sha256", "sha384", "sha512")
COMMITTING = (0x0478, 0x0578)
SIGNED = (0x0214, 0x0346, 0x0378, 0x0578)


class Git:
    """Reads blobs from bare git directories given as REPO=GITDIR."""

    def __init__(self, pairs):
        self.dirs = dict(p.split("=", 1) for p in pairs)
        self.cache = {}

    def blob(self, repo, commit, path):
        if repo not in self.dirs:
            sys.exit(f"no --git {repo}=GITDIR given")
        out = subprocess.run(
            ["git", f"--git-dir={self.dirs[repo]}", "cat-file", "blob", f"{commit}:{path}"],
            capture_output=True, check=False)
        if out.returncode != 0:
            sys.exit(f"{repo}@{commit}:{path}: {out.stderr.decode().strip()}")
        return out.stdout

    def source_file(self, source, inner):
        """A file of one source: inside its zip, or under its folder."""
        src = SOURCES[source]
        if src["zip"]:
            if source not in self.cache:
                raw = self.blob(src["repo"], src["commit"], src["path"])
                self.cache[source] = zipfile.ZipFile(io.BytesIO(raw))
            return self.cache[source].read(inner)
        return self.blob(src["repo"], src["commit"], f"{src['path']}/{inner}")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def parse_message(b):
    """Offsets of the parts of an ESDK v1/v2 framed message (spec: message-header.md,
    message-body.md, message-footer.md)."""
    o = 0

    def take(n):
        nonlocal o
        if o + n > len(b):
            raise ValueError("truncated")
        o += n
        return b[o - n:o]

    def u16():
        return struct.unpack(">H", take(2))[0]

    def u32():
        return struct.unpack(">I", take(4))[0]

    m = {"version": take(1)[0]}
    if m["version"] == 1:
        take(1)
        m["suite"] = u16()
        m["message_id"] = (o, 16)
        take(16)
    else:
        m["suite"] = u16()
        m["message_id"] = (o, 32)
        take(32)
    aad_len = u16()
    ec = {}
    if aad_len:
        for _ in range(u16()):
            k = take(u16()).decode()
            ec[k] = take(u16()).decode()
    m["ec"] = ec
    m["edks"] = []
    for _ in range(u16()):
        pid = take(u16()).decode()
        info = take(u16())
        take(u16())
        m["edks"].append((pid, info))
    m["content_type"] = take(1)[0]
    if m["version"] == 1:
        take(4)
        iv_len = take(1)[0]
        m["frame_length"] = u32()
        take(iv_len + 16)
    else:
        m["frame_length"] = u32()
        if m["suite"] in COMMITTING:
            m["commitment"] = (o, 32)
            take(32)
        take(16)
    if m["content_type"] != 2:
        raise ValueError("only framed messages are expected here")
    m["first_frame"] = o
    while True:
        start = o
        if u32() == 0xFFFFFFFF:
            u32()
            take(12)
            take(u32())
            take(16)
            m["final_frame"] = (start, o - start)
            break
        take(12 + m["frame_length"] + 16)
    m["body_end"] = o
    if m["suite"] in SIGNED:
        take(u16())
    if o != len(b):
        raise ValueError("trailing bytes")
    m["length"] = len(b)
    return m


def key_entry(namespace, name, oaep, upstream_key, note=None):
    e = {"namespace": namespace, "name": name, "pem": KEY_PEM, "oaep": oaep,
         "upstream_key": upstream_key}
    if note:
        e["note"] = note
    return e


def describe(m):
    return {"message_version": m["version"], "suite": f"0x{m['suite']:04X}",
            "frame_length": m["frame_length"], "signed": m["suite"] in SIGNED,
            "stored_context_keys": sorted(m["ec"])}


def select(git):
    files = {}
    vectors = []
    messages = {}  # our id -> (parsed message, vector)

    def add_file(data_path, source, inner, data=None):
        if data is None:
            data = git.source_file(source, inner)
        files[data_path] = {"source": source, "path": inner, "sha256": sha256(data),
                            "bytes": len(data)}
        return data

    # .NET 4.0.1: every vector with a raw RSA recipient (all are oaep-mgf1).
    src = "net-4.0.1"
    up = json.loads(git.source_file(src, SOURCES[src]["upstream_manifest"]))
    keys = json.loads(git.source_file(src, up["keys"][len("file://"):]))["keys"]
    pem = keys["rsa-4096-private"]["material"].encode()
    add_file(KEY_PEM, src, "keys.json#keys.rsa-4096-private.material", pem)
    for uid, t in up["tests"].items():
        mks = t["master-keys"]
        rsa = [k for k in mks if k.get("encryption-algorithm") == "rsa"]
        if not rsa or any(k.get("padding-algorithm") != "oaep-mgf1" for k in rsa):
            continue
        ct_inner = t["ciphertext"][len("file://"):]
        pt_inner = t["result"]["output"]["plaintext"][len("file://"):]
        ct_path = f"{src}/{ct_inner}"
        pt_path = f"{src}/{pt_inner}"
        ct = add_file(ct_path, src, ct_inner)
        add_file(pt_path, src, pt_inner)
        m = parse_message(ct)
        kents = []
        for k in rsa:
            kid = keys[k["key"]]["key-id"]
            note = None
            if keys[k["key"]]["type"] == "public":
                # The public key's EDK is unwrapped with the matching private key (checked:
                # `openssl pkey -pubout` of rsa-4096-private equals rsa-4096-public).
                note = "EDK wrapped with rsa-4096-public; unwrapped with its private key"
            kents.append(key_entry(k["provider-id"], kid, k["padding-hash"], k["key"], note))
        assert [e["name"].encode() for e in kents] == [i for _, i in m["edks"]], uid
        hashes = "+".join(e["oaep"] for e in kents)
        ctx = {}
        if t["cmm"] == "RequiredEncryptionContext":
            ctx = t["encryption-context"]
        # uid: SUITE-ec_len_N-cmm_NAME-UUID
        tag = "ec" + uid.split("-")[1][-1] + ("-reqec" if ctx else "")
        vid = f"{src}/{m['suite']:04x}-{hashes}-{tag}-{uid.split('-')[3]}"
        v = {"id": vid, "source": src, "upstream_id": uid, "sdk": SOURCES[src]["sdk"],
             "ciphertext": ct_path, "expect": {"plaintext": pt_path}, "keys": kents,
             "context": ctx, "allow_legacy": m["version"] == 1, **describe(m)}
        if ctx:
            v["note"] = ("RequiredEncryptionContext CMM: the context pairs are not stored in "
                         "the header and must be supplied with --context")
        vectors.append(v)
        messages[vid] = (m, v)

    # Dafny 4.1.0: raw RSA oaep-mgf1 scenarios (pkcs1 scenarios only feed negative cases).
    src = "dafny-4.1.0"
    up = json.loads(git.source_file(src, SOURCES[src]["upstream_manifest"]))
    keys = json.loads(git.source_file(src, up["keys"][len("file://"):]))["keys"]
    assert keys["rsa-4096-private"]["material"].encode() == pem
    pkcs1 = {}
    for uid, t in up["tests"].items():
        s = t["decryption-scenario"]
        d = s["decryptKeyDescription"]
        if s["type"] != "positive-esdk" or d["type"] != "raw" or \
                d.get("encryption-algorithm") != "rsa":
            continue
        assert not s["reproduced-encryption-context"]
        ct_inner = s["ciphertext"][len("file://"):]
        pt_inner = s["result"][len("file://"):]
        ct = git.source_file(src, ct_inner)
        m = parse_message(ct)
        kid = keys[d["key"]]["key-id"]
        assert [(d["provider-id"], kid.encode())] == m["edks"], uid
        if d["padding-algorithm"] == "pkcs1":
            pkcs1[m["suite"]] = (uid, ct_inner, ct, m)
            continue
        ct_path = f"{src}/{ct_inner}"
        pt_path = f"{src}/{pt_inner}"
        add_file(ct_path, src, ct_inner, ct)
        add_file(pt_path, src, pt_inner)
        vid = f"{src}/{m['suite']:04x}-{d['padding-hash']}-{uid.split('-')[0]}"
        v = {"id": vid, "source": src, "upstream_id": uid, "sdk": SOURCES[src]["sdk"],
             "ciphertext": ct_path, "expect": {"plaintext": pt_path},
             "keys": [key_entry(d["provider-id"], kid, d["padding-hash"], d["key"])],
             "context": {}, "allow_legacy": m["version"] == 1, **describe(m)}
        vectors.append(v)
        messages[vid] = (m, v)

    vectors.sort(key=lambda v: (v["source"], v["suite"], v["id"]))
    negatives = derive_negatives(messages, pkcs1, add_file)
    return files, vectors, negatives


def derive_negatives(messages, pkcs1, add_file):
    """Negative cases. The reachable upstream manifests have no expected-error vectors for raw
    RSA (the .NET "invalid" set is raw AES only), so these are derived from the upstream
    positive messages by mutation or by wrong decrypt settings, in the spirit of
    0006-awses-message-decryption-generation (tampering, wrong keys)."""
    out = []

    def pick(source, suite, oaep=None, tag=None):
        for vid, (m, v) in sorted(messages.items()):
            if v["source"] != source or m["suite"] != suite:
                continue
            if oaep and v["keys"][0]["oaep"] != oaep:
                continue
            if tag and tag not in vid:
                continue
            return m, v
        raise KeyError((source, suite, oaep, tag))

    def neg(name, base, why, keys=None, mutation=None, context=None, ciphertext=None):
        m, v = base
        out.append({
            "id": f"fail_{name}", "derived_from": v["id"], "source": v["source"],
            "sdk": v["sdk"], "ciphertext": ciphertext or v["ciphertext"],
            "mutation": mutation, "expect": {"error": why},
            "keys": keys if keys is not None else v["keys"][:1],
            "context": v["context"] if context is None else context,
            "allow_legacy": v["allow_legacy"], **describe(m)})

    def flip(offset, why):
        return {"type": "flip-bit", "offset": offset, "bit": 0, "what": why}

    d = "dafny-4.1.0"
    rotate = dict(zip(HASHES, HASHES[1:] + HASHES[:1]))
    for h in HASHES:
        base = pick(d, 0x0478, h)
        k = dict(base[1]["keys"][0], oaep=rotate[h])
        neg(f"wrong_oaep_hash_{h}_as_{rotate[h]}", base,
            f"EDK wrapped with OAEP-{h.upper()}; unwrapping with OAEP-{rotate[h].upper()} "
            "must fail", keys=[k])
    base = pick(d, 0x0578, "sha256")
    neg("wrong_key_name", base, "key name must be the keys manifest's key-id ('rsa-4096'), "
        "not the manifest key entry name: no EDK matches",
        keys=[dict(base[1]["keys"][0], name="rsa-4096-private")])
    base = pick(d, 0x0478, "sha256")
    neg("wrong_namespace", base, "provider ID differs: no EDK matches",
        keys=[dict(base[1]["keys"][0], namespace="aws-raw-vectors-persistant")])
    for suite in (0x0014, 0x0578):
        uid, inner, ct, m = pkcs1[suite]
        path = f"{d}/{inner}"
        add_file(path, d, inner, ct)
        v = {"id": f"{d}/{suite:04x}-pkcs1-{uid.split('-')[0]}", "source": d, "sdk":
             SOURCES[d]["sdk"], "ciphertext": path, "context": {},
             "allow_legacy": m["version"] == 1,
             "keys": [key_entry(m["edks"][0][0], "rsa-4096", "sha1", "rsa-4096-private")]}
        neg(f"pkcs1_edk_refused_{suite:04x}", (m, v), "EDK wrapped with PKCS#1 v1.5 (upstream "
            f"positive vector {uid}); cipherdrop refuses PKCS#1, so OAEP unwrap must fail")
    for suite in (0x0178, 0x0478):
        m, v = base = pick(d, suite, "sha256")
        off = m["message_id"][0] + 3
        neg(f"tampered_message_id_{suite:04x}", base, "header changed: header auth tag fails",
            mutation=flip(off, "message id"))
    for suite in (0x0478, 0x0578):
        m, v = base = pick(d, suite, "sha384")
        neg(f"tampered_commitment_{suite:04x}", base, "commitment key mismatch",
            mutation=flip(m["commitment"][0] + 31, "last byte of the commitment"))
    for suite in (0x0078, 0x0478):
        m, v = base = pick(d, suite, "sha512")
        s, n = m["final_frame"]
        neg(f"tampered_final_frame_tag_{suite:04x}", base, "final frame auth tag fails after "
            "earlier frames decrypted: no plaintext may be left behind",
            mutation=flip(s + n - 1, "last byte of the final frame's auth tag"))
    for suite in (0x0214, 0x0378, 0x0578):
        m, v = base = pick(d, suite, "sha1")
        neg(f"tampered_signature_{suite:04x}", base, "footer signature fails after the whole "
            "body decrypted: no plaintext may be left behind",
            mutation=flip(m["length"] - 1, "last byte of the signature"))
    m, v = base = pick("net-4.0.1", 0x0378, "sha512", "ec2-")
    neg("tampered_first_frame_0378", base, "first frame auth tag fails",
        mutation=flip(m["first_frame"] + 4 + 12 + 5, "a byte of frame 1's ciphertext"))
    for suite in (0x0178, 0x0578):
        m, v = base = pick(d, suite, "sha256")
        neg(f"truncated_last_byte_{suite:04x}", base, "message truncated by one byte",
            mutation={"type": "truncate", "length": m["length"] - 1, "what": "drop last byte"})
    m, v = base = pick(d, 0x0478, "sha1")
    neg("truncated_before_final_frame_0478", base, "message ends before its final frame: "
        "no plaintext may be left behind",
        mutation={"type": "truncate", "length": m["final_frame"][0],
                  "what": "drop the final frame"})
    base = pick("net-4.0.1", 0x0478, "sha512", "reqec")
    neg("required_context_missing_0478", base, "required encryption context not supplied: "
        "header auth fails", context={})
    neg("required_context_wrong_value_0478", base, "required encryption context value "
        "differs: header auth fails", context={"key1": "val1", "key2": "val3"})
    return out


def write_data(git, files, out):
    for path, f in sorted(files.items()):
        if "#" in f["path"]:
            inner, pointer = f["path"].split("#", 1)
            obj = json.loads(git.source_file(f["source"], inner))
            for part in pointer.split("."):
                obj = obj[part]
            data = obj.encode()
        elif f["source"] in SOURCES:
            data = git.source_file(f["source"], f["path"])
        else:
            repo, commit, p = LEGAL[path]
            data = git.blob(repo, commit, p)
        if sha256(data) != f["sha256"]:
            sys.exit(f"{path}: SHA-256 differs from the manifest")
        dest = os.path.join(out, path)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "wb") as fh:
            fh.write(data)
    with open(os.path.join(out, "README.txt"), "w") as fh:
        fh.write(DATA_README)
    print(f"wrote {len(files)} files to {out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["select", "extract"])
    ap.add_argument("--git", action="append", default=[], metavar="OWNER/NAME=GITDIR",
                    help="bare git directory of an upstream repository")
    ap.add_argument("--out", required=True, help="data directory to write")
    a = ap.parse_args()
    git = Git(a.git)
    if a.command == "select":
        files, vectors, negatives = select(git)
        for name, (repo, commit, p) in LEGAL.items():
            data = git.blob(repo, commit, p)
            files[name] = {"source": repo, "commit": commit, "path": p,
                           "sha256": sha256(data), "bytes": len(data)}
        manifest = {
            "manifest": {"type": "cipherdrop-awses-decrypt", "version": 1},
            "about": "AWS Encryption SDK decrypt vectors with a raw RSA oaep-mgf1 recipient; "
                     "see tests/vectors/README.md. Paths are relative to the data directory.",
            "sources": SOURCES,
            "vectors": vectors,
            "negative": negatives,
            "files": dict(sorted(files.items())),
        }
        with open(MANIFEST, "w") as fh:
            json.dump(manifest, fh, indent=1)
            fh.write("\n")
        print(f"{len(vectors)} vectors, {len(negatives)} negative cases -> {MANIFEST}")
    else:
        with open(MANIFEST) as fh:
            files = json.load(fh)["files"]
    write_data(git, files, a.out)


if __name__ == "__main__":
    main()
