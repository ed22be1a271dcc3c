#!/usr/bin/env python3
"""The AWS KMS API of `cipherdrop serve`, judged by clients no one here wrote: boto3, the AWS
CLI, the official AWS Encryption SDK for Python (its KMS master key provider and the
Material Providers Library's AWS KMS keyring) and the official AWS Encryption SDK for
JavaScript (@aws-crypto/client-node's KMS keyring over AWS SDK v3, the npm project in
tests/kms/node, installed by scripts/setup.sh), against a real server on a free loopback port.

    build/venv/bin/python tests/kms/run.py --cli target/debug/cipherdrop

Each case is a function below; the run prints one line per case and a libtest-style
"test result:" line.
"""

import argparse
import base64
import contextlib
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path
from unittest import mock

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
from botocore.config import Config
from botocore.exceptions import ClientError, ParamValidationError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from keyserver import KeyServer, clean_env  # noqa: E402

ACCOUNT = "000000000000"
REGION = "us-east-1"
ADMIN_KEY = ("AKIAADMINFORTESTS000", "admin/test/secret/aaaaaaaaaaaaaaaaaaaaaaaa")
ALICE_KEY = ("AKIAALICEFORTESTS000", "alice/test/secret/aaaaaaaaaaaaaaaaaaaaaaaa")
BOB_KEY = ("AKIABOBFORTESTS00000", "bob/test/secret/aaaaaaaaaaaaaaaaaaaaaaaaaa")

CASES = []


def case(f):
    CASES.append(f)
    return f


NPM_CASES = set()


def npm_case(f):
    """A case of the packed npm package (target/npm/*.tgz): `--no-npm` leaves it out, for runs
    before `scripts/build-pkg.sh --pack` (server/tests/kms.rs, in the cargo suites)."""
    NPM_CASES.add(f.__name__)
    return case(f)


class External(KeyServer):
    """A server someone else started (server/tests/kms.rs, on PostgreSQL): its address, admin
    token and log file."""

    def __init__(self, cli: Path, work: Path, addr: str, admin: str, log: Path):
        self.cli, self.work, self.addr, self.admin, self.log_path = cli, work, addr, admin, log

    def stop(self):
        pass


def client(server, creds=ADMIN_KEY, region=REGION, validate=True):
    return boto3.client(
        "kms", endpoint_url=server.addr, region_name=region,
        aws_access_key_id=creds[0], aws_secret_access_key=creds[1],
        config=Config(parameter_validation=validate, retries={"max_attempts": 1}))


def fails(code, f, *args, **kwargs):
    """Runs f, which must fail with the AWS exception `code`; returns its message."""
    try:
        f(*args, **kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e.response['Error'].get('Message')}"
        return e.response["Error"].get("Message", "")
    raise AssertionError(f"expected {code}, but the call succeeded")


def arn(key_id, region=REGION):
    return f"arn:aws:kms:{region}:{ACCOUNT}:key/{key_id}"


# --- Protocol and authentication -------------------------------------------------------------


@case
def signed_requests_pass_and_bad_signatures_fail(s):
    kms = client(s)
    assert "Keys" in kms.list_keys()
    fails("InvalidSignatureException", client(s, (ADMIN_KEY[0], "wrong" * 8)).list_keys)
    fails("UnrecognizedClientException", client(s, ("AKIAUNKNOWN000000000", "x" * 40)).list_keys)


@case
def an_unsigned_request_is_refused_with_aws_names(s):
    def post(headers, body=b"{}"):
        req = urllib.request.Request(s.addr + "/", data=body, method="POST", headers=headers)
        try:
            urllib.request.urlopen(req)
        except urllib.error.HTTPError as e:
            assert e.headers["Content-Type"] == "application/x-amz-json-1.1"
            return e.code, json.loads(e.read())
        raise AssertionError("an unsigned request was served")
    status, body = post({"X-Amz-Target": "TrentService.ListKeys",
                         "Content-Type": "application/x-amz-json-1.1"})
    assert (status, body["__type"]) == (400, "MissingAuthenticationTokenException"), body
    status, body = post({"X-Amz-Target": "Other.ListKeys",
                         "Content-Type": "application/x-amz-json-1.1"})
    assert body["__type"] == "UnknownOperationException", body


@case
def a_bearer_token_works_as_on_v0(s):
    def post(token):
        req = urllib.request.Request(s.addr + "/", data=b"{}", method="POST", headers={
            "X-Amz-Target": "TrentService.ListKeys", "Authorization": f"Bearer {token}",
            "Content-Type": "application/x-amz-json-1.1"})
        try:
            return json.loads(urllib.request.urlopen(req).read())
        except urllib.error.HTTPError as e:
            return json.loads(e.read())
    assert "Keys" in post(s.admin), post(s.admin)
    assert post("cdt_not-a-token")["__type"] == "UnrecognizedClientException"


@case
def a_signature_ten_minutes_old_is_expired(s):
    creds = botocore.credentials.Credentials(*ADMIN_KEY)
    req = botocore.awsrequest.AWSRequest(
        method="POST", url=s.addr + "/", data=b"{}",
        headers={"X-Amz-Target": "TrentService.ListKeys",
                 "Content-Type": "application/x-amz-json-1.1"})
    import datetime
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)
    with mock.patch("botocore.auth.get_current_datetime", lambda: old.replace(tzinfo=None)):
        botocore.auth.SigV4Auth(creds, "kms", REGION).add_auth(req)
    prepared = req.prepare()
    r = urllib.request.Request(prepared.url, data=prepared.body, method="POST",
                               headers=dict(prepared.headers))
    try:
        urllib.request.urlopen(r)
        raise AssertionError("an expired signature was accepted")
    except urllib.error.HTTPError as e:
        body = json.loads(e.read())
        assert body["__type"] == "InvalidSignatureException", body
        assert "expired" in body["message"].lower(), body


# --- Keys ------------------------------------------------------------------------------------


@case
def create_describe_and_list_symmetric_keys(s):
    kms = client(s)
    m = kms.create_key(Description="first", Tags=[{"TagKey": "team", "TagValue": "a"}])
    m = m["KeyMetadata"]
    assert m["KeySpec"] == "SYMMETRIC_DEFAULT" and m["KeyUsage"] == "ENCRYPT_DECRYPT", m
    assert m["Arn"] == arn(m["KeyId"]) and m["AWSAccountId"] == ACCOUNT, m
    assert m["Enabled"] and m["KeyState"] == "Enabled" and m["Origin"] == "AWS_KMS", m
    assert m["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"], m
    for ref in (m["KeyId"], m["Arn"]):
        assert kms.describe_key(KeyId=ref)["KeyMetadata"]["KeyId"] == m["KeyId"]
    ids = {kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(3)} | {m["KeyId"]}
    seen, marker, pages = set(), None, 0
    while True:
        page = kms.list_keys(Limit=2, **({"Marker": marker} if marker else {}))
        pages += 1
        seen |= {k["KeyId"] for k in page["Keys"]}
        for k in page["Keys"]:
            assert k["KeyArn"] == arn(k["KeyId"])
        if not page["Truncated"]:
            break
        marker = page["NextMarker"]
    assert ids <= seen and pages >= 2, (ids, seen, pages)
    fails("InvalidMarkerException", client(s, validate=False).list_keys, Marker="garbage")


@case
def keys_are_regional(s):
    here = client(s).create_key()["KeyMetadata"]
    there = client(s, region="eu-west-3")
    fails("NotFoundException", there.describe_key, KeyId=here["KeyId"])
    fails("NotFoundException", there.describe_key, KeyId=here["Arn"])
    assert here["KeyId"] not in {k["KeyId"] for k in there.list_keys()["Keys"]}
    made = there.create_key()["KeyMetadata"]
    assert made["Arn"] == arn(made["KeyId"], "eu-west-3"), made


@case
def key_specs_and_usages_are_checked(s):
    kms = client(s)
    raw = client(s, validate=False)  # botocore would refuse these itself
    fails("ValidationException", raw.create_key, KeySpec="RSA_1024")
    fails("UnsupportedOperationException", kms.create_key, Origin="AWS_CLOUDHSM")
    fails("ValidationException", raw.create_key, Description="x" * 8193)


@case
def disable_enable_and_scheduled_deletion(s):
    kms = client(s)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]
    kms.disable_key(KeyId=key)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Disabled"
    fails("DisabledException", kms.encrypt, KeyId=key, Plaintext=b"x")
    fails("DisabledException", kms.decrypt, CiphertextBlob=blob)
    kms.enable_key(KeyId=key)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    fails("ValidationException", client(s, validate=False).schedule_key_deletion,
          KeyId=key, PendingWindowInDays=6)
    r = kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    assert r["KeyState"] == "PendingDeletion" and r["PendingWindowInDays"] == 7, r
    days = (r["DeletionDate"].timestamp() - time.time()) / 86400
    assert 6.9 < days < 7.1, days
    fails("KMSInvalidStateException", kms.decrypt, CiphertextBlob=blob)
    fails("KMSInvalidStateException", kms.enable_key, KeyId=key)
    assert kms.cancel_key_deletion(KeyId=key)["KeyId"] == arn(key)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Disabled"


@case
def update_description(s):
    kms = client(s)
    key = kms.create_key(Description="old")["KeyMetadata"]["KeyId"]
    kms.update_key_description(KeyId=key, Description="new")
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["Description"] == "new"


# --- Cryptography ----------------------------------------------------------------------------


@case
def encrypt_decrypt_with_context(s):
    kms = client(s)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    ctx = {"tenant": "acme", "ключ": "значение"}
    r = kms.encrypt(KeyId=key, Plaintext=b"hello", EncryptionContext=ctx)
    assert r["KeyId"] == arn(key) and r["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT", r
    blob = r["CiphertextBlob"]
    d = kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)
    assert d["Plaintext"] == b"hello" and d["KeyId"] == arn(key), d
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx, KeyId=arn(key))
    fails("InvalidCiphertextException", kms.decrypt, CiphertextBlob=blob)
    fails("InvalidCiphertextException", kms.decrypt, CiphertextBlob=blob,
          EncryptionContext={"tenant": "acme"})
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    fails("IncorrectKeyException", kms.decrypt, CiphertextBlob=blob, EncryptionContext=ctx,
          KeyId=other)
    for i in (0, 5, 30, len(blob) - 1):
        tampered = bytearray(blob)
        tampered[i] ^= 1
        fails("InvalidCiphertextException", kms.decrypt, CiphertextBlob=bytes(tampered),
              EncryptionContext=ctx)
    fails("InvalidCiphertextException", kms.decrypt, CiphertextBlob=b"\x01" * 60)
    raw = client(s, validate=False)
    assert kms.encrypt(KeyId=key, Plaintext=b"x" * 4096)
    fails("ValidationException", raw.encrypt, KeyId=key, Plaintext=b"x" * 4097)


@case
def data_keys_and_random(s):
    kms = client(s)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    ctx = {"purpose": "file"}
    r = kms.generate_data_key(KeyId=key, KeySpec="AES_256", EncryptionContext=ctx)
    assert len(r["Plaintext"]) == 32 and r["KeyId"] == arn(key), r
    assert kms.decrypt(CiphertextBlob=r["CiphertextBlob"],
                       EncryptionContext=ctx)["Plaintext"] == r["Plaintext"]
    assert len(kms.generate_data_key(KeyId=key, NumberOfBytes=7)["Plaintext"]) == 7
    assert len(kms.generate_data_key(KeyId=key, KeySpec="AES_128")["Plaintext"]) == 16
    w = kms.generate_data_key_without_plaintext(KeyId=key, KeySpec="AES_256")
    assert "Plaintext" not in w and len(kms.decrypt(CiphertextBlob=w["CiphertextBlob"])
                                        ["Plaintext"]) == 32
    raw = client(s, validate=False)
    fails("ValidationException", raw.generate_data_key, KeyId=key)
    fails("ValidationException", raw.generate_data_key, KeyId=key, NumberOfBytes=1025)
    rsa_key = kms.create_key(KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
    fails("InvalidKeyUsageException", kms.generate_data_key, KeyId=rsa_key, KeySpec="AES_256")
    a, b = (kms.generate_random(NumberOfBytes=32)["Plaintext"] for _ in range(2))
    assert len(a) == 32 and a != b
    fails("ValidationException", raw.generate_random, NumberOfBytes=1025)
    fails("ValidationException", raw.generate_random, NumberOfBytes=0)


@case
def data_key_pairs(s):
    kms = client(s)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    ctx = {"pair": "yes"}
    for spec in ("RSA_2048", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1"):
        r = kms.generate_data_key_pair(KeyId=key, KeyPairSpec=spec, EncryptionContext=ctx)
        assert r["KeyId"] == arn(key) and r["KeyPairSpec"] == spec, r
        private = serialization.load_der_private_key(r["PrivateKeyPlaintext"], None)
        public = serialization.load_der_public_key(r["PublicKey"])
        spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        assert private.public_key().public_bytes(*spki) == public.public_bytes(*spki), spec
        opened = kms.decrypt(CiphertextBlob=r["PrivateKeyCiphertextBlob"], EncryptionContext=ctx)
        assert opened["Plaintext"] == r["PrivateKeyPlaintext"], spec
    w = kms.generate_data_key_pair_without_plaintext(KeyId=key, KeyPairSpec="ECC_NIST_P256")
    assert "PrivateKeyPlaintext" not in w
    serialization.load_der_private_key(kms.decrypt(
        CiphertextBlob=w["PrivateKeyCiphertextBlob"])["Plaintext"], None)
    fails("ValidationException", client(s, validate=False).generate_data_key_pair, KeyId=key,
          KeyPairSpec="RSA_1024")
    rsa_key = kms.create_key(KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
    fails("InvalidKeyUsageException", kms.generate_data_key_pair, KeyId=rsa_key,
          KeyPairSpec="ECC_NIST_P256")
    fails("DryRunOperationException", kms.generate_data_key_pair, KeyId=key,
          KeyPairSpec="ECC_NIST_P256", DryRun=True)


@case
def re_encrypt_moves_a_ciphertext_between_keys(s):
    kms = client(s)
    a, b = (kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(2))
    blob = kms.encrypt(KeyId=a, Plaintext=b"move me", EncryptionContext={"k": "1"})
    r = kms.re_encrypt(CiphertextBlob=blob["CiphertextBlob"], SourceEncryptionContext={"k": "1"},
                       DestinationKeyId=b, DestinationEncryptionContext={"k": "2"})
    assert r["SourceKeyId"] == arn(a) and r["KeyId"] == arn(b), r
    d = kms.decrypt(CiphertextBlob=r["CiphertextBlob"], EncryptionContext={"k": "2"})
    assert d["Plaintext"] == b"move me" and d["KeyId"] == arn(b)
    fails("InvalidCiphertextException", kms.re_encrypt, CiphertextBlob=blob["CiphertextBlob"],
          DestinationKeyId=b)


@case
def rsa_keys_encrypt_with_oaep(s):
    kms = client(s)
    key = kms.create_key(KeySpec="RSA_2048")["KeyMetadata"]
    assert key["EncryptionAlgorithms"] == ["RSAES_OAEP_SHA_256", "RSAES_OAEP_SHA_1"], key
    pub = kms.get_public_key(KeyId=key["KeyId"])
    assert pub["KeyId"] == key["Arn"] and pub["KeySpec"] == "RSA_2048", pub
    public = serialization.load_der_public_key(pub["PublicKey"])
    for alg, h in (("RSAES_OAEP_SHA_256", hashes.SHA256()), ("RSAES_OAEP_SHA_1", hashes.SHA1())):
        ours = public.encrypt(b"from outside", padding.OAEP(padding.MGF1(h), h, None))
        d = kms.decrypt(CiphertextBlob=ours, KeyId=key["KeyId"], EncryptionAlgorithm=alg)
        assert d["Plaintext"] == b"from outside" and d["EncryptionAlgorithm"] == alg, d
        theirs = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"y", EncryptionAlgorithm=alg)
        assert kms.decrypt(CiphertextBlob=theirs["CiphertextBlob"], KeyId=key["KeyId"],
                           EncryptionAlgorithm=alg)["Plaintext"] == b"y"
    fails("InvalidKeyUsageException", kms.encrypt, KeyId=key["KeyId"], Plaintext=b"y")
    assert kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x" * 190,
                       EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    fails("ValidationException", kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x" * 191,
          EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    fails("ValidationException", kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x",
          EncryptionAlgorithm="RSAES_OAEP_SHA_256", EncryptionContext={"a": "b"})
    symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
    fails("UnsupportedOperationException", kms.get_public_key, KeyId=symmetric)
    # ReEncrypt from an RSA key: it needs the source key and algorithm, as Decrypt does.
    rsa_blob = public.encrypt(b"to symmetric", padding.OAEP(padding.MGF1(hashes.SHA256()),
                                                            hashes.SHA256(), None))
    fails("InvalidCiphertextException", kms.re_encrypt, CiphertextBlob=rsa_blob,
          DestinationKeyId=symmetric)
    moved = kms.re_encrypt(CiphertextBlob=rsa_blob, SourceKeyId=key["KeyId"],
                           SourceEncryptionAlgorithm="RSAES_OAEP_SHA_256",
                           DestinationKeyId=symmetric)
    assert moved["SourceKeyId"] == key["Arn"], moved
    assert kms.decrypt(CiphertextBlob=moved["CiphertextBlob"])["Plaintext"] == b"to symmetric"


@case
def dry_run_checks_without_doing(s):
    kms = client(s)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    fails("DryRunOperationException", kms.encrypt, KeyId=key, Plaintext=b"x", DryRun=True)
    fails("DryRunOperationException", kms.generate_data_key, KeyId=key, KeySpec="AES_256",
          DryRun=True)
    kms.disable_key(KeyId=key)
    fails("DisabledException", kms.encrypt, KeyId=key, Plaintext=b"x", DryRun=True)


# --- Signing, MACs, key agreement (part 2) ---------------------------------------------------


def verify_independently(public, algorithm, message, signature):
    """Verifies with Python's `cryptography`, against GetPublicKey's key."""
    from cryptography.hazmat.primitives.asymmetric import ec
    name = algorithm.rsplit("_", 1)[1]
    h = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[name]
    if algorithm.startswith("ECDSA"):
        public.verify(signature, message, ec.ECDSA(h))
    elif algorithm.startswith("RSASSA_PSS"):
        public.verify(signature, message,
                      padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h)
    else:
        public.verify(signature, message, padding.PKCS1v15(), h)


@case
def sign_and_verify_with_every_signing_spec(s):
    kms = client(s)
    message = b"sign me " * 10
    for spec, algorithms in (
        ("ECC_NIST_P256", ["ECDSA_SHA_256"]),
        ("ECC_NIST_P384", ["ECDSA_SHA_384"]),
        ("ECC_NIST_P521", ["ECDSA_SHA_512"]),
        ("ECC_SECG_P256K1", ["ECDSA_SHA_256"]),
        ("RSA_2048", ["RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
                      "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384",
                      "RSASSA_PKCS1_V1_5_SHA_512"]),
    ):
        m = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]
        assert m["SigningAlgorithms"] == algorithms and "EncryptionAlgorithms" not in m, m
        pub = kms.get_public_key(KeyId=m["KeyId"])
        assert pub["SigningAlgorithms"] == algorithms and pub["KeyUsage"] == "SIGN_VERIFY", pub
        public = serialization.load_der_public_key(pub["PublicKey"])
        for alg in algorithms:
            sig = kms.sign(KeyId=m["KeyId"], Message=message, SigningAlgorithm=alg)
            assert sig["KeyId"] == m["Arn"] and sig["SigningAlgorithm"] == alg, sig
            verify_independently(public, alg, message, sig["Signature"])
            v = kms.verify(KeyId=m["KeyId"], Message=message, Signature=sig["Signature"],
                           SigningAlgorithm=alg)
            assert v["SignatureValid"] is True, v
            fails("KMSInvalidSignatureException", kms.verify, KeyId=m["KeyId"],
                  Message=message + b"!", Signature=sig["Signature"], SigningAlgorithm=alg)
            # A DIGEST message is the hash the algorithm names, made here.
            h = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[
                alg.rsplit("_", 1)[1]]
            digest = hashes.Hash(h)
            digest.update(message)
            d = digest.finalize()
            dsig = kms.sign(KeyId=m["KeyId"], Message=d, MessageType="DIGEST", SigningAlgorithm=alg)
            verify_independently(public, alg, message, dsig["Signature"])
            assert kms.verify(KeyId=m["KeyId"], Message=d, MessageType="DIGEST",
                              Signature=sig["Signature"], SigningAlgorithm=alg)["SignatureValid"]
            fails("ValidationException", kms.sign, KeyId=m["KeyId"], Message=d[:-1],
                  MessageType="DIGEST", SigningAlgorithm=alg)
        fails("InvalidKeyUsageException", kms.encrypt, KeyId=m["KeyId"], Plaintext=b"x",
              EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    ecc = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    fails("InvalidKeyUsageException", kms.sign, KeyId=ecc, Message=b"x",
          SigningAlgorithm="ECDSA_SHA_384")
    fails("ValidationException", client(s, validate=False).sign, KeyId=ecc, Message=b"x" * 4097,
          SigningAlgorithm="ECDSA_SHA_256")
    fails("DryRunOperationException", kms.sign, KeyId=ecc, Message=b"x",
          SigningAlgorithm="ECDSA_SHA_256", DryRun=True)
    symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
    fails("InvalidKeyUsageException", kms.sign, KeyId=symmetric, Message=b"x",
          SigningAlgorithm="ECDSA_SHA_256")
    raw = client(s, validate=False)
    fails("ValidationException", raw.create_key, KeySpec="ECC_NIST_P256")
    fails("ValidationException", raw.create_key, KeySpec="ECC_SECG_P256K1",
          KeyUsage="KEY_AGREEMENT")
    fails("ValidationException", raw.create_key, KeySpec="HMAC_256", KeyUsage="SIGN_VERIFY")


@case
def the_cli_makes_signing_and_mac_keys_and_uses_them(s):
    from cryptography.hazmat.primitives.asymmetric import ec
    work = s.work / "cli-signing"
    work.mkdir()
    (work / "msg.txt").write_bytes(b"signed by the cli")
    m = json.loads(s.run("key", "create", "--spec", "ECC_NIST_P256", "--usage", "SIGN_VERIFY"))
    key = m["KeyMetadata"]["KeyId"]
    out = json.loads(s.run("sign", "--key", key, "--algorithm", "ECDSA_SHA_256",
                           str(work / "msg.txt")))
    sig = base64.b64decode(out["Signature"])
    public = serialization.load_der_public_key(client(s).get_public_key(KeyId=key)["PublicKey"])
    public.verify(sig, b"signed by the cli", ec.ECDSA(hashes.SHA256()))
    (work / "sig.bin").write_bytes(sig)
    ok = json.loads(s.run("sign", "--key", key, "--algorithm", "ECDSA_SHA_256", "--check",
                          str(work / "sig.bin"), str(work / "msg.txt")))
    assert ok["SignatureValid"] is True, ok
    (work / "other.txt").write_bytes(b"not what was signed")
    bad = subprocess.run([str(s.cli), "sign", "--key", key, "--algorithm", "ECDSA_SHA_256",
                          "--check", str(work / "sig.bin"), str(work / "other.txt")],
                         env=s.cli_env(), capture_output=True)
    assert bad.returncode != 0 and b"KMSInvalidSignatureException" in bad.stderr, bad
    m = json.loads(s.run("key", "create", "--spec", "HMAC_384", "--usage", "GENERATE_VERIFY_MAC"))
    mac_key = m["KeyMetadata"]["KeyId"]
    tag = json.loads(s.run("mac", "--key", mac_key, "--algorithm", "HMAC_SHA_384",
                           str(work / "msg.txt")))["Mac"]
    (work / "mac.bin").write_bytes(base64.b64decode(tag))
    assert json.loads(s.run("mac", "--key", mac_key, "--algorithm", "HMAC_SHA_384", "--check",
                            str(work / "mac.bin"), str(work / "msg.txt")))["MacValid"] is True
    # A key the /v0 API makes still comes from plain `key create`.
    assert json.loads(s.run("key", "create"))["keySpec"] == "RSA_3072"


@case
def hmac_keys_generate_and_verify_macs(s):
    kms = client(s)
    for spec, alg, length in (("HMAC_224", "HMAC_SHA_224", 28), ("HMAC_256", "HMAC_SHA_256", 32),
                              ("HMAC_384", "HMAC_SHA_384", 48), ("HMAC_512", "HMAC_SHA_512", 64)):
        m = kms.create_key(KeySpec=spec, KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
        assert m["MacAlgorithms"] == [alg], m
        r = kms.generate_mac(KeyId=m["KeyId"], Message=b"m", MacAlgorithm=alg)
        assert len(r["Mac"]) == length and r["KeyId"] == m["Arn"], r
        again = kms.generate_mac(KeyId=m["KeyId"], Message=b"m", MacAlgorithm=alg)["Mac"]
        assert again == r["Mac"], "an HMAC is deterministic"
        assert kms.verify_mac(KeyId=m["KeyId"], Message=b"m", Mac=r["Mac"],
                              MacAlgorithm=alg)["MacValid"] is True
        fails("KMSInvalidMacException", kms.verify_mac, KeyId=m["KeyId"], Message=b"n",
              Mac=r["Mac"], MacAlgorithm=alg)
        fails("UnsupportedOperationException", kms.get_public_key, KeyId=m["KeyId"])
    fails("InvalidKeyUsageException", kms.generate_mac, KeyId=m["KeyId"], Message=b"m",
          MacAlgorithm="HMAC_SHA_256")
    other = kms.create_key(KeySpec="HMAC_512", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    fails("KMSInvalidMacException", kms.verify_mac, KeyId=other["KeyId"], Message=b"m",
          Mac=r["Mac"], MacAlgorithm="HMAC_SHA_512")


@case
def derive_shared_secret_matches_an_independent_ecdh(s):
    from cryptography.hazmat.primitives.asymmetric import ec
    kms = client(s)
    for spec, curve in (("ECC_NIST_P256", ec.SECP256R1()), ("ECC_NIST_P384", ec.SECP384R1()),
                        ("ECC_NIST_P521", ec.SECP521R1())):
        m = kms.create_key(KeySpec=spec, KeyUsage="KEY_AGREEMENT")["KeyMetadata"]
        assert m["KeyAgreementAlgorithms"] == ["ECDH"], m
        theirs = ec.generate_private_key(curve)
        spki = theirs.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
        r = kms.derive_shared_secret(KeyId=m["KeyId"], KeyAgreementAlgorithm="ECDH",
                                     PublicKey=spki)
        ours_der = kms.get_public_key(KeyId=m["KeyId"])["PublicKey"]
        ours = serialization.load_der_public_key(ours_der)
        assert r["SharedSecret"] == theirs.exchange(ec.ECDH(), ours), spec
        # And what the openssl command line derives from the same two keys.
        work = s.work / f"ecdh-{spec}"
        work.mkdir()
        (work / "theirs.pem").write_bytes(theirs.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        (work / "ours.der").write_bytes(ours_der)
        subprocess.run(["openssl", "pkeyutl", "-derive", "-inkey", "theirs.pem", "-peerkey",
                        "ours.der", "-peerform", "DER", "-out", "z.bin"], cwd=work, check=True)
        assert (work / "z.bin").read_bytes() == r["SharedSecret"], spec
        wrong = ec.generate_private_key(ec.SECP256K1()).public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        fails("ValidationException", kms.derive_shared_secret, KeyId=m["KeyId"],
              KeyAgreementAlgorithm="ECDH", PublicKey=wrong)
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    fails("InvalidKeyUsageException", kms.derive_shared_secret, KeyId=signing["KeyId"],
          KeyAgreementAlgorithm="ECDH", PublicKey=spki)


# --- Rotation (part 2) -----------------------------------------------------------------------

FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


@contextlib.contextmanager
def days_later(s, work, days):
    """A server on `work`'s data with its clock `days` ahead (libfaketime; monotonic time left
    alone), and boto3 signing on the same shifted clock: yields (server, that moment); the
    server is stopped on exit."""
    import datetime
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)
    shifted = {"LD_PRELOAD": FAKETIME, "FAKETIME": f"+{days}d", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    server = KeyServer(s.cli, work, env=shifted)
    try:
        with mock.patch("botocore.auth.get_current_datetime", lambda: later.replace(tzinfo=None)):
            yield server, later
    finally:
        server.stop()


@case
def rotation_on_demand_and_its_limits(s):
    kms = client(s)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"v1")["CiphertextBlob"]
    status = kms.get_key_rotation_status(KeyId=key)
    assert status["KeyRotationEnabled"] is False and status["KeyId"] == arn(key), status
    assert kms.rotate_key_on_demand(KeyId=key)["KeyId"] == arn(key)
    rotations = kms.list_key_rotations(KeyId=key)["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["ON_DEMAND"], rotations
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"v1"
    for _ in range(24):
        kms.rotate_key_on_demand(KeyId=key)
    fails("LimitExceededException", kms.rotate_key_on_demand, KeyId=key)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"v1"
    page = kms.list_key_rotations(KeyId=key, Limit=10)
    assert len(page["Rotations"]) == 10 and page["Truncated"], page
    kms.enable_key_rotation(KeyId=key)
    status = kms.get_key_rotation_status(KeyId=key)
    assert status["KeyRotationEnabled"] and status["RotationPeriodInDays"] == 365, status
    days = (status["NextRotationDate"].timestamp() - time.time()) / 86400
    assert 364.9 < days < 365.1, days
    kms.disable_key_rotation(KeyId=key)
    assert kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is False
    raw = client(s, validate=False)
    fails("ValidationException", raw.enable_key_rotation, KeyId=key, RotationPeriodInDays=89)
    fails("ValidationException", raw.enable_key_rotation, KeyId=key, RotationPeriodInDays=2561)
    rsa_key = kms.create_key(KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
    hmac_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")[
        "KeyMetadata"]["KeyId"]
    for other in (rsa_key, hmac_key):
        fails("UnsupportedOperationException", kms.enable_key_rotation, KeyId=other)
        fails("UnsupportedOperationException", kms.rotate_key_on_demand, KeyId=other)
    kms.disable_key(KeyId=key)
    fails("KMSInvalidStateException", kms.enable_key_rotation, KeyId=key)
    fails("DisabledException", kms.rotate_key_on_demand, KeyId=key)
    fails("AccessDeniedException", client(s, ALICE_KEY).rotate_key_on_demand, KeyId=key)


@case
def scheduled_rotation_runs_on_time_and_waits_for_a_disabled_key(s):
    """A server of its own, restarted 91 days later under libfaketime (boto3 signs with the
    same shifted clock, or the server would call its signatures expired)."""
    import datetime
    assert Path(FAKETIME).exists(), f"{FAKETIME} is missing: run `make setup`"
    work = s.work / "rotation"
    work.mkdir()
    first = KeyServer(s.cli, work)
    try:
        first.run("credential", "create", "--principal", "admin",
                  "--access-key-id", ADMIN_KEY[0], "--secret-access-key", ADMIN_KEY[1])
        kms = client(first)
        a, b = (kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(2))
        blob = kms.encrypt(KeyId=a, Plaintext=b"before", EncryptionContext={"k": "v"})
        for key in (a, b):
            kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=90)
        kms.disable_key(KeyId=b)
        assert kms.list_key_rotations(KeyId=a)["Rotations"] == []
    finally:
        first.stop()
    with days_later(s, work, 91) as (again, later):
        kms = client(again)
        deadline = time.monotonic() + 20
        while not kms.list_key_rotations(KeyId=a)["Rotations"]:
            assert time.monotonic() < deadline, "the start's sweep never rotated the key"
            time.sleep(0.2)
        rotations = kms.list_key_rotations(KeyId=a)["Rotations"]
        assert [r["RotationType"] for r in rotations] == ["AUTOMATIC"], rotations
        assert kms.list_key_rotations(KeyId=b)["Rotations"] == [], "a disabled key rotated"
        d = kms.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext={"k": "v"})
        assert d["Plaintext"] == b"before"
        status = kms.get_key_rotation_status(KeyId=a)
        days = (status["NextRotationDate"] - later).total_seconds() / 86400
        assert 89.9 < days < 90.1, days
        kms.enable_key(KeyId=b)
        rotations = kms.list_key_rotations(KeyId=b)["Rotations"]
        assert [r["RotationType"] for r in rotations] == ["AUTOMATIC"], rotations
        fresh = kms.encrypt(KeyId=a, Plaintext=b"after")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=fresh)["Plaintext"] == b"after"
        assert fresh[17:21] == (2).to_bytes(4, "big"), "new blobs use the new version"


# --- Multi-Region keys (part 2) -------------------------------------------------------------


@case
def multi_region_keys_replicate_and_decrypt_across_regions(s):
    east, paris = client(s), client(s, region="eu-west-3")
    m = east.create_key(MultiRegion=True, Description="family")["KeyMetadata"]
    key = m["KeyId"]
    assert key.startswith("mrk-") and m["MultiRegion"] is True, m
    assert m["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY", m
    blob = east.encrypt(KeyId=key, Plaintext=b"from east", EncryptionContext={"k": "v"})
    fails("NotFoundException", paris.describe_key, KeyId=key)
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": user("alice")}, "Action": "kms:Decrypt",
         "Resource": "*"}]}
    r = east.replicate_key(KeyId=key, ReplicaRegion="eu-west-3", Policy=json.dumps(policy),
                           Description="paris copy", Tags=[{"TagKey": "site", "TagValue": "paris"}])
    replica = r["ReplicaKeyMetadata"]
    assert replica["KeyId"] == key and replica["Arn"] == arn(key, "eu-west-3"), replica
    assert replica["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA", replica
    assert replica["MultiRegionConfiguration"]["PrimaryKey"] == {
        "Arn": arn(key), "Region": REGION}, replica
    assert r["ReplicaTags"] == [{"TagKey": "site", "TagValue": "paris"}], r
    described = east.describe_key(KeyId=key)["KeyMetadata"]["MultiRegionConfiguration"]
    assert described["ReplicaKeys"] == [{"Arn": arn(key, "eu-west-3"), "Region": "eu-west-3"}]
    # The same material: what one region sealed, the other opens, and the other way round.
    d = paris.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext={"k": "v"})
    assert d["Plaintext"] == b"from east" and d["KeyId"] == arn(key, "eu-west-3"), d
    back = paris.encrypt(KeyId=key, Plaintext=b"from paris")["CiphertextBlob"]
    assert east.decrypt(CiphertextBlob=back)["Plaintext"] == b"from paris"
    # Each region's key is its own: policy, state, description, aliases.
    alice_paris, alice_east = client(s, ALICE_KEY, "eu-west-3"), client(s, ALICE_KEY)
    assert alice_paris.decrypt(CiphertextBlob=back)["Plaintext"] == b"from paris"
    fails("AccessDeniedException", alice_east.decrypt, CiphertextBlob=back)
    assert paris.describe_key(KeyId=key)["KeyMetadata"]["Description"] == "paris copy"
    paris.disable_key(KeyId=key)
    fails("DisabledException", paris.decrypt, CiphertextBlob=back)
    assert east.decrypt(CiphertextBlob=back)["Plaintext"] == b"from paris"
    paris.enable_key(KeyId=key)
    paris.create_alias(AliasName="alias/family", TargetKeyId=key)
    fails("NotFoundException", east.describe_key, KeyId="alias/family")
    # Rotation is the primary's, and every region follows it.
    east.rotate_key_on_demand(KeyId=key)
    fails("UnsupportedOperationException", paris.rotate_key_on_demand, KeyId=key)
    fails("UnsupportedOperationException", paris.enable_key_rotation, KeyId=key)
    rotated = east.encrypt(KeyId=key, Plaintext=b"v2")["CiphertextBlob"]
    assert paris.decrypt(CiphertextBlob=rotated)["Plaintext"] == b"v2"
    # Refusals.
    fails("AlreadyExistsException", east.replicate_key, KeyId=key, ReplicaRegion="eu-west-3")
    fails("AlreadyExistsException", east.replicate_key, KeyId=key, ReplicaRegion=REGION)
    fails("UnsupportedOperationException", paris.replicate_key, KeyId=key,
          ReplicaRegion="ap-south-1")
    single = east.create_key()["KeyMetadata"]["KeyId"]
    fails("UnsupportedOperationException", east.replicate_key, KeyId=single,
          ReplicaRegion="eu-west-3")
    fails("AccessDeniedException", client(s, ALICE_KEY).replicate_key, KeyId=key,
          ReplicaRegion="ap-south-1")
    fails("KMSInvalidStateException", east.schedule_key_deletion, KeyId=key,
          PendingWindowInDays=7)
    # The primary moves: Paris is the primary, us-east-1 a replica; each keeps its settings.
    east.update_primary_region(KeyId=key, PrimaryRegion="eu-west-3")
    now = paris.describe_key(KeyId=key)["KeyMetadata"]
    assert now["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY", now
    assert now["Description"] == "paris copy", now
    there = east.describe_key(KeyId=key)["KeyMetadata"]
    assert there["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA", there
    assert there["Description"] == "family", there
    assert east.decrypt(CiphertextBlob=rotated)["Plaintext"] == b"v2"
    # A replica may be deleted; the primary then may too.
    r = east.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    assert r["KeyState"] == "PendingDeletion", r
    assert paris.decrypt(CiphertextBlob=rotated)["Plaintext"] == b"v2"
    fails("KMSInvalidStateException", paris.schedule_key_deletion, KeyId=key,
          PendingWindowInDays=7)


@case
def a_deleted_replica_goes_alone(s):
    """A server of its own, restarted 8 days after a replica's deletion was scheduled."""
    import datetime
    work = s.work / "replica-deletion"
    work.mkdir()
    first = KeyServer(s.cli, work)
    try:
        first.run("credential", "create", "--principal", "admin",
                  "--access-key-id", ADMIN_KEY[0], "--secret-access-key", ADMIN_KEY[1])
        east, paris = client(first), client(first, region="eu-west-3")
        key = east.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
        east.replicate_key(KeyId=key, ReplicaRegion="eu-west-3")
        blob = east.encrypt(KeyId=key, Plaintext=b"kept")["CiphertextBlob"]
        paris.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    finally:
        first.stop()
    with days_later(s, work, 8) as (again, later):
        east, paris = client(again), client(again, region="eu-west-3")
        deadline = time.monotonic() + 20
        while True:
            try:
                paris.describe_key(KeyId=key)
            except ClientError as e:
                assert e.response["Error"]["Code"] == "NotFoundException", e
                break
            assert time.monotonic() < deadline, "the replica was never deleted"
            time.sleep(0.2)
        assert east.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"
        config = east.describe_key(KeyId=key)["KeyMetadata"]["MultiRegionConfiguration"]
        assert config["ReplicaKeys"] == [], config
        assert east.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)


# --- Imported key material (part 2) ---------------------------------------------------------


def wrap_with_openssl(work, public_der, material, algorithm):
    """Wraps key material for ImportKeyMaterial the way AWS's documentation does, with the
    openssl command line: RSA-OAEP alone, or an AES key under RSA-OAEP followed by the
    material under AES key wrap with padding."""
    md = "sha256" if algorithm.endswith("SHA_256") else "sha1"
    (work / "wrapping.der").write_bytes(public_der)
    (work / "material.bin").write_bytes(material)

    def oaep(src, dst):
        subprocess.run(["openssl", "pkeyutl", "-encrypt", "-in", src, "-out", dst,
                        "-inkey", "wrapping.der", "-keyform", "DER", "-pubin",
                        "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", f"rsa_oaep_md:{md}",
                        "-pkeyopt", f"rsa_mgf1_md:{md}"], cwd=work, check=True)
    if algorithm.startswith("RSAES_OAEP"):
        oaep("material.bin", "wrapped.bin")
        return (work / "wrapped.bin").read_bytes()
    (work / "aes.bin").write_bytes(os.urandom(32))
    oaep("aes.bin", "aes-wrapped.bin")
    subprocess.run(["openssl", "enc", "-id-aes256-wrap-pad", "-K", (work / "aes.bin").read_bytes().hex(),
                    "-iv", "A65959A6", "-in", "material.bin", "-out", "material-wrapped.bin"],
                   cwd=work, check=True)
    return (work / "aes-wrapped.bin").read_bytes() + (work / "material-wrapped.bin").read_bytes()


def import_material(kms, work, key, material, algorithm="RSA_AES_KEY_WRAP_SHA_256",
                    spec="RSA_3072", **kwargs):
    params = kms.get_parameters_for_import(KeyId=key, WrappingAlgorithm=algorithm,
                                           WrappingKeySpec=spec)
    wrapped = wrap_with_openssl(work, params["PublicKey"], material, algorithm)
    kwargs.setdefault("ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    return kms.import_key_material(KeyId=key, ImportToken=params["ImportToken"],
                                   EncryptedKeyMaterial=wrapped, **kwargs)


@case
def imported_symmetric_material_round_trip_deletion_and_reimport(s):
    kms = client(s)
    work = s.work / "import-symmetric"
    work.mkdir()
    m = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    key = m["KeyId"]
    assert m["KeyState"] == "PendingImport" and m["Origin"] == "EXTERNAL", m
    fails("KMSInvalidStateException", kms.encrypt, KeyId=key, Plaintext=b"x")
    fails("KMSInvalidStateException", kms.enable_key, KeyId=key)
    material = os.urandom(32)
    for algorithm in ("RSAES_OAEP_SHA_256", "RSAES_OAEP_SHA_1", "RSA_AES_KEY_WRAP_SHA_1",
                      "RSA_AES_KEY_WRAP_SHA_256"):
        import_material(kms, work, key, material, algorithm, "RSA_2048")
        assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled", algorithm
    blob = kms.encrypt(KeyId=key, Plaintext=b"imported", EncryptionContext={"k": "v"})
    # A key only ever holds its one material.
    fails("IncorrectKeyMaterialException", import_material, kms, work, key, os.urandom(32))
    fails("IncorrectKeyMaterialException", import_material, kms, work, key, os.urandom(31))
    kms.delete_imported_key_material(KeyId=key)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "PendingImport"
    fails("KMSInvalidStateException", kms.decrypt, CiphertextBlob=blob["CiphertextBlob"],
          EncryptionContext={"k": "v"})
    import_material(kms, work, key, material)
    d = kms.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext={"k": "v"})
    assert d["Plaintext"] == b"imported", "the same material reopens what it sealed"
    # Tokens: of this key only, and a forged one is refused.
    other = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    params = kms.get_parameters_for_import(KeyId=other, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                           WrappingKeySpec="RSA_2048")
    wrapped = wrap_with_openssl(work, params["PublicKey"], material, "RSAES_OAEP_SHA_256")
    fails("InvalidImportTokenException", kms.import_key_material, KeyId=key,
          ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped,
          ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    fails("InvalidImportTokenException", kms.import_key_material, KeyId=other,
          ImportToken=b"forged", EncryptedKeyMaterial=wrapped,
          ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    # One bit of the wrapped material flipped (a byte replaced could be the same byte).
    tampered = wrapped[:-1] + bytes([wrapped[-1] ^ 1])
    fails("InvalidCiphertextException", kms.import_key_material, KeyId=other,
          ImportToken=params["ImportToken"], EncryptedKeyMaterial=tampered,
          ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    fails("ValidationException", kms.import_key_material, KeyId=other,
          ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped)
    generated = kms.create_key()["KeyMetadata"]["KeyId"]
    fails("UnsupportedOperationException", kms.get_parameters_for_import, KeyId=generated,
          WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    fails("UnsupportedOperationException", kms.delete_imported_key_material, KeyId=generated)


@case
def imported_hmac_and_ecc_material_work_as_their_owners_expect(s):
    import hmac as py_hmac
    import hashlib
    from cryptography.hazmat.primitives.asymmetric import ec
    kms = client(s)
    work = s.work / "import-asymmetric"
    work.mkdir()
    secret = os.urandom(48)
    key = kms.create_key(Origin="EXTERNAL", KeySpec="HMAC_256",
                         KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    import_material(kms, work, key, secret)
    tag = kms.generate_mac(KeyId=key, Message=b"msg", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert tag == py_hmac.new(secret, b"msg", hashlib.sha256).digest(), "HMAC with our own key"
    private = ec.generate_private_key(ec.SECP384R1())
    pkcs8 = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    key = kms.create_key(Origin="EXTERNAL", KeySpec="ECC_NIST_P384",
                         KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    fails("IncorrectKeyMaterialException", import_material, kms, work, key,
          ec.generate_private_key(ec.SECP256R1()).private_bytes(
              serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
              serialization.NoEncryption()))
    import_material(kms, work, key, pkcs8, "RSA_AES_KEY_WRAP_SHA_1", "RSA_4096")
    sig = kms.sign(KeyId=key, Message=b"hello", SigningAlgorithm="ECDSA_SHA_384")["Signature"]
    private.public_key().verify(sig, b"hello", ec.ECDSA(hashes.SHA384()))
    # Theirs with ours: what the key's owner signs with its own copy, KMS verifies.
    theirs = private.sign(b"from the owner", ec.ECDSA(hashes.SHA384()))
    assert kms.verify(KeyId=key, Message=b"from the owner", Signature=theirs,
                      SigningAlgorithm="ECDSA_SHA_384")["SignatureValid"]
    # An RSA key pair for encryption: what the owner encrypts to its public key, KMS opens.
    from cryptography.hazmat.primitives.asymmetric import rsa as py_rsa
    rsa_private = py_rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = kms.create_key(Origin="EXTERNAL", KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
    import_material(kms, work, key, rsa_private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    sealed = rsa_private.public_key().encrypt(b"to the imported key", oaep)
    assert kms.decrypt(CiphertextBlob=sealed, KeyId=key, EncryptionAlgorithm="RSAES_OAEP_SHA_256"
                       )["Plaintext"] == b"to the imported key"
    fails("IncorrectKeyMaterialException", import_material, kms, work, key,
          py_rsa.generate_private_key(public_exponent=65537, key_size=3072).private_bytes(
              serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
              serialization.NoEncryption()))


@case
def imported_material_expires_on_its_date(s):
    import datetime
    work = s.work / "import-expiry"
    work.mkdir()
    first = KeyServer(s.cli, work)
    try:
        first.run("credential", "create", "--principal", "admin",
                  "--access-key-id", ADMIN_KEY[0], "--secret-access-key", ADMIN_KEY[1])
        kms = client(first)
        key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
        tomorrow = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
        import_material(kms, work, key, os.urandom(32), ExpirationModel="KEY_MATERIAL_EXPIRES",
                        ValidTo=tomorrow)
        m = kms.describe_key(KeyId=key)["KeyMetadata"]
        assert m["ExpirationModel"] == "KEY_MATERIAL_EXPIRES", m
        assert abs((m["ValidTo"] - tomorrow).total_seconds()) < 2, m
        blob = kms.encrypt(KeyId=key, Plaintext=b"short-lived")["CiphertextBlob"]
        fails("ValidationException", import_material, kms, work, key, os.urandom(32),
              ExpirationModel="KEY_MATERIAL_EXPIRES")
    finally:
        first.stop()
    with days_later(s, work, 2) as (again, later):
        kms = client(again)
        deadline = time.monotonic() + 20
        while kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] != "PendingImport":
            assert time.monotonic() < deadline, "the material never expired"
            time.sleep(0.2)
        fails("KMSInvalidStateException", kms.decrypt, CiphertextBlob=blob)
        records = json.loads(again.run("audit", "list", "--limit", "1000"))["records"]
        expired = [r for r in records if r["action"] == "DeleteImportedKeyMaterial"
                   and r.get("keyId") == key]
        assert expired and expired[0]["principal"] == "system", expired
        assert "expired" in expired[0]["detail"], expired


def materials(kms, key):
    """ListKeyRotations with every material: {KeyMaterialId: entry}, in version order."""
    listed = kms.list_key_rotations(KeyId=key, IncludeKeyMaterial="ALL_KEY_MATERIAL")
    return {r["KeyMaterialId"]: r for r in listed["Rotations"]}


@case
def imported_material_rotates_on_demand_to_new_material(s):
    import datetime
    kms = client(s)
    work = s.work / "import-rotation"
    work.mkdir()
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    first, second = os.urandom(32), os.urandom(32)
    fails("IncorrectKeyMaterialException", import_material, kms, work, key, first,
          ImportType="EXISTING_KEY_MATERIAL")
    fails("ValidationException", import_material, kms, work, key, first, KeyMaterialId="a" * 64)
    r = import_material(kms, work, key, first, ImportType="NEW_KEY_MATERIAL",
                        KeyMaterialDescription="first one")
    first_id = r["KeyMaterialId"]
    assert r["KeyId"] == arn(key) and len(first_id) == 64, r
    m = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert m["CurrentKeyMaterialId"] == first_id and m["KeyState"] == "Enabled", m
    old = kms.encrypt(KeyId=key, Plaintext=b"old", EncryptionContext={"k": "v"})["CiphertextBlob"]
    msg = fails("KMSInvalidStateException", kms.rotate_key_on_demand, KeyId=key)
    assert "NEW_KEY_MATERIAL" in msg, msg
    fails("IncorrectKeyMaterialException", import_material, kms, work, key, first,
          ImportType="NEW_KEY_MATERIAL")
    fails("ValidationException", import_material, kms, work, key, first,
          ImportType="NEW_KEY_MATERIAL", KeyMaterialId=first_id)
    # New material waits, pending rotation: nothing is encrypted under it yet.
    in_30_days = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30)
    r = import_material(kms, work, key, second, ImportType="NEW_KEY_MATERIAL",
                        KeyMaterialDescription="second one",
                        ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=in_30_days)
    second_id = r["KeyMaterialId"]
    assert second_id != first_id, r
    m = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert m["CurrentKeyMaterialId"] == first_id, m
    assert m["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE" and "ValidTo" not in m, m
    assert kms.list_key_rotations(KeyId=key)["Rotations"] == []
    listed = materials(kms, key)
    assert list(listed) == [first_id, second_id], listed
    one, two = listed[first_id], listed[second_id]
    assert (one["KeyMaterialState"], one["ImportState"], one["KeyMaterialDescription"],
            one["ExpirationModel"]) == ("CURRENT", "IMPORTED", "first one",
                                        "KEY_MATERIAL_DOES_NOT_EXPIRE"), one
    assert (two["KeyMaterialState"], two["ImportState"], two["KeyMaterialDescription"],
            two["ExpirationModel"]) == ("PENDING_ROTATION", "IMPORTED", "second one",
                                        "KEY_MATERIAL_EXPIRES"), two
    assert abs((two["ValidTo"] - in_30_days).total_seconds()) < 2, two
    assert not {"RotationDate", "RotationType", "ValidTo"} & set(one), one
    assert not {"RotationDate", "RotationType"} & set(two), two
    # One new material waits at a time (AWS: delete it to import other material instead).
    fails("KMSInvalidStateException", import_material, kms, work, key, os.urandom(32),
          ImportType="NEW_KEY_MATERIAL")
    assert kms.rotate_key_on_demand(KeyId=key)["KeyId"] == arn(key)
    m = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert m["CurrentKeyMaterialId"] == second_id, m
    assert m["ExpirationModel"] == "KEY_MATERIAL_EXPIRES", m
    assert abs((m["ValidTo"] - in_30_days).total_seconds()) < 2, "the earliest expiry of its own"
    new = kms.encrypt(KeyId=key, Plaintext=b"new", EncryptionContext={"k": "v"})["CiphertextBlob"]
    assert new[17:21] == (2).to_bytes(4, "big") and old[17:21] == (1).to_bytes(4, "big")
    for blob, plain in ((old, b"old"), (new, b"new")):
        assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"k": "v"})["Plaintext"] == plain
    rotations = kms.list_key_rotations(KeyId=key)["Rotations"]
    assert [(r["KeyMaterialId"], r["KeyMaterialState"], r["RotationType"]) for r in rotations
            ] == [(second_id, "CURRENT", "ON_DEMAND")], rotations
    assert abs(rotations[0]["RotationDate"].timestamp() - time.time()) < 60, rotations
    assert [r["KeyMaterialState"] for r in materials(kms, key).values()] == ["NON_CURRENT",
                                                                             "CURRENT"]
    fails("KMSInvalidStateException", kms.rotate_key_on_demand, KeyId=key)
    fails("UnsupportedOperationException", kms.enable_key_rotation, KeyId=key)
    # Its automatic rotation status is always false (AWS: "The key rotation status of these
    # KMS keys is always false"), not a refusal.
    status = kms.get_key_rotation_status(KeyId=key)
    assert status["KeyRotationEnabled"] is False and "RotationPeriodInDays" not in status, status
    # Deleting material of its own, current or not, leaves the key PendingImport until that
    # material is back; the material is named by its KeyMaterialId.
    r = kms.delete_imported_key_material(KeyId=key, KeyMaterialId=first_id)
    assert (r["KeyId"], r["KeyMaterialId"]) == (arn(key), first_id), r
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "PendingImport"
    for blob in (old, new):
        fails("KMSInvalidStateException", kms.decrypt, CiphertextBlob=blob,
              EncryptionContext={"k": "v"})
    listed = materials(kms, key)
    assert listed[first_id]["ImportState"] == "PENDING_IMPORT", listed
    assert "ExpirationModel" not in listed[first_id], listed
    assert listed[second_id]["ImportState"] == "IMPORTED", listed
    fails("KMSInvalidStateException", kms.delete_imported_key_material, KeyId=key,
          KeyMaterialId=first_id)
    fails("IncorrectKeyMaterialException", import_material, kms, work, key, first,
          KeyMaterialId=second_id)
    fails("IncorrectKeyMaterialException", import_material, kms, work, key, os.urandom(32))
    fails("KMSInvalidStateException", import_material, kms, work, key, os.urandom(32),
          ImportType="NEW_KEY_MATERIAL")
    r = import_material(kms, work, key, first, KeyMaterialId=first_id)
    assert r["KeyMaterialId"] == first_id, r
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"
    assert materials(kms, key)[first_id]["KeyMaterialDescription"] == "first one", "kept"
    for blob, plain in ((old, b"old"), (new, b"new")):
        assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"k": "v"})["Plaintext"] == plain
    # Without KeyMaterialId, the current material goes.
    assert kms.delete_imported_key_material(KeyId=key)["KeyMaterialId"] == second_id
    fails("KMSInvalidStateException", kms.decrypt, CiphertextBlob=new,
          EncryptionContext={"k": "v"})
    import_material(kms, work, key, second, KeyMaterialDescription="second again")
    m = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert m["KeyState"] == "Enabled" and "ValidTo" not in m, m
    assert m["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE", m
    assert materials(kms, key)[second_id]["KeyMaterialDescription"] == "second again"
    # Material pending rotation that is deleted is forgotten: the key stays usable, and
    # other material may take its place.
    third = import_material(kms, work, key, os.urandom(32),
                            ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    kms.delete_imported_key_material(KeyId=key, KeyMaterialId=third)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"
    assert list(materials(kms, key)) == [first_id, second_id]
    fails("NotFoundException", kms.delete_imported_key_material, KeyId=key, KeyMaterialId=third)
    fourth = import_material(kms, work, key, os.urandom(32),
                             ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    kms.rotate_key_on_demand(KeyId=key)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"] == fourth
    for blob, plain in ((old, b"old"), (new, b"new")):
        assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"k": "v"})["Plaintext"] == plain
    # Input the AWS clients would refuse, sent anyway.
    raw = client(s, validate=False)
    fails("ValidationException", raw.delete_imported_key_material, KeyId=key,
          KeyMaterialId="z" * 64)
    fails("ValidationException", raw.list_key_rotations, KeyId=key, IncludeKeyMaterial="SOME")
    fails("ValidationException", import_material, raw, work, key, first,
          KeyMaterialDescription="no <tags>")
    fails("ValidationException", import_material, raw, work, key, first, ImportType="OTHER")
    # Keys that do not rotate take no new material.
    mac_key = kms.create_key(Origin="EXTERNAL", KeySpec="HMAC_256",
                             KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    import_material(kms, work, mac_key, os.urandom(32))
    fails("UnsupportedOperationException", import_material, kms, work, mac_key, os.urandom(32),
          ImportType="NEW_KEY_MATERIAL")
    fails("UnsupportedOperationException", kms.rotate_key_on_demand, KeyId=mac_key)
    fails("UnsupportedOperationException", kms.list_key_rotations, KeyId=mac_key)
    assert "CurrentKeyMaterialId" not in kms.describe_key(KeyId=mac_key)["KeyMetadata"]
    # Keys with material made here name their materials too.
    made = kms.create_key()["KeyMetadata"]
    kms.rotate_key_on_demand(KeyId=made["KeyId"])
    listed = materials(kms, made["KeyId"])
    assert [r["KeyMaterialState"] for r in listed.values()] == ["NON_CURRENT", "CURRENT"]
    assert made["CurrentKeyMaterialId"] == list(listed)[0], (made, listed)
    assert not {"ImportState", "KeyMaterialDescription"} & set(list(listed.values())[1])
    # Audited, with the new parameters and without the material or the token.
    records = json.loads(s.run("audit", "list", "--limit", "1000"))["records"]
    imports = [r for r in records if r.get("keyId") == key and r["action"] == "ImportKeyMaterial"
               and r["result"] == "Allowed"]
    assert imports and all("encryptedKeyMaterial" not in r["requestParameters"]
                           and "importToken" not in r["requestParameters"] for r in imports)
    assert any(r["requestParameters"].get("importType") == "NEW_KEY_MATERIAL" for r in imports)
    deletions = [r["requestParameters"] for r in records if r.get("keyId") == key
                 and r["action"] == "DeleteImportedKeyMaterial"]
    assert {"keyId": key, "keyMaterialId": first_id} in deletions, deletions


@case
def each_imported_material_expires_on_its_own_date(s):
    """AWS's rule: expiry of a material of the key's own (current or not) makes the key
    PendingImport (no blob opens until that material is back); expiry of one pending
    rotation only forgets it."""
    import datetime
    work = s.work / "import-rotation-expiry"
    work.mkdir()
    first_server = KeyServer(s.cli, work)
    first, second = os.urandom(32), os.urandom(32)
    tomorrow = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    try:
        first_server.run("credential", "create", "--principal", "admin",
                         "--access-key-id", ADMIN_KEY[0], "--secret-access-key", ADMIN_KEY[1])
        kms = client(first_server)
        key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
        first_id = import_material(kms, work, key, first, ExpirationModel="KEY_MATERIAL_EXPIRES",
                                   ValidTo=tomorrow)["KeyMaterialId"]
        old = kms.encrypt(KeyId=key, Plaintext=b"old")["CiphertextBlob"]
        second_id = import_material(kms, work, key, second,
                                    ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
        kms.rotate_key_on_demand(KeyId=key)
        new = kms.encrypt(KeyId=key, Plaintext=b"new")["CiphertextBlob"]
        pending_id = import_material(kms, work, key, os.urandom(32), ImportType="NEW_KEY_MATERIAL",
                                     ExpirationModel="KEY_MATERIAL_EXPIRES",
                                     ValidTo=tomorrow)["KeyMaterialId"]
        m = kms.describe_key(KeyId=key)["KeyMetadata"]
        assert abs((m["ValidTo"] - tomorrow).total_seconds()) < 2, "the non-current one's"
        assert len(materials(kms, key)) == 3
    finally:
        first_server.stop()
    with days_later(s, work, 2) as (again, later):
        kms = client(again)
        deadline = time.monotonic() + 20
        while len(materials(kms, key)) != 2:
            assert time.monotonic() < deadline, "the pending material never expired"
            time.sleep(0.2)
        assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "PendingImport"
        listed = materials(kms, key)
        assert [(i, r["ImportState"], r["KeyMaterialState"]) for i, r in listed.items()] == [
            (first_id, "PENDING_IMPORT", "NON_CURRENT"), (second_id, "IMPORTED", "CURRENT")
        ], listed
        for blob in (old, new):
            fails("KMSInvalidStateException", kms.decrypt, CiphertextBlob=blob)
        records = json.loads(again.run("audit", "list", "--limit", "1000"))["records"]
        expired = [r["detail"] for r in records if r["action"] == "DeleteImportedKeyMaterial"
                   and r.get("keyId") == key and r["principal"] == "system"]
        assert sorted(expired) == sorted(
            f"the imported key material {i} expired" for i in (first_id, pending_id)), expired
        import_material(kms, work, key, first, KeyMaterialId=first_id)
        assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"
        for blob, plain in ((old, b"old"), (new, b"new")):
            assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == plain
        listed = materials(kms, key)
    # A backup keeps every material with its state, and the restored copy opens both blobs.
    root_key = {"CIPHERDROP_ROOT_KEY_FILE": str(work / "data" / "root-key")}
    backup_file = work / "backup.json"
    for args in (["backup", "--out", backup_file, "--data-dir", work / "data"],
                 ["restore", backup_file, "--data-dir", work / "restored" / "data"]):
        subprocess.run([str(s.cli), *map(str, args)], env={**clean_env(), **root_key},
                       check=True, capture_output=True)
    # The restored tokens are the backup's: the first server's admin token still works.
    admin_token = (work / "data" / "admin-token").read_text()
    (work / "restored" / "data" / "admin-token").write_text(admin_token)
    restored = KeyServer(s.cli, work / "restored", env=root_key)
    try:
        kms = client(restored)
        assert materials(kms, key) == listed
        for blob, plain in ((old, b"old"), (new, b"new")):
            assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == plain
    finally:
        restored.stop()


def aws_cli(s, cwd, *args, ok=True):
    """`aws kms ARGS --output json` (the AWS CLI, from PyPI) as the admin against our server,
    run in `cwd` with no user configuration: its JSON answer, or with ok=False its error text
    (the command must fail)."""
    env = {**clean_env(), "AWS_ACCESS_KEY_ID": ADMIN_KEY[0],
           "AWS_SECRET_ACCESS_KEY": ADMIN_KEY[1], "AWS_DEFAULT_REGION": REGION,
           "AWS_ENDPOINT_URL_KMS": s.addr, "AWS_CONFIG_FILE": "/dev/null",
           "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    out = subprocess.run([sys.executable, "-m", "awscli", "kms", "--output", "json", *args],
                         env=env, capture_output=True, cwd=cwd)
    if ok:
        assert out.returncode == 0, out.stderr.decode()
        return json.loads(out.stdout) if out.stdout.strip() else {}
    assert out.returncode != 0, f"aws kms {' '.join(map(str, args))} succeeded"
    return out.stderr.decode()


@case
def the_aws_cli_rotates_imported_material(s):
    work = s.work / "cli-import-rotation"
    work.mkdir()
    aws = functools.partial(aws_cli, s, work)

    def import_(key, material, *extra):
        params = aws("get-parameters-for-import", "--key-id", key, "--wrapping-algorithm",
                     "RSAES_OAEP_SHA_256", "--wrapping-key-spec", "RSA_2048")
        wrapped = wrap_with_openssl(work, base64.b64decode(params["PublicKey"]), material,
                                    "RSAES_OAEP_SHA_256")
        (work / "token.bin").write_bytes(base64.b64decode(params["ImportToken"]))
        (work / "material.wrapped").write_bytes(wrapped)
        return aws("import-key-material", "--key-id", key, "--import-token", "fileb://token.bin",
                   "--encrypted-key-material", "fileb://material.wrapped", "--expiration-model",
                   "KEY_MATERIAL_DOES_NOT_EXPIRE", *extra)

    key = aws("create-key", "--origin", "EXTERNAL")["KeyMetadata"]["KeyId"]
    first = import_(key, os.urandom(32), "--key-material-description", "from the cli")
    second = import_(key, os.urandom(32), "--import-type", "NEW_KEY_MATERIAL")
    listed = aws("list-key-rotations", "--key-id", key, "--include-key-material",
                 "ALL_KEY_MATERIAL")["Rotations"]
    assert [(r["KeyMaterialId"], r["KeyMaterialState"]) for r in listed] == [
        (first["KeyMaterialId"], "CURRENT"), (second["KeyMaterialId"], "PENDING_ROTATION")], listed
    assert listed[0]["KeyMaterialDescription"] == "from the cli", listed
    aws("rotate-key-on-demand", "--key-id", key)
    m = aws("describe-key", "--key-id", key)["KeyMetadata"]
    assert m["CurrentKeyMaterialId"] == second["KeyMaterialId"], m
    gone = aws("delete-imported-key-material", "--key-id", key, "--key-material-id",
               first["KeyMaterialId"])
    assert gone["KeyMaterialId"] == first["KeyMaterialId"], gone
    assert aws("describe-key", "--key-id", key)["KeyMetadata"]["KeyState"] == "PendingImport"


# --- Aliases, tags, policies -----------------------------------------------------------------


@case
def aliases(s):
    kms = client(s)
    a, b = (kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(2))
    kms.create_alias(AliasName="alias/app/files", TargetKeyId=a)
    fails("AlreadyExistsException", kms.create_alias, AliasName="alias/app/files", TargetKeyId=b)
    assert kms.describe_key(KeyId="alias/app/files")["KeyMetadata"]["KeyId"] == a
    alias_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/app/files"
    assert kms.describe_key(KeyId=alias_arn)["KeyMetadata"]["KeyId"] == a
    blob = kms.encrypt(KeyId="alias/app/files", Plaintext=b"z")["CiphertextBlob"]
    kms.update_alias(AliasName="alias/app/files", TargetKeyId=b)
    listed = [x for x in kms.list_aliases(KeyId=b)["Aliases"]]
    assert [x["AliasName"] for x in listed] == ["alias/app/files"], listed
    assert listed[0]["AliasArn"] == alias_arn and listed[0]["TargetKeyId"] == b, listed
    assert kms.decrypt(CiphertextBlob=blob)["KeyId"] == arn(a)
    fails("ValidationException", kms.create_alias, AliasName="alias/aws/mine", TargetKeyId=a)
    there = client(s, region="eu-west-3")
    fails("NotFoundException", there.describe_key, KeyId="alias/app/files")
    kms.delete_alias(AliasName="alias/app/files")
    fails("NotFoundException", kms.delete_alias, AliasName="alias/app/files")


@case
def tags(s):
    kms = client(s)
    key = kms.create_key(Tags=[{"TagKey": "a", "TagValue": "1"}])["KeyMetadata"]["KeyId"]
    kms.tag_resource(KeyId=key, Tags=[{"TagKey": "b", "TagValue": "2"},
                                      {"TagKey": "a", "TagValue": "3"}])
    got = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key)["Tags"]}
    assert got == {"a": "3", "b": "2"}, got
    kms.untag_resource(KeyId=key, TagKeys=["a"])
    assert [t["TagKey"] for t in kms.list_resource_tags(KeyId=key)["Tags"]] == ["b"]
    fails("TagException", kms.tag_resource, KeyId=key, Tags=[{"TagKey": "aws:x", "TagValue": ""}])
    many = [{"TagKey": f"k{i}", "TagValue": ""} for i in range(50)]
    fails("TagException", kms.tag_resource, KeyId=key, Tags=many)


@case
def key_policies_decide_who_may_do_what(s):
    kms = client(s)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    assert kms.list_key_policies(KeyId=key)["PolicyNames"] == ["default"]
    policy = {"Version": "2012-10-17", "Id": "test", "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*",
         "Resource": "*"},
        {"Sid": "alice encrypts for acme", "Effect": "Allow",
         "Principal": {"AWS": [f"arn:aws:iam::{ACCOUNT}:user/alice"]},
         "Action": ["kms:Encrypt", "kms:Describe*"], "Resource": arn(key),
         "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "acme"}}},
        {"Sid": "never for mallory", "Effect": "Deny", "Principal": "*",
         "Action": "kms:*", "Resource": "*",
         "Condition": {"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "mallory"}}},
    ]}
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(policy))
    got = json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    assert got == policy, got
    alice = client(s, ALICE_KEY)
    assert alice.encrypt(KeyId=key, Plaintext=b"a", EncryptionContext={"tenant": "acme"})
    fails("AccessDeniedException", alice.encrypt, KeyId=key, Plaintext=b"a",
          EncryptionContext={"tenant": "other"})
    fails("AccessDeniedException", alice.encrypt, KeyId=key, Plaintext=b"a",
          EncryptionContext={"tenant": "acme", "mallory": "x"})
    fails("AccessDeniedException", kms.encrypt, KeyId=key, Plaintext=b"a",
          EncryptionContext={"mallory": "x"})
    blob = kms.encrypt(KeyId=key, Plaintext=b"a", EncryptionContext={"tenant": "acme"})
    fails("AccessDeniedException", alice.decrypt, CiphertextBlob=blob["CiphertextBlob"],
          EncryptionContext={"tenant": "acme"})
    fails("AccessDeniedException", alice.create_key)
    fails("AccessDeniedException", alice.put_key_policy, KeyId=key, PolicyName="default",
          Policy=json.dumps(policy))
    fails("NotFoundException", kms.get_key_policy, KeyId=key, PolicyName="other")
    fails("MalformedPolicyDocumentException", kms.put_key_policy, KeyId=key,
          PolicyName="default", Policy='{"Statement": [], "Statement": []}')


# --- Grants ----------------------------------------------------------------------------------


def user(name):
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


@case
def grants_let_a_grantee_use_a_key_within_its_constraints(s):
    kms, alice = client(s), client(s, ALICE_KEY)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    fails("AccessDeniedException", alice.encrypt, KeyId=key, Plaintext=b"a")
    grant = kms.create_grant(
        KeyId=key, GranteePrincipal=user("alice"), RetiringPrincipal=user("alice"),
        Operations=["Encrypt", "Decrypt"], Name="alice-acme",
        Constraints={"EncryptionContextSubset": {"tenant": "acme"}})
    again = kms.create_grant(
        KeyId=key, GranteePrincipal=user("alice"), RetiringPrincipal=user("alice"),
        Operations=["Decrypt", "Encrypt"], Name="alice-acme",
        Constraints={"EncryptionContextSubset": {"tenant": "acme"}})
    assert again["GrantId"] == grant["GrantId"], (grant, again)
    ctx = {"tenant": "acme", "file": "1"}
    blob = alice.encrypt(KeyId=key, Plaintext=b"a", EncryptionContext=ctx)["CiphertextBlob"]
    assert alice.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)["Plaintext"] == b"a"
    fails("AccessDeniedException", alice.encrypt, KeyId=key, Plaintext=b"a",
          EncryptionContext={"tenant": "other"})
    fails("AccessDeniedException", alice.encrypt, KeyId=key, Plaintext=b"a")
    fails("AccessDeniedException", alice.generate_data_key, KeyId=key, KeySpec="AES_256",
          EncryptionContext=ctx)
    fails("AccessDeniedException", client(s, BOB_KEY).encrypt, KeyId=key, Plaintext=b"a",
          EncryptionContext=ctx)
    listed = kms.list_grants(KeyId=key)["Grants"]
    assert len(listed) == 1, listed
    g = listed[0]
    assert g["GrantId"] == grant["GrantId"] and g["KeyId"] == arn(key), g
    assert g["GranteePrincipal"] == user("alice") and sorted(g["Operations"]) == ["Decrypt", "Encrypt"]
    assert g["Constraints"] == {"EncryptionContextSubset": {"tenant": "acme"}}, g
    assert g["Name"] == "alice-acme" and g["IssuingAccount"] == f"arn:aws:iam::{ACCOUNT}:root"
    retirable = alice.list_retirable_grants(RetiringPrincipal=user("alice"))["Grants"]
    assert [x["GrantId"] for x in retirable] == [grant["GrantId"]], retirable
    fails("AccessDeniedException", client(s, BOB_KEY).list_retirable_grants,
          RetiringPrincipal=user("alice"))
    # The key's state still rules: a grant does not open a disabled key.
    kms.disable_key(KeyId=key)
    fails("DisabledException", alice.encrypt, KeyId=key, Plaintext=b"a", EncryptionContext=ctx)
    kms.enable_key(KeyId=key)
    alice.retire_grant(GrantToken=grant["GrantToken"])
    fails("AccessDeniedException", alice.decrypt, CiphertextBlob=blob, EncryptionContext=ctx)
    assert kms.list_grants(KeyId=key)["Grants"] == []
    fails("InvalidGrantTokenException", alice.retire_grant, GrantToken=grant["GrantToken"])


@case
def grant_equality_constraints_revocation_and_refusals(s):
    kms, bob = client(s), client(s, BOB_KEY)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    g = kms.create_grant(KeyId=key, GranteePrincipal=user("bob"), Operations=["GenerateDataKey"],
                         Constraints={"EncryptionContextEquals": {"app": "x"}})
    assert bob.generate_data_key(KeyId=key, KeySpec="AES_256", EncryptionContext={"app": "x"})
    fails("AccessDeniedException", bob.generate_data_key, KeyId=key, KeySpec="AES_256",
          EncryptionContext={"app": "x", "more": "y"})
    fails("AccessDeniedException", bob.retire_grant, KeyId=key, GrantId=g["GrantId"])
    fails("AccessDeniedException", bob.revoke_grant, KeyId=key, GrantId=g["GrantId"])
    fails("DryRunOperationException", kms.revoke_grant, KeyId=key, GrantId=g["GrantId"],
          DryRun=True)
    kms.revoke_grant(KeyId=key, GrantId=g["GrantId"])
    fails("AccessDeniedException", bob.generate_data_key, KeyId=key, KeySpec="AES_256",
          EncryptionContext={"app": "x"})
    fails("NotFoundException", kms.revoke_grant, KeyId=key, GrantId=g["GrantId"])
    raw = client(s, validate=False)
    fails("ValidationException", raw.create_grant, KeyId=key, GranteePrincipal="bob",
          Operations=["Decrypt"])
    fails("ValidationException", raw.create_grant, KeyId=key, GranteePrincipal=user("bob"),
          Operations=["Launch"])
    fails("ValidationException", raw.create_grant, KeyId=key, GranteePrincipal=user("bob"),
          Operations=["DescribeKey"], Constraints={"EncryptionContextSubset": {"a": "b"}})
    fails("ValidationException", raw.create_grant, KeyId=key,
          GranteePrincipal=f"arn:aws:iam::111122223333:user/bob", Operations=["Decrypt"])
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    fails("KMSInvalidStateException", kms.create_grant, KeyId=key,
          GranteePrincipal=user("bob"), Operations=["Decrypt"])


@case
def an_explicit_deny_beats_a_grant_and_grants_make_grants(s):
    kms, alice, bob = client(s), client(s, ALICE_KEY), client(s, BOB_KEY)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*",
         "Condition": {"StringEquals": {"kms:EncryptionContext:label": "secret"}}},
        {"Effect": "Allow", "Principal": {"AWS": user("bob")}, "Action": "kms:CreateGrant",
         "Resource": "*",
         "Condition": {"ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt"]}}},
    ]}
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(policy))
    kms.create_grant(KeyId=key, GranteePrincipal=user("alice"),
                     Operations=["Encrypt", "CreateGrant"])
    assert alice.encrypt(KeyId=key, Plaintext=b"a", EncryptionContext={"label": "public"})
    fails("AccessDeniedException", alice.encrypt, KeyId=key, Plaintext=b"a",
          EncryptionContext={"label": "secret"})
    # alice's grant carries CreateGrant: she may pass on what she holds, no more.
    assert alice.create_grant(KeyId=key, GranteePrincipal=user("bob"), Operations=["Encrypt"])
    assert bob.encrypt(KeyId=key, Plaintext=b"b")
    fails("AccessDeniedException", alice.create_grant, KeyId=key,
          GranteePrincipal=user("bob"), Operations=["Decrypt"])
    # bob's policy statement allows grants of Decrypt alone (kms:GrantOperations).
    assert bob.create_grant(KeyId=key, GranteePrincipal=user("alice"), Operations=["Decrypt"])
    fails("AccessDeniedException", bob.create_grant, KeyId=key,
          GranteePrincipal=user("alice"), Operations=["Decrypt", "ReEncryptFrom"])


# --- Other clients ---------------------------------------------------------------------------


@case
def the_aws_cli(s):
    run = functools.partial(aws_cli, s, s.work)

    key = run("create-key", "--description", "from the cli")["KeyMetadata"]["KeyId"]
    run("create-alias", "--alias-name", "alias/cli", "--target-key-id", key)
    (s.work / "plain.bin").write_bytes(b"cli secret")
    blob = run("encrypt", "--key-id", "alias/cli", "--plaintext", "fileb://plain.bin",
               "--encryption-context", "who=cli")["CiphertextBlob"]
    (s.work / "blob.bin").write_bytes(base64.b64decode(blob))
    d = run("decrypt", "--ciphertext-blob", "fileb://blob.bin", "--encryption-context", "who=cli")
    assert base64.b64decode(d["Plaintext"]) == b"cli secret" and d["KeyId"] == arn(key), d
    assert "alias/cli" in [a["AliasName"] for a in run("list-aliases")["Aliases"]]
    err = run("decrypt", "--ciphertext-blob", "fileb://blob.bin", ok=False)
    assert "InvalidCiphertextException" in err, err


@case
def the_aws_cli_for_signing_macs_rotation_import_and_replicas(s):
    work = s.work / "cli-part2"
    work.mkdir()
    aws = functools.partial(aws_cli, s, work)

    (work / "msg.bin").write_bytes(b"part two")
    key = aws("create-key", "--key-spec", "ECC_NIST_P384", "--key-usage", "SIGN_VERIFY")[
        "KeyMetadata"]["KeyId"]
    sig = aws("sign", "--key-id", key, "--message", "fileb://msg.bin", "--signing-algorithm",
              "ECDSA_SHA_384")["Signature"]
    (work / "sig.bin").write_bytes(base64.b64decode(sig))
    assert aws("verify", "--key-id", key, "--message", "fileb://msg.bin", "--signature",
               "fileb://sig.bin", "--signing-algorithm", "ECDSA_SHA_384")["SignatureValid"]
    err = aws("verify", "--key-id", key, "--message", "fileb://sig.bin", "--signature",
              "fileb://sig.bin", "--signing-algorithm", "ECDSA_SHA_384", ok=False)
    assert "KMSInvalidSignatureException" in err, err
    mac_key = aws("create-key", "--key-spec", "HMAC_256", "--key-usage", "GENERATE_VERIFY_MAC")[
        "KeyMetadata"]["KeyId"]
    mac = aws("generate-mac", "--key-id", mac_key, "--message", "fileb://msg.bin",
              "--mac-algorithm", "HMAC_SHA_256")["Mac"]
    (work / "mac.bin").write_bytes(base64.b64decode(mac))
    assert aws("verify-mac", "--key-id", mac_key, "--message", "fileb://msg.bin", "--mac",
               "fileb://mac.bin", "--mac-algorithm", "HMAC_SHA_256")["MacValid"]
    sym = aws("create-key", "--multi-region")["KeyMetadata"]["KeyId"]
    aws("enable-key-rotation", "--key-id", sym, "--rotation-period-in-days", "180")
    assert aws("get-key-rotation-status", "--key-id", sym)["RotationPeriodInDays"] == 180
    aws("rotate-key-on-demand", "--key-id", sym)
    assert [r["RotationType"] for r in aws("list-key-rotations", "--key-id", sym)["Rotations"]
            ] == ["ON_DEMAND"]
    pair = aws("generate-data-key-pair", "--key-id", sym, "--key-pair-spec", "ECC_NIST_P256")
    assert pair["KeyPairSpec"] == "ECC_NIST_P256" and pair["PrivateKeyPlaintext"], pair
    replica = aws("replicate-key", "--key-id", sym, "--replica-region", "eu-west-3")
    assert replica["ReplicaKeyMetadata"]["KeyId"] == sym, replica
    ext = aws("create-key", "--origin", "EXTERNAL")["KeyMetadata"]["KeyId"]
    params = aws("get-parameters-for-import", "--key-id", ext, "--wrapping-algorithm",
                 "RSA_AES_KEY_WRAP_SHA_256", "--wrapping-key-spec", "RSA_3072")
    wrapped = wrap_with_openssl(work, base64.b64decode(params["PublicKey"]), os.urandom(32),
                                "RSA_AES_KEY_WRAP_SHA_256")
    (work / "token.bin").write_bytes(base64.b64decode(params["ImportToken"]))
    (work / "material.wrapped").write_bytes(wrapped)
    aws("import-key-material", "--key-id", ext, "--import-token", "fileb://token.bin",
        "--encrypted-key-material", "fileb://material.wrapped", "--expiration-model",
        "KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert aws("describe-key", "--key-id", ext)["KeyMetadata"]["KeyState"] == "Enabled"
    aws("delete-imported-key-material", "--key-id", ext)
    assert aws("describe-key", "--key-id", ext)["KeyMetadata"]["KeyState"] == "PendingImport"


def sdk_env(s):
    return {"AWS_ENDPOINT_URL_KMS": s.addr, "AWS_ACCESS_KEY_ID": ADMIN_KEY[0],
            "AWS_SECRET_ACCESS_KEY": ADMIN_KEY[1], "AWS_DEFAULT_REGION": REGION}


@case
def the_encryption_sdk_kms_master_key_provider(s):
    import aws_encryption_sdk
    from aws_encryption_sdk.identifiers import CommitmentPolicy
    key_arn = client(s).create_key()["KeyMetadata"]["Arn"]
    with mock.patch.dict(os.environ, sdk_env(s)):
        sdk = aws_encryption_sdk.EncryptionSDKClient(
            commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
        provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[key_arn])
        ct, header = sdk.encrypt(source=b"esdk classic" * 100, key_provider=provider,
                                 encryption_context={"app": "test"})
        pt, dheader = sdk.decrypt(source=ct, key_provider=provider)
    assert pt == b"esdk classic" * 100
    assert dheader.encryption_context["app"] == "test"
    assert {k.key_provider.key_info.decode() for k in header.encrypted_data_keys} == {key_arn}


@case
def the_material_providers_kms_keyring(s):
    import aws_encryption_sdk
    from aws_encryption_sdk.identifiers import CommitmentPolicy
    from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
    from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
    from aws_cryptographic_material_providers.mpl.models import CreateAwsKmsKeyringInput
    key_arn = client(s).create_key()["KeyMetadata"]["Arn"]
    with mock.patch.dict(os.environ, sdk_env(s)):
        mpl = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())
        keyring = mpl.create_aws_kms_keyring(CreateAwsKmsKeyringInput(
            kms_key_id=key_arn, kms_client=boto3.client("kms", endpoint_url=s.addr)))
        sdk = aws_encryption_sdk.EncryptionSDKClient(
            commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
        ct, _ = sdk.encrypt(source=b"mpl keyring", keyring=keyring,
                            encryption_context={"tenant": "acme"})
        pt, header = sdk.decrypt(source=ct, keyring=keyring)
    assert pt == b"mpl keyring" and header.encryption_context["tenant"] == "acme"


NODE_DIR = Path(__file__).resolve().parent / "node"


def node_esdk(s, op, key_arn, data, context=None, ok=True, algorithm=None):
    """Runs tests/kms/node/esdk.mjs (the official @aws-crypto/client-node KMS keyring over AWS
    SDK v3) against our server; returns (plaintext or ciphertext, message context), or the
    error text when ok=False. Missing node_modules fails the case: nothing is skipped."""
    if not (NODE_DIR / "node_modules" / "@aws-crypto" / "client-node").is_dir():
        raise AssertionError(f"{NODE_DIR}/node_modules is missing: run scripts/setup.sh")
    req = {"op": op, "endpoint": s.addr, "region": REGION, "accessKeyId": ADMIN_KEY[0],
           "secretAccessKey": ADMIN_KEY[1], "keyArn": key_arn, "context": context or {},
           "data": base64.b64encode(data).decode(), "algorithm": algorithm}
    out = subprocess.run(["node", str(NODE_DIR / "esdk.mjs")], input=json.dumps(req).encode(),
                         capture_output=True, env=clean_env(), timeout=120)
    lines = out.stdout.decode().strip().splitlines()
    assert lines, f"esdk.mjs printed nothing (exit {out.returncode}): {out.stderr.decode()}"
    res = json.loads(lines[-1])
    if not ok:
        assert not res["ok"] and out.returncode != 0, f"node {op} succeeded: {res}"
        return res["error"]
    assert res["ok"] and out.returncode == 0, f"node {op}: {res} {out.stderr.decode()}"
    return base64.b64decode(res["data"]), res.get("context")


def python_esdk(s, key_arn):
    import aws_encryption_sdk
    from aws_encryption_sdk.identifiers import CommitmentPolicy
    sdk = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    return sdk, aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[key_arn])


@case
def the_node_encryption_sdk_kms_keyring_encrypts_for_python(s):
    key_arn = client(s).create_key()["KeyMetadata"]["Arn"]
    msg = b"node to python " * 300
    ct, ctx = node_esdk(s, "encrypt", key_arn, msg, {"app": "node", "tenant": "acme"})
    assert ctx["app"] == "node" and ctx["tenant"] == "acme", ctx
    with mock.patch.dict(os.environ, sdk_env(s)):
        sdk, provider = python_esdk(s, key_arn)
        pt, header = sdk.decrypt(source=ct, key_provider=provider)
    assert pt == msg
    assert header.encryption_context["app"] == "node"
    assert header.encryption_context["tenant"] == "acme"
    assert {k.key_provider.key_info.decode() for k in header.encrypted_data_keys} == {key_arn}


@case
def the_node_encryption_sdk_kms_keyring_decrypts_from_python(s):
    key_arn = client(s).create_key()["KeyMetadata"]["Arn"]
    msg = b"python to node " * 300
    with mock.patch.dict(os.environ, sdk_env(s)):
        sdk, provider = python_esdk(s, key_arn)
        ct, _ = sdk.encrypt(source=msg, key_provider=provider,
                            encryption_context={"app": "python"})
    pt, ctx = node_esdk(s, "decrypt", key_arn, ct)
    assert pt == msg and ctx["app"] == "python", ctx


@case
def the_javascript_aws_sdk_signs_and_macs_with_our_keys(s):
    """Browser and Node apps reach signing and MAC keys through AWS SDK v3 (@aws-sdk/client-kms):
    its Sign/Verify and GenerateMac/VerifyMac round trips work here, the signature verifies
    with Python's `cryptography` against GetPublicKey's key, the MAC equals Python's hmac of the
    imported key, and a refusal reaches the SDK under AWS's exception name."""
    import hmac as hmac_lib
    kms = client(s)
    message = b"signed from JavaScript"
    for spec, alg in (("ECC_NIST_P256", "ECDSA_SHA_256"), ("RSA_2048", "RSASSA_PSS_SHA_384")):
        key = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
        sig, _ = node_esdk(s, "sign", key, message, algorithm=alg)
        public = serialization.load_der_public_key(kms.get_public_key(KeyId=key)["PublicKey"])
        verify_independently(public, alg, message, sig)
        assert kms.verify(KeyId=key, Message=message, Signature=sig,
                          SigningAlgorithm=alg)["SignatureValid"] is True
    mac_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC",
                             Origin="EXTERNAL")["KeyMetadata"]["Arn"]
    work = s.work / "javascript-mac"
    work.mkdir()
    secret = os.urandom(32)
    import_material(kms, work, mac_key, secret)
    mac, _ = node_esdk(s, "mac", mac_key, message, algorithm="HMAC_SHA_256")
    assert mac == hmac_lib.new(secret, message, "sha256").digest()
    kms.disable_key(KeyId=mac_key)
    err = node_esdk(s, "mac", mac_key, message, ok=False, algorithm="HMAC_SHA_256")
    assert "DisabledException" in err, err


@case
def the_node_encryption_sdk_kms_keyring_fails_on_a_disabled_key(s):
    kms = client(s)
    key = kms.create_key()["KeyMetadata"]
    ct, _ = node_esdk(s, "encrypt", key["Arn"], b"soon unreadable", {"app": "node"})
    assert node_esdk(s, "decrypt", key["Arn"], ct)[0] == b"soon unreadable"
    kms.disable_key(KeyId=key["KeyId"])
    err = node_esdk(s, "decrypt", key["Arn"], ct, ok=False)
    assert "DisabledException" in err, err
    kms.enable_key(KeyId=key["KeyId"])
    assert node_esdk(s, "decrypt", key["Arn"], ct)[0] == b"soon unreadable"


# --- The AWS KMS RSA keyring (`--kms-key`, the npm KmsRsaKeyring) against the MPL's ------------


def mpl_rsa_keyring(s, key_arn, algorithm, public_pem=None):
    """The Material Providers Library's AWS KMS RSA keyring, with a boto3 client of ours."""
    from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
    from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
    from aws_cryptographic_material_providers.mpl.models import CreateAwsKmsRsaKeyringInput
    mpl = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())
    return mpl.create_aws_kms_rsa_keyring(CreateAwsKmsRsaKeyringInput(
        kms_key_id=key_arn, encryption_algorithm=algorithm, public_key=public_pem,
        kms_client=client(s)))


def unsigned_sdk():
    import aws_encryption_sdk
    from aws_encryption_sdk.identifiers import CommitmentPolicy
    return aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)


def kms_cli_env(s, creds=ADMIN_KEY):
    return {**clean_env(), "AWS_ENDPOINT_URL_KMS": s.addr, "AWS_ACCESS_KEY_ID": creds[0],
            "AWS_SECRET_ACCESS_KEY": creds[1], "AWS_REGION": REGION}


def crypt(s, *args, creds=ADMIN_KEY, ok=True):
    """`cipherdrop encrypt|decrypt ...` with AWS credentials; stdout, or stderr when failing."""
    out = subprocess.run([str(s.cli), *args], env=kms_cli_env(s, creds), capture_output=True)
    if ok:
        assert out.returncode == 0, f"cipherdrop {' '.join(args)}: {out.stderr.decode()}"
        return out.stdout
    assert out.returncode != 0, f"cipherdrop {' '.join(args)} succeeded"
    err = out.stderr.decode()
    assert err.count("\n") == 1, f"not one line: {err!r}"
    return err


def rsa_kms_key(s, spec):
    key = client(s).create_key(KeySpec=spec, KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    der = client(s).get_public_key(KeyId=key["Arn"])["PublicKey"]
    pem = serialization.load_der_public_key(der).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key["Arn"], pem


@case
def kms_rsa_keyring_cli_and_mpl_interoperate(s):
    from aws_encryption_sdk.identifiers import AlgorithmSuite
    sdk = unsigned_sdk()
    plain = s.work / "kms-rsa-plain.bin"
    plain.write_bytes(os.urandom(70000))
    for spec in ("RSA_2048", "RSA_3072"):
        key_arn, pem = rsa_kms_key(s, spec)
        for alg in ("RSAES_OAEP_SHA_256", "RSAES_OAEP_SHA_1"):
            ours = s.work / f"kms-rsa-{spec}-{alg}.cdm"
            crypt(s, "encrypt", "-i", str(plain), "-o", str(ours), "--kms-key", key_arn,
                  "--kms-encryption-algorithm", alg, "--context", "tenant=acme")
            keyring = mpl_rsa_keyring(s, key_arn, alg, pem)
            pt, header = sdk.decrypt(source=ours.read_bytes(), keyring=keyring)
            assert pt == plain.read_bytes() and header.encryption_context == {"tenant": "acme"}
            assert [(k.key_provider.provider_id, k.key_provider.key_info.decode())
                    for k in header.encrypted_data_keys] == [("aws-kms-rsa", key_arn)]
            theirs, _ = sdk.encrypt(source=plain.read_bytes(), keyring=keyring,
                                    algorithm=AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
                                    encryption_context={"tenant": "acme", "n": spec})
            (s.work / "theirs.cdm").write_bytes(theirs)
            got = crypt(s, "decrypt", "-i", str(s.work / "theirs.cdm"), "--kms-key", key_arn,
                        "--kms-encryption-algorithm", alg, "--context", "tenant=acme")
            assert got == plain.read_bytes()
    # Another hash than the message was written with: KMS's OAEP check fails (opaque).
    err = crypt(s, "decrypt", "-i", str(s.work / "theirs.cdm"), "--kms-key", key_arn,
                "--kms-encryption-algorithm", "RSAES_OAEP_SHA_256", ok=False)
    assert "decrypt failed" in err, err


@case
def kms_rsa_keyring_refusals(s):
    kms = client(s)
    key_arn, pem = rsa_kms_key(s, "RSA_2048")
    msg = s.work / "kms-refusals.cdm"
    crypt(s, "encrypt", "-o", str(msg), "--kms-key", key_arn, "-i", "/dev/null")
    # Signed suites are refused, as the MPL keyring refuses them.
    err = crypt(s, "encrypt", "-i", "/dev/null", "--kms-key", key_arn, "--suite", "0x0578",
                ok=False)
    assert "signed algorithm suite" in err, err
    # Not a key ARN (an alias, a bare key ID).
    for bad in ("alias/x", key_arn.split("/")[-1], key_arn.replace(":key/", ":alias/")):
        err = crypt(s, "decrypt", "-i", str(msg), "--kms-key", bad, ok=False)
        assert "--kms-key" in err and "not an AWS KMS key ARN" in err, err
    # Another key's ARN: the EDK is not that keyring's.
    other_arn, _ = rsa_kms_key(s, "RSA_2048")
    err = crypt(s, "decrypt", "-i", str(msg), "--kms-key", other_arn, ok=False)
    assert "no decryptable" in err.lower() or "no encrypted data key" in err.lower(), err
    # A disabled key.
    kms.disable_key(KeyId=key_arn)
    err = crypt(s, "decrypt", "-i", str(msg), "--kms-key", key_arn, ok=False)
    assert "DisabledException" in err, err
    kms.enable_key(KeyId=key_arn)
    # A policy that denies Decrypt to alice.
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"},
         "Action": ["kms:GetPublicKey", "kms:DescribeKey"], "Resource": "*"},
        {"Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"},
         "Action": "kms:Decrypt", "Resource": "*"}]}
    kms.put_key_policy(KeyId=key_arn, PolicyName="default", Policy=json.dumps(policy))
    crypt(s, "encrypt", "-i", "/dev/null", "-o", str(s.work / "alice.cdm"), "--kms-key",
          key_arn, creds=ALICE_KEY)
    err = crypt(s, "decrypt", "-i", str(msg), "--kms-key", key_arn, creds=ALICE_KEY, ok=False)
    assert "AccessDeniedException" in err, err
    assert crypt(s, "decrypt", "-i", str(s.work / "alice.cdm"), "--kms-key", key_arn) == b""
    # An unknown access key: DescribeKey is refused before any input is read.
    err = crypt(s, "encrypt", "-i", "/dev/null", "--kms-key", key_arn,
                creds=("AKIANOSUCHKEY0000000", "x" * 20), ok=False)
    assert "DescribeKey" in err and "Exception" in err, err


# --- The AWS KMS keyring for symmetric keys (`--kms-key`, the npm KmsKeyring) ----------------


def mpl_kms_keyring(s, key_arn, creds=ADMIN_KEY):
    """The Material Providers Library's AWS KMS keyring (`create_aws_kms_keyring`)."""
    from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
    from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
    from aws_cryptographic_material_providers.mpl.models import CreateAwsKmsKeyringInput
    mpl = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())
    return mpl.create_aws_kms_keyring(CreateAwsKmsKeyringInput(
        kms_key_id=key_arn, kms_client=client(s, creds)))


def edks_of(header):
    return [(k.key_provider.provider_id, k.key_provider.key_info.decode())
            for k in header.encrypted_data_keys]


def official_decryptions(s, key_arn, message, context):
    """Decrypts `message` with the Python ESDK's StrictAwsKmsMasterKeyProvider, the MPL's AWS
    KMS keyring and @aws-crypto/client-node's KmsKeyringNode; returns the three plaintexts,
    after checking each header's context and EDKs."""
    out = []
    with mock.patch.dict(os.environ, sdk_env(s)):
        sdk, provider = python_esdk(s, key_arn)
        pt, header = sdk.decrypt(source=message, key_provider=provider)
        assert ("aws-kms", key_arn) in edks_of(header), edks_of(header)
        assert context.items() <= header.encryption_context.items(), header.encryption_context
        out.append(pt)
        pt, header = unsigned_sdk().decrypt(source=message, keyring=mpl_kms_keyring(s, key_arn))
        assert context.items() <= header.encryption_context.items(), header.encryption_context
        out.append(pt)
    pt, ctx = node_esdk(s, "decrypt", key_arn, message)
    assert context.items() <= ctx.items(), ctx
    out.append(pt)
    return out


def official_encryptions(s, key_arn, plaintext, context):
    """`plaintext` encrypted by the Python ESDK (master key provider; signed suite), the MPL's
    AWS KMS keyring (unsigned suite 0x0478) and KmsKeyringNode, with `context`."""
    from aws_encryption_sdk.identifiers import AlgorithmSuite
    with mock.patch.dict(os.environ, sdk_env(s)):
        sdk, provider = python_esdk(s, key_arn)
        classic, _ = sdk.encrypt(source=plaintext, key_provider=provider,
                                 encryption_context=context)
        mpl, _ = unsigned_sdk().encrypt(
            source=plaintext, keyring=mpl_kms_keyring(s, key_arn), encryption_context=context,
            algorithm=AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY)
    node, _ = node_esdk(s, "encrypt", key_arn, plaintext, context)
    return {"python": classic, "mpl": mpl, "node": node}


def tampered_context(message, old, new):
    """`message` with one encryption context value replaced by another of the same length."""
    assert len(old) == len(new) and message.count(old) == 1, (old, new)
    return message.replace(old, new)


@case
def kms_keyring_cli_and_the_official_sdks_interoperate(s):
    key_arn = client(s).create_key()["KeyMetadata"]["Arn"]
    plain = s.work / "kms-plain.bin"
    plain.write_bytes(os.urandom(150000))
    context = {"tenant": "acme", "file": "7f3a"}
    flags = ["--context", "tenant=acme", "--context", "file=7f3a"]
    # Ours -> theirs: the default (signed) suite and 0x0478.
    for suite in ("0x0578", "0x0478"):
        ours = s.work / f"kms-ours-{suite}.cdm"
        crypt(s, "encrypt", "-i", str(plain), "-o", str(ours), "--kms-key", key_arn,
              "--suite", suite, *flags)
        for pt in official_decryptions(s, key_arn, ours.read_bytes(), context):
            assert pt == plain.read_bytes(), suite
        assert crypt(s, "decrypt", "-i", str(ours), "--kms-key", key_arn, *flags) == \
            plain.read_bytes()
    # Theirs -> ours.
    for who, message in official_encryptions(s, key_arn, plain.read_bytes(), context).items():
        theirs = s.work / f"kms-theirs-{who}.cdm"
        theirs.write_bytes(message)
        got = crypt(s, "decrypt", "-i", str(theirs), "--kms-key", key_arn, *flags)
        assert got == plain.read_bytes(), who
    # A symmetric key and an RSA key together: GenerateDataKey, then RSA wrapping of that key.
    rsa_arn, pem = rsa_kms_key(s, "RSA_2048")
    both = s.work / "kms-both.cdm"
    crypt(s, "encrypt", "-i", str(plain), "-o", str(both), "--kms-key", key_arn,
          "--kms-key", rsa_arn, "--suite", "0x0478", *flags)
    pt, header = unsigned_sdk().decrypt(
        source=both.read_bytes(), keyring=mpl_rsa_keyring(s, rsa_arn, "RSAES_OAEP_SHA_256", pem))
    assert pt == plain.read_bytes()
    # (The Python ESDK keeps a header's EDKs in a set.)
    assert sorted(edks_of(header)) == [("aws-kms", key_arn), ("aws-kms-rsa", rsa_arn)]
    assert official_decryptions(s, key_arn, both.read_bytes(), context)[0] == plain.read_bytes()
    # Without a suite, an RSA key among the keys picks 0x0478 (its keyring refuses signing).
    crypt(s, "encrypt", "-i", "/dev/null", "-o", str(both), "--kms-key", key_arn,
          "--kms-key", rsa_arn)
    assert both.read_bytes()[1:3] == b"\x04\x78", both.read_bytes()[:3]


@case
def kms_keyring_refusals(s):
    kms = client(s)
    key = kms.create_key()["KeyMetadata"]
    key_arn = key["Arn"]
    msg = s.work / "kms-sym.cdm"
    crypt(s, "encrypt", "-i", "/dev/null", "-o", str(msg), "--kms-key", key_arn,
          "--context", "tenant=acme")
    # The context is bound by KMS: a message whose context was changed does not unwrap.
    forged = s.work / "kms-sym-forged.cdm"
    forged.write_bytes(tampered_context(msg.read_bytes(), b"acme", b"acmf"))
    err = crypt(s, "decrypt", "-i", str(forged), "--kms-key", key_arn, ok=False)
    assert "InvalidCiphertextException" in err, err
    with mock.patch.dict(os.environ, sdk_env(s)):
        sdk, provider = python_esdk(s, key_arn)
        try:
            sdk.decrypt(source=forged.read_bytes(), key_provider=provider)
            raise AssertionError("the official SDK decrypted a forged context")
        except Exception as e:  # noqa: BLE001 - the SDK's own error types vary
            assert not isinstance(e, AssertionError), e
    # Another required context.
    err = crypt(s, "decrypt", "-i", str(msg), "--kms-key", key_arn, "--context", "tenant=x",
                ok=False)
    assert "context" in err, err
    # Not a key ARN.
    for bad in ("alias/x", key["KeyId"], key_arn.replace(":key/", ":alias/")):
        err = crypt(s, "encrypt", "-i", "/dev/null", "--kms-key", bad, ok=False)
        assert "--kms-key" in err and "not an AWS KMS key ARN" in err, err
    # Another key's ARN: the EDK is not that keyring's.
    other = kms.create_key()["KeyMetadata"]["Arn"]
    err = crypt(s, "decrypt", "-i", str(msg), "--kms-key", other, ok=False)
    assert "no decryptable" in err.lower() or "no encrypted data key" in err.lower(), err
    # A disabled key: neither GenerateDataKey nor Decrypt.
    kms.disable_key(KeyId=key_arn)
    err = crypt(s, "decrypt", "-i", str(msg), "--kms-key", key_arn, ok=False)
    assert "Decrypt" in err and "DisabledException" in err, err
    err = crypt(s, "encrypt", "-i", "/dev/null", "--kms-key", key_arn, ok=False)
    assert "GenerateDataKey" in err and "DisabledException" in err, err
    kms.enable_key(KeyId=key_arn)
    # A policy that denies Decrypt to alice (and lets her encrypt).
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": user("alice")},
         "Action": ["kms:DescribeKey", "kms:GenerateDataKey"], "Resource": "*"},
        {"Effect": "Deny", "Principal": {"AWS": user("alice")},
         "Action": "kms:Decrypt", "Resource": "*"}]}
    kms.put_key_policy(KeyId=key_arn, PolicyName="default", Policy=json.dumps(policy))
    crypt(s, "encrypt", "-i", "/dev/null", "-o", str(s.work / "alice-sym.cdm"), "--kms-key",
          key_arn, creds=ALICE_KEY)
    err = crypt(s, "decrypt", "-i", str(msg), "--kms-key", key_arn, creds=ALICE_KEY, ok=False)
    assert "AccessDeniedException" in err, err
    assert crypt(s, "decrypt", "-i", str(s.work / "alice-sym.cdm"), "--kms-key", key_arn) == b""
    # Grant-only access: bob, named in no policy, decrypts with a Decrypt grant (and its token,
    # which is accepted and not needed) as long as the grant lives.
    err = crypt(s, "decrypt", "-i", str(msg), "--kms-key", key_arn, creds=BOB_KEY, ok=False)
    assert "AccessDeniedException" in err, err
    grant = kms.create_grant(KeyId=key_arn, GranteePrincipal=user("bob"),
                             Operations=["Decrypt"],
                             Constraints={"EncryptionContextSubset": {"tenant": "acme"}})
    assert crypt(s, "decrypt", "-i", str(msg), "--kms-key", key_arn, "--kms-grant-token",
                 grant["GrantToken"], creds=BOB_KEY) == b""
    # A token is base64url and may start with '-' (one in 64 did, and clap read it as a
    # flag): the CLI passes such a value on (the grant, not the token, lets bob decrypt).
    assert crypt(s, "decrypt", "-i", str(msg), "--kms-key", key_arn, "--kms-grant-token",
                 "-" + grant["GrantToken"][1:], creds=BOB_KEY) == b""
    assert crypt(s, "decrypt", "-i", str(msg), "--kms-key", key_arn, creds=BOB_KEY) == b""
    err = crypt(s, "decrypt", "-i", str(s.work / "alice-sym.cdm"), "--kms-key", key_arn,
                creds=BOB_KEY, ok=False)
    assert "AccessDeniedException" in err, err  # no tenant=acme: outside the grant
    kms.revoke_grant(KeyId=key_arn, GrantId=grant["GrantId"])
    err = crypt(s, "decrypt", "-i", str(msg), "--kms-key", key_arn, creds=BOB_KEY, ok=False)
    assert "AccessDeniedException" in err, err
    # A key that wraps no data keys.
    hmac_arn = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    err = crypt(s, "encrypt", "-i", "/dev/null", "--kms-key", hmac_arn["Arn"], ok=False)
    assert "KeySpec HMAC_256" in err, err


REPO = Path(__file__).resolve().parents[2]


def node_project(s):
    """A project with the packed npm package installed (`scripts/build-pkg.sh --pack`), once."""
    project = s.work / "node"
    if not (project / "node_modules" / "cipherdrop").exists():
        version = json.loads((REPO / "pkg-template/package.json").read_text())["version"]
        tgz = REPO / "target/npm" / f"cipherdrop-{version}.tgz"
        assert tgz.exists(), f"{tgz} is missing: run scripts/build-pkg.sh --pack first"
        project.mkdir(exist_ok=True)
        (project / "package.json").write_text(json.dumps(
            {"name": "kms-keyring-test", "private": True, "type": "module",
             "dependencies": {"cipherdrop": f"file:{tgz}"}}))
        subprocess.run(["npm", "install", "--offline", "--no-audit", "--no-fund",
                        "--loglevel=error"], cwd=project, check=True)
    (project / "keyring.mjs").write_bytes((REPO / "tests/kms/keyring.mjs").read_bytes())
    return project


def node_keyring(s, mode, config):
    out = subprocess.run(["node", "keyring.mjs", mode, json.dumps(config)], cwd=node_project(s),
                         capture_output=True, env=clean_env())
    assert out.returncode == 0, f"keyring.mjs {mode}: {out.stderr.decode()}"
    return json.loads(out.stdout)


def node_creds(creds=ADMIN_KEY):
    return {"accessKeyId": creds[0], "secretAccessKey": creds[1]}


@npm_case
def npm_sigv4_signer_matches_botocore(s):
    import datetime
    cases = []
    for i, (body, token) in enumerate([('{"KeyId":"arn:aws:kms:us-east-1:000000000000:key/x"}', None),
                                       ("", "session/token+with=chars"), ('{"a": "  b  c "}', None)]):
        cases.append({
            "url": "http://127.0.0.1:8700/" if i != 1 else "https://kms.eu-west-1.amazonaws.com/",
            "headers": {"content-type": "application/x-amz-json-1.1",
                        "x-amz-target": "TrentService.Decrypt"},
            "body": body, "region": "eu-west-1" if i == 1 else REGION, "service": "kms",
            "credentials": {**node_creds(), **({"sessionToken": token} if token else {})},
            "date": f"2026-12-0{i + 1}T23:59:5{i}Z"})
    ours = node_keyring(s, "sign", {"cases": cases})
    for c, got in zip(cases, ours):
        creds = botocore.credentials.Credentials(
            c["credentials"]["accessKeyId"], c["credentials"]["secretAccessKey"],
            c["credentials"].get("sessionToken"))
        req = botocore.awsrequest.AWSRequest(method="POST", url=c["url"],
                                             data=c["body"].encode(), headers=c["headers"])
        when = datetime.datetime.strptime(c["date"], "%Y-%m-%dT%H:%M:%SZ")
        with mock.patch("botocore.auth.get_current_datetime", lambda: when):
            botocore.auth.SigV4Auth(creds, c["service"], c["region"]).add_auth(req)
        assert got["authorization"] == req.headers["Authorization"], (got, dict(req.headers))
        assert got["x-amz-date"] == req.headers["X-Amz-Date"]
        assert got.get("x-amz-security-token") == req.headers.get("X-Amz-Security-Token")


@npm_case
def npm_kms_rsa_keyring_and_mpl_interoperate(s):
    from aws_encryption_sdk.identifiers import AlgorithmSuite
    sdk = unsigned_sdk()
    plain = s.work / "npm-kms-plain.bin"
    plain.write_bytes(os.urandom(100000))
    keys = []
    for spec, alg in (("RSA_2048", "RSAES_OAEP_SHA_256"), ("RSA_3072", "RSAES_OAEP_SHA_1"),
                      ("RSA_2048", "RSAES_OAEP_SHA_1"), ("RSA_3072", "RSAES_OAEP_SHA_256")):
        key_arn, pem = rsa_kms_key(s, spec)
        theirs = s.work / f"npm-mpl-{len(keys)}.cdm"
        ct, _ = sdk.encrypt(source=plain.read_bytes(), keyring=mpl_rsa_keyring(s, key_arn, alg, pem),
                            algorithm=AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
                            encryption_context={"tenant": "acme"})
        theirs.write_bytes(ct)
        keys.append({"arn": key_arn, "algorithm": alg, "publicKeyPem": pem.decode(),
                     "theirs": str(theirs), "ours": str(s.work / f"npm-ours-{len(keys)}.cdm")})
    results = node_keyring(s, "roundtrip", {"endpoint": s.addr, "credentials": node_creds(),
                                            "plaintext": str(plain), "keys": keys})
    for key, r in zip(keys, results):
        assert r["mine"] and r["theirs"] and r["given"], r
        assert r["edks"] == [["aws-kms-rsa", key["arn"]]], r
        pt, header = sdk.decrypt(source=Path(key["ours"]).read_bytes(),
                                 keyring=mpl_rsa_keyring(s, key["arn"], key["algorithm"]))
        assert pt == plain.read_bytes() and header.encryption_context == {"tenant": "acme"}


@npm_case
def npm_kms_rsa_keyring_refusals(s):
    kms = client(s)
    keys = []
    for _ in range(2):
        key_arn, pem = rsa_kms_key(s, "RSA_2048")
        keys.append({"arn": key_arn, "algorithm": "RSAES_OAEP_SHA_256",
                     "publicKeyPem": pem.decode()})
    msg = s.work / "npm-refusals.cdm"
    crypt(s, "encrypt", "-i", "/dev/null", "-o", str(msg), "--kms-key", keys[0]["arn"])
    config = {"endpoint": s.addr, "credentials": node_creds(), "keys": keys, "message": str(msg)}
    out = node_keyring(s, "refusals", config)
    expect = {
        "signedSuite": ("EncryptError", "KEYRING", None),
        "otherArn": ("DecryptError", "NO_DECRYPTABLE_KEY", None),
        "badArn": ("KeyError", "INVALID_KEY_ARN", None),
        "bareKeyId": ("KeyError", "INVALID_KEY_ARN", None),
        "badAlgorithm": ("KeyError", "UNSUPPORTED_ENCRYPTION_ALGORITHM", None),
        "unknownOption": ("KeyError", "INVALID_OPTION", None),
        "badSecret": ("KeyError", "INVALID_PUBLIC_KEY", "InvalidSignatureException"),
        # KMS itself refuses the OAEP decryption under the other hash.
        "wrongHash": ("DecryptError", "KEYRING", "InvalidCiphertextException"),
    }
    for name, (cls, code, server_code) in expect.items():
        got = out[name]
        assert (got["name"], got["code"], got.get("serverCode")) == (cls, code, server_code), \
            (name, got)
    kms.disable_key(KeyId=keys[0]["arn"])
    got = node_keyring(s, "decrypt-fails", config)
    assert (got["code"], got.get("serverCode")) == ("KEYRING", "DisabledException"), got
    kms.enable_key(KeyId=keys[0]["arn"])
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"},
         "Action": "kms:Decrypt", "Resource": "*"}]}
    kms.put_key_policy(KeyId=keys[0]["arn"], PolicyName="default", Policy=json.dumps(policy))
    got = node_keyring(s, "decrypt-fails", {**config, "credentials": node_creds(ALICE_KEY)})
    assert (got["code"], got.get("serverCode")) == ("KEYRING", "AccessDeniedException"), got


@npm_case
def npm_kms_rsa_keyring_with_a_bearer_token(s):
    key_arn, pem = rsa_kms_key(s, "RSA_3072")
    key = {"arn": key_arn, "algorithm": "RSAES_OAEP_SHA_256", "publicKeyPem": pem.decode()}
    bob = json.loads(s.run("token", "create", "--principal", "bob"))["token"]
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/bob"},
         "Action": "kms:Decrypt", "Resource": "*"}]}
    client(s).put_key_policy(KeyId=key_arn, PolicyName="default", Policy=json.dumps(policy))
    got = node_keyring(s, "bearer", {"endpoint": s.addr, "keys": [key], "token": s.admin,
                                     "deniedToken": bob})
    assert got["plaintext"] == "bearer" and got["calls"] == 2, got
    denied = got["denied"]
    assert (denied["code"], denied.get("serverCode")) == ("KEYRING", "AccessDeniedException"), got


@npm_case
def npm_kms_keyring_and_the_official_sdks_interoperate(s):
    kms = client(s)
    a, b = (kms.create_key()["KeyMetadata"]["Arn"] for _ in range(2))
    plain = s.work / "npm-sym-plain.bin"
    plain.write_bytes(os.urandom(120000))
    context = {"tenant": "acme", "file": "7f3a"}
    theirs = {}
    for who, message in official_encryptions(s, a, plain.read_bytes(), context).items():
        theirs[who] = str(s.work / f"npm-sym-theirs-{who}.cdm")
        Path(theirs[who]).write_bytes(message)
    out = node_keyring(s, "sym-roundtrip", {
        "endpoint": s.addr, "credentials": node_creds(), "keys": [a, b], "plaintext": str(plain),
        "context": context, "dir": str(s.work), "theirs": theirs})
    assert out["theirs"] == {"python": True, "mpl": True, "node": True}, out
    assert out["generatorKeyId"] == a and out["keyIds"] == [b], out
    assert out["secondAlone"] == {"generatorKeyId": None, "decrypts": True}, out
    for name, written in out["written"].items():
        assert written["roundTrip"], (name, written)
        expected = [["aws-kms", a]] + ([["aws-kms", b]] if name == "both" else [])
        assert written["edks"] == expected, (name, written)
        message = Path(written["file"]).read_bytes()
        for pt in official_decryptions(s, a, message, context):
            assert pt == plain.read_bytes(), name
        assert crypt(s, "decrypt", "-i", written["file"], "--kms-key", a) == plain.read_bytes()
    # The second key's EDK alone opens `both`, for the official SDK too.
    both = Path(out["written"]["both"]["file"]).read_bytes()
    assert official_decryptions(s, b, both, context)[0] == plain.read_bytes()
    assert Path(out["written"]["unsigned"]["file"]).read_bytes()[1:3] == b"\x04\x78"


@npm_case
def npm_kms_keyring_refusals(s):
    kms = client(s)
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    other = kms.create_key()["KeyMetadata"]["Arn"]
    msg = s.work / "npm-sym.cdm"
    crypt(s, "encrypt", "-i", "/dev/null", "-o", str(msg), "--kms-key", key_arn,
          "--context", "tenant=acme")
    forged = s.work / "npm-sym-forged.cdm"
    forged.write_bytes(tampered_context(msg.read_bytes(), b"acme", b"acmf"))
    config = {"endpoint": s.addr, "credentials": node_creds(), "key": key_arn, "other": other,
              "message": str(msg), "forged": str(forged)}
    out = node_keyring(s, "sym-refusals", config)
    expect = {
        # KMS binds the blob to the context: a changed context does not decrypt.
        "forged": ("DecryptError", "KEYRING", "InvalidCiphertextException"),
        "otherArn": ("DecryptError", "NO_DECRYPTABLE_KEY", None),
        "badArn": ("KeyError", "INVALID_KEY_ARN", None),
        "bareKeyId": ("KeyError", "INVALID_KEY_ARN", None),
        "unknownOption": ("KeyError", "INVALID_OPTION", None),
        "badSecret": ("EncryptError", "KEYRING", "InvalidSignatureException"),
        "contextMismatch": ("DecryptError", "CONTEXT_MISMATCH", None),
    }
    for name, (cls, code, server_code) in expect.items():
        got = out[name]
        assert (got["name"], got["code"], got.get("serverCode")) == (cls, code, server_code), \
            (name, got)

    def decrypt_as(creds=ADMIN_KEY, **extra):
        return node_keyring(s, "sym-decrypt", {"endpoint": s.addr, "credentials": node_creds(creds),
                                               "key": key_arn, "message": str(msg), **extra})

    assert decrypt_as(encrypt=True) == {"ok": True, "plaintext": ""}
    kms.disable_key(KeyId=key_arn)
    got = decrypt_as()
    assert (got["code"], got.get("serverCode")) == ("KEYRING", "DisabledException"), got
    kms.enable_key(KeyId=key_arn)
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": {"AWS": user("alice")},
         "Action": "kms:Decrypt", "Resource": "*"}]}
    kms.put_key_policy(KeyId=key_arn, PolicyName="default", Policy=json.dumps(policy))
    got = decrypt_as(ALICE_KEY)
    assert (got["code"], got.get("serverCode")) == ("KEYRING", "AccessDeniedException"), got
    # Grant-only access: bob, in no policy, decrypts with a Decrypt grant (its token sent).
    got = decrypt_as(BOB_KEY)
    assert (got["code"], got.get("serverCode")) == ("KEYRING", "AccessDeniedException"), got
    grant = kms.create_grant(KeyId=key_arn, GranteePrincipal=user("bob"), Operations=["Decrypt"])
    assert decrypt_as(BOB_KEY, grantTokens=[grant["GrantToken"]]) == {"ok": True, "plaintext": ""}
    kms.revoke_grant(KeyId=key_arn, GrantId=grant["GrantId"])
    got = decrypt_as(BOB_KEY)
    assert (got["code"], got.get("serverCode")) == ("KEYRING", "AccessDeniedException"), got
    # A bearer token instead of SigV4 (GenerateDataKey and Decrypt, then the CLI's message).
    got = node_keyring(s, "sym-decrypt", {"endpoint": s.addr, "token": s.admin, "key": key_arn,
                                          "message": str(msg), "encrypt": True})
    assert got == {"ok": True, "plaintext": ""}, got


# --- Audit -----------------------------------------------------------------------------------


@case
def every_call_is_audited_without_secrets(s):
    kms = client(s)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    secret = b"audit-me-not-1234"
    blob = kms.encrypt(KeyId=key, Plaintext=secret, EncryptionContext={"case": "audit"})
    fails("InvalidCiphertextException", kms.decrypt, CiphertextBlob=blob["CiphertextBlob"])
    records = json.loads(s.run("audit", "list", "--limit", "1000"))["records"]
    mine = [r for r in records if r.get("keyId") == key]
    actions = [(r["action"], r["result"]) for r in mine]
    assert ("Encrypt", "Allowed") in actions and ("Decrypt", "Error") in actions, actions
    enc = next(r for r in mine if r["action"] == "Encrypt")
    assert enc["context"] == {"case": "audit"} and enc["tokenId"] == ADMIN_KEY[0], enc
    assert enc["region"] == REGION, enc
    assert enc["requestParameters"] == {"keyId": key, "encryptionContext": {"case": "audit"}}, enc
    # The chain, with the KMS fields in its records, still verifies end to end.
    s.run("audit", "verify")
    text = json.dumps(records) + s.log_path.read_text()
    for leaked in (secret.decode(), base64.b64encode(secret).decode(), ADMIN_KEY[1]):
        assert leaked not in text, f"{leaked!r} reached the audit log or the server log"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli", type=Path, required=True)
    parser.add_argument("--only", help="run the cases whose name contains this")
    parser.add_argument("--server", help="use this running server (with --admin-token, --log)")
    parser.add_argument("--admin-token")
    parser.add_argument("--log", type=Path)
    parser.add_argument("--no-npm", action="store_true",
                        help="leave out the cases of the packed npm package (the kms suite runs them)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.server:
            server = External(args.cli.resolve(), Path(tmp), args.server, args.admin_token,
                              args.log)
        else:
            server = KeyServer(args.cli.resolve(), Path(tmp))
        passed = failed = 0
        try:
            for creds, principal in ((ADMIN_KEY, "admin"), (ALICE_KEY, "alice"), (BOB_KEY, "bob")):
                server.run("credential", "create", "--principal", principal,
                           "--access-key-id", creds[0], "--secret-access-key", creds[1])
            for f in CASES:
                if args.only and args.only not in f.__name__:
                    continue
                if args.no_npm and f.__name__ in NPM_CASES:
                    print(f"test {f.__name__} ... not run (--no-npm)")
                    continue
                started = time.monotonic()
                try:
                    f(server)
                    passed += 1
                    print(f"test {f.__name__} ... ok ({time.monotonic() - started:.1f}s)")
                except Exception:  # noqa: BLE001 - every failure is reported, the run goes on
                    failed += 1
                    print(f"test {f.__name__} ... FAILED")
                    traceback.print_exc()
        finally:
            server.stop()
        status = "ok" if failed == 0 else "FAILED"
        print(f"test result: {status}. {passed} passed; {failed} failed")
        if failed:
            print(server.log_path.read_text()[-4000:], file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
