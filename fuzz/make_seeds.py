#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets: fuzz/seeds/{decrypt,unwrap_header,policy}/.

Messages come from the cipherdrop CLI (format 2.0, one or two EDKs) and from the official
Python AWS Encryption SDK (format 1.0 suites, non-framed bodies, an encryption context that is
authenticated but not stored, and messages whose data key is all zeros). Every message is
wrapped for the key the `decrypt` harness holds: namespace "fuzz", name "key",
tests/data/rsa-2048.pem, RSA-OAEP-SHA256 (two-EDK messages first hold one for rsa-3072.pem under
the same name). Each `decrypt` seed is the harness's option prefix (see the layout at the top of
fuzz/fuzz_targets/decrypt.rs) followed by a message. Run from the repository root after
`cargo build -p cipherdrop-server` and `make setup` (build/venv):

    build/venv/bin/python fuzz/make_seeds.py [--cli target/debug/cipherdrop] [--policy-only]

Messages are random (fresh data keys), so a rerun rewrites the generated seeds with different
bytes; the seeds named m1..m24 (CLI messages from the first version of the target, given a
zero flags byte when the option prefix came) are left alone, and so is fuzz/regressions/.
"""

import argparse
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import aws_encryption_sdk
from aws_encryption_sdk.identifiers import (
    Algorithm,
    CommitmentPolicy,
    EncryptionKeyType,
    WrappingAlgorithm,
)
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.internal.formatting.deserialize import (
    deserialize_header,
    deserialize_header_auth,
)
from aws_encryption_sdk.key_providers.raw import RawMasterKey
from aws_encryption_sdk.materials_managers.default import DefaultCryptoMaterialsManager
from aws_encryption_sdk.structures import DataKey, RawDataKey

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "fuzz" / "seeds"
KEY_2048 = ROOT / "tests" / "data" / "rsa-2048.pem"
KEY_3072 = ROOT / "tests" / "data" / "rsa-3072.pem"

# Flags of byte 1 of a `decrypt` seed (fuzz/fuzz_targets/decrypt.rs).
PLAIN, OPEN_JOB, EXTERNAL, DELEGATED = 0, 1, 2, 3
STRICT, REFUSE_SIGNED, CONTEXT, LIMITS, MULTI, NONE_BODY = 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
MODES = (PLAIN, OPEN_JOB, EXTERNAL, DELEGATED)

PLAINTEXT = bytes(i * 31 % 251 for i in range(300))
CONTEXT_PAIRS = {"owner": "alice", "purpose": "fuzz"}
FORMAT_1 = (0x0014, 0x0046, 0x0078, 0x0114, 0x0146, 0x0178, 0x0214, 0x0346, 0x0378)
FORMAT_2 = (0x0478, 0x0578)
SIGNED = {0x0214, 0x0346, 0x0378, 0x0578}


# ---------------------------------------------------------------------------------- messages

def cli_encrypt(cli, suite, frame, plaintext, keys=(KEY_2048,), context=CONTEXT_PAIRS):
    args = [str(cli), "encrypt", "--suite", f"0x{suite:04x}", "--frame-length", str(frame)]
    args += [f"--context={k}={v}" for k, v in context.items()]
    args += [f"--rsa-key=fuzz/key={path}" for path in keys]
    return subprocess.run(args, input=plaintext, capture_output=True, check=True).stdout


class ZeroKey(RawMasterKey):
    """A raw RSA master key whose data keys are all zeros (then wrapped as usual)."""

    def _generate_data_key(self, algorithm, encryption_context):
        plaintext = bytes(algorithm.kdf_input_len)
        edk = self._encrypt_data_key(
            data_key=RawDataKey(key_provider=self.key_provider, data_key=plaintext),
            algorithm=algorithm, encryption_context=encryption_context)
        return DataKey(key_provider=edk.key_provider, data_key=plaintext,
                       encrypted_data_key=edk.encrypted_data_key)


def master_key(cls=RawMasterKey):
    wrapping = WrappingKey(WrappingAlgorithm.RSA_OAEP_SHA256_MGF1, KEY_2048.read_bytes(),
                           EncryptionKeyType.PRIVATE)
    return cls(provider_id="fuzz", key_id=b"key", wrapping_key=wrapping)


class _AuthOnly:
    """Encryption materials that mark some context keys as authenticated but not stored."""

    def __init__(self, inner, keys):
        self._inner = inner
        self.required_encryption_context_keys = keys

    def __getattr__(self, name):
        return getattr(self._inner, name)


class AuthOnlyCmm(DefaultCryptoMaterialsManager):
    """The default CMM, except that `keys` of the context are only authenticated (what the
    required-encryption-context CMM of the Material Providers Library does)."""

    def __init__(self, key, keys):
        super().__init__(master_key_provider=key)
        self._keys = keys

    def get_encryption_materials(self, request):
        return _AuthOnly(super().get_encryption_materials(request), self._keys)


def py_encrypt(suite, frame, plaintext, context=CONTEXT_PAIRS, key_cls=RawMasterKey,
               auth_only=None):
    algorithm = next(a for a in Algorithm if a.algorithm_id == suite)
    policy = (CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT if algorithm.is_committing()
              else CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT)
    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=policy)
    key = master_key(key_cls)
    kwargs = dict(source=plaintext, encryption_context=dict(context), frame_length=frame,
                  algorithm=algorithm)
    if auth_only:
        kwargs["materials_manager"] = AuthOnlyCmm(key, list(auth_only))
    else:
        kwargs["key_provider"] = key
    ciphertext, _ = client.encrypt(**kwargs)
    return ciphertext


def header_len(message):
    stream = io.BytesIO(message)
    header, _ = deserialize_header(stream)
    deserialize_header_auth(header.version, stream, header.algorithm)
    return stream.tell()


# ------------------------------------------------------------------------------------- seeds

def limits(edks=10, header=256 * 1024, frame=64 * 1024 * 1024, context=65535):
    """The 8 limit bytes; values above what the encoding holds are clamped to its largest."""
    header = min(header // 8, 0xFFFF)
    frame = min(frame, 0xFFFFFF)
    return (bytes([edks % 16]) + header.to_bytes(2, "big") + frame.to_bytes(3, "big")
            + min(context, 0xFFFF).to_bytes(2, "big"))


def expected(pairs):
    out = bytes([len(pairs)])
    for k, v in pairs.items():
        kb, vb = k.encode(), v.encode()
        assert len(kb) < 32 and len(vb) < 64 and len(pairs) < 4
        out += bytes([len(kb)]) + kb + bytes([len(vb)]) + vb
    return out


def seed(chunk, flags, message, context=None, limit=None):
    flags |= (CONTEXT if context is not None else 0) | (LIMITS if limit is not None else 0)
    out = bytes([chunk, flags])
    out += expected(context) if context is not None else b""
    out += limit if limit is not None else b""
    return out + message


def write(target, name, data):
    directory = SEEDS / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)


POLICIES = [
    {"Version": "2026-11-23", "Statement": [
        {"Sid": "AdminFullAccess", "Effect": "Allow", "Principal": "admin", "Action": "*"}]},
    {"Version": "2026-11-23", "Statement": [
        {"Sid": "AdminFullAccess", "Effect": "Allow", "Principal": "admin", "Action": "*"},
        {"Sid": "UsersUseThePublicKey", "Effect": "Allow", "Principal": ["alice", "bob"],
         "Action": ["GetPublicKey", "DescribeKey"]},
        {"Sid": "OwnersUnwrapTheirOwn", "Effect": "Allow", "Principal": "*", "Action": "Unwrap",
         "Condition": {"StringEquals": {"EncryptionContext:owner": "${principal}"}}}]},
    {"Statement": [
        {"Effect": "Allow", "Principal": ["alice", "bob"], "Action": "*"},
        {"Effect": "Deny", "Principal": "bob", "Action": ["Unwrap", "Decrypt"]}]},
    {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "Unwrap", "Condition": {
        "StringLike": {"EncryptionContext:owner": "team-*"},
        "StringNotEquals": {"EncryptionContext:owner": "team-x"}}}]},
    {"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": ["Get*", "Describe?ey"]},
        {"Effect": "Deny", "Principal": "*", "Action": "Unwrap",
         "Condition": {"Null": {"EncryptionContext:owner": "true"}}},
        {"Effect": "Allow", "Principal": "*", "Action": "Unwrap",
         "Condition": {"StringEqualsIgnoreCase": {"EncryptionContext:owner": ["${principal}",
                                                                              "${*}x${?}${$}"]}}}]},
    {"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "Unwrap", "Condition": {
            "ForAllValues:StringLike": {"EncryptionContext:project": ["a*", "b?"]},
            "ForAnyValue:StringEquals": {"EncryptionContext:owner": "${principal}"},
            "StringNotLikeIfExists": {"EncryptionContext:tier": "secret*"}}},
        {"Effect": "Deny", "Principal": "*", "Action": "*", "Condition": {
            "StringNotEqualsIgnoreCaseIfExists": {"EncryptionContext:region": "EU"}}},
        {"Effect": "Deny", "Principal": "mallory", "Action": "*", "Condition": {}}]},
    # The AWS grammar (README "Key policy semantics"): the default key policy AWS writes.
    {"Version": "2012-10-17", "Id": "key-default-1", "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*",
         "Resource": "*"}]},
    # IAM ARN principals, action globs, key ARN resources, kms:EncryptionContext keys, Not*.
    {"Version": "2012-10-17", "Statement": [
        {"Sid": "Use", "Effect": "Allow",
         "Principal": {"AWS": ["arn:aws:iam::111122223333:user/alice",
                               "arn:aws:iam::111122223333:role/bob"]},
         "Action": ["kms:Decrypt", "kms:GenerateDataKey*", "kms:Describe*"],
         "Resource": "arn:aws:kms:*:111122223333:key/*",
         "Condition": {"StringEquals": {"kms:EncryptionContext:Dept": "eng"}}},
        {"Sid": "OwnersUnwrap", "Effect": "Allow", "Principal": {"AWS": "*"},
         "Action": "cipherdrop:Unwrap", "Condition": {
             "ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "owner"},
             "StringEquals": {"kms:EncryptionContext:owner": "${principal}"}}},
        {"Sid": "NoOthers", "Effect": "Deny",
         "NotPrincipal": {"AWS": ["111122223333", "arn:aws:iam::111122223333:user/alice"]},
         "NotAction": "kms:Get*",
         "NotResource": "arn:aws:kms:eu-west-1:111122223333:key/"
                        "1234abcd-12ab-34cd-56ef-1234567890ab"}]},
    # Claims, grant operations, request keys, ARN and Bool operators, other principal types.
    {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "kms:CreateGrant", "Condition": {
            "ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt", "Encrypt"]},
            "Bool": {"kms:GrantIsForAWSResource": False}}},
        {"Effect": "Allow", "Principal": {"AWS": "*"},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*"], "Condition": {
             "ForAnyValue:StringLike": {"Jwt:groups": "team-*"},
             "BoolIfExists": {"Jwt:email_verified": "true"},
             "StringEqualsIgnoreCase": {"kms:EncryptionAlgorithm": "symmetric_default"}}},
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Sign", "Condition": {
            "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/s*"},
            "StringEquals": {"kms:CallerAccount": "111122223333", "kms:KeySpec": "RSA_3072"}}},
        {"Effect": "Deny", "Principal": {"Service": "ec2.amazonaws.com", "AWS": "444455556666"},
         "Action": "kms:*"},
        {"Effect": "Deny", "Principal": "*", "Action": "KMS:ScheduleKeyDeletion", "Condition": {
            "Null": {"kms:ViaService": "true"},
            "StringNotLike": {"kms:RequestAlias": "alias/keep-*"}}}]},
    # Both grammars in one statement (not a list), null labels of the first.
    {"Version": None, "Statement": {
        "Sid": None, "Effect": "Allow", "Principal": ["alice", "${principal}"],
        "NotAction": ["kms:PutKeyPolicy", "RotateKey"], "Condition": {
            "ArnNotEqualsIfExists": {"aws:PrincipalArn": "arn:aws:iam::111122223333:user/eve"},
            "ForAllValues:StringNotEqualsIgnoreCase": {
                "kms:EncryptionContext:tier": ["SECRET", "top"]}}}},
]


def policy_seeds():
    for i, doc in enumerate(POLICIES):
        write("policy", f"p{i}", json.dumps(doc, indent=1).encode())
    # Duplicate keys: the value path keeps the last, the text path refuses.
    write("policy", "dup", b'{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*",'
          b' "Condition": {"StringEquals": {"EncryptionContext:a": "1"}},'
          b' "Condition": {}}]}')
    # Just over MAX_POLICY_BYTES (32 KiB) as compact JSON: the text path refuses it, the value
    # path (a stored policy) accepts it.
    big = {"Statement": [{"Sid": f"s{i:04}", "Effect": "Allow", "Principal": f"user-{i:04}",
                          "Action": "Unwrap"} for i in range(440)]}
    assert len(json.dumps(big, separators=(",", ":"))) > 32 * 1024
    write("policy", "toolarge", json.dumps(big, separators=(",", ":")).encode())
    write("policy", "unknown", b'{"Statement": [{"Effect": "Allow", "Principal": "*",'
          b' "Action": "Nope", "Extra": 1}]}')
    # Refused by the AWS grammar: a wildcard in a principal ARN, a bare new action (the hint
    # to write it kms:Encrypt), Action and NotAction together.
    write("policy", "aws-refused", json.dumps({"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/*"},
         "Action": "Encrypt"},
        {"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "NotAction": "kms:Sign"}]},
        indent=1).encode())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cli", default=ROOT / "target" / "debug" / "cipherdrop", type=Path)
    parser.add_argument("--policy-only", action="store_true",
                        help="write the policy seeds only (they need neither the CLI nor "
                             "fresh messages)")
    args = parser.parse_args()
    if args.policy_only:
        policy_seeds()
        print("seeds: policy", len(list((SEEDS / "policy").iterdir())))
        return
    cli = args.cli
    if not cli.exists():
        sys.exit(f"{cli} is missing: run `cargo build -p cipherdrop-server` first")

    messages = {}  # name -> (message, suite)
    for suite in FORMAT_2:
        messages[f"cli-{suite:04x}-f64"] = (cli_encrypt(cli, suite, 64, PLAINTEXT), suite)
        messages[f"cli-{suite:04x}-empty"] = (cli_encrypt(cli, suite, 64, b""), suite)
        messages[f"cli-{suite:04x}-oneframe"] = (cli_encrypt(cli, suite, 64, PLAINTEXT[:64]),
                                                 suite)
        messages[f"cli-{suite:04x}-2edk"] = (
            cli_encrypt(cli, suite, 100, PLAINTEXT, keys=(KEY_3072, KEY_2048)), suite)
        messages[f"py-{suite:04x}-nonframed"] = (py_encrypt(suite, 0, PLAINTEXT), suite)
        messages[f"py-{suite:04x}-authonly"] = (
            py_encrypt(suite, 128, PLAINTEXT, auth_only=["purpose"]), suite)
        messages[f"py-{suite:04x}-zerokey"] = (
            py_encrypt(suite, 128, PLAINTEXT[:200], key_cls=ZeroKey), suite)
    for suite in FORMAT_1:
        messages[f"py-{suite:04x}-f128"] = (py_encrypt(suite, 128, PLAINTEXT), suite)
        messages[f"py-{suite:04x}-nonframed"] = (py_encrypt(suite, 0, PLAINTEXT[:100]), suite)
    for suite in (0x0014, 0x0078, 0x0146, 0x0378):
        messages[f"py-{suite:04x}-zerokey"] = (
            py_encrypt(suite, 0, PLAINTEXT[:50], key_cls=ZeroKey), suite)

    for old in (SEEDS / "unwrap_header").glob("*"):
        old.unlink()
    for prefix in ("cli-", "py-", "opt-"):
        for old in (SEEDS / "decrypt").glob(prefix + "*"):
            old.unlink()

    # decrypt: every message in every mode, chunk sizes rotating; then named option cases.
    chunks = (1, 7, 64, 255)
    for i, (name, (message, suite)) in enumerate(sorted(messages.items())):
        for j, mode in enumerate(MODES):
            extra = NONE_BODY if (j + i) % 2 else 0
            context = {"purpose": "fuzz"} if "authonly" in name else None
            write("decrypt", f"{name}-m{mode}",
                  seed(chunks[(i + j) % 4], mode | extra, message, context=context))
    m = {name: message for name, (message, _) in messages.items()}
    cases = {
        # Expected context: stored pairs equal, stored pair different, auth-only pair right,
        # auth-only pair missing or wrong (header tag fails).
        "ctx-match": seed(64, PLAIN, m["cli-0578-f64"], context={"owner": "alice"}),
        "ctx-mismatch": seed(64, OPEN_JOB, m["cli-0478-f64"], context={"owner": "bob"}),
        "ctx-notstored": seed(64, PLAIN, m["cli-0478-f64"], context={"tenant": "acme"}),
        "ctx-authonly-0478": seed(9, EXTERNAL, m["py-0478-authonly"],
                                  context={"purpose": "fuzz"}),
        "ctx-authonly-0578": seed(33, DELEGATED, m["py-0578-authonly"],
                                  context={"purpose": "fuzz", "owner": "alice"}),
        "ctx-authonly-missing": seed(64, PLAIN, m["py-0478-authonly"]),
        "ctx-authonly-wrong": seed(64, OPEN_JOB, m["py-0578-authonly"],
                                   context={"purpose": "other"}),
        # Limits: EDK count, header length, frame length, context length, at and below need.
        "lim-edks-2": seed(50, PLAIN, m["cli-0478-2edk"], limit=limits(edks=2)),
        "lim-edks-1": seed(50, PLAIN, m["cli-0478-2edk"], limit=limits(edks=1)),
        "lim-header-tight": seed(64, PLAIN, m["cli-0578-f64"],
                                 limit=limits(header=header_len(m["cli-0578-f64"]) // 8 * 8)),
        "lim-header-ok": seed(64, OPEN_JOB, m["cli-0578-f64"], limit=limits(header=4096)),
        "lim-frame-64": seed(64, PLAIN, m["cli-0478-f64"], limit=limits(frame=64)),
        "lim-frame-63": seed(64, EXTERNAL, m["cli-0478-f64"], limit=limits(frame=63)),
        "lim-nonframed-300": seed(64, PLAIN, m["py-0478-nonframed"], limit=limits(frame=300)),
        "lim-nonframed-299": seed(64, OPEN_JOB, m["py-0478-nonframed"], limit=limits(frame=299)),
        "lim-context-small": seed(64, PLAIN, m["cli-0478-f64"], limit=limits(context=20)),
        "lim-all-zero": seed(64, PLAIN, m["cli-0578-f64"], limit=bytes(8)),
        # Commitment policy and signed-message refusal.
        "strict-v1": seed(64, STRICT, m["py-0178-f128"]),
        "strict-v2": seed(64, STRICT | OPEN_JOB, m["cli-0478-f64"]),
        "refuse-signed-v2": seed(64, REFUSE_SIGNED, m["cli-0578-f64"]),
        "refuse-signed-v1": seed(64, REFUSE_SIGNED | EXTERNAL, m["py-0378-f128"]),
        "refuse-unsigned": seed(64, REFUSE_SIGNED, m["py-0178-nonframed"]),
        # The multi-keyring: a first unwrap that fails (RSA-3072 key on a 2048 EDK), or
        # succeeds on a 3072 EDK.
        "multi-1edk": seed(64, MULTI, m["cli-0478-f64"]),
        "multi-2edk": seed(64, MULTI | DELEGATED, m["cli-0578-2edk"]),
        "multi-v1": seed(7, MULTI | OPEN_JOB, m["py-0346-f128"]),
        # Everything at once.
        "all": seed(13, MULTI | DELEGATED | NONE_BODY, m["py-0578-authonly"],
                    context={"purpose": "fuzz"}, limit=limits(edks=3, header=8192, frame=128)),
    }
    for name, data in cases.items():
        write("decrypt", f"opt-{name}", data)

    # unwrap_header: each header alone (what a client sends the key server), a few whole
    # messages (bytes after the header), and the zero-key headers whose verify succeeds.
    for name, (message, _) in sorted(messages.items()):
        write("unwrap_header", name, message[:header_len(message)])
    for name in ("cli-0578-2edk", "py-0146-nonframed", "py-0578-zerokey"):
        write("unwrap_header", f"{name}-whole", m[name])

    policy_seeds()
    counts = {t: len(list((SEEDS / t).iterdir())) for t in ("decrypt", "unwrap_header", "policy")}
    print("seeds:", ", ".join(f"{t} {n}" for t, n in counts.items()))


if __name__ == "__main__":
    main()
