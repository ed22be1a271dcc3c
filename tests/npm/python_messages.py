#!/usr/bin/env python3
"""Encrypts messages with the official AWS Encryption SDK for Python, for tests/npm/run.mjs.

Reads a JSON list of requests on stdin, each {name, suite, oaep, keys: [{namespace, name,
pem}], context, frameLength, plaintext (base64), legacy (optional: a format 1.0 suite, written
under FORBID_ENCRYPT_ALLOW_DECRYPT)}, and writes the same list with `message` (base64) added. Raw RSA master keys (the Python SDK's raw RSA keyring), private PEM files.
"""

import base64
import json
import sys

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

WRAPPING = {h: getattr(WrappingAlgorithm, f"RSA_OAEP_{h.upper()}_MGF1")
            for h in ("sha1", "sha256", "sha384", "sha512")}
ALGORITHMS = {a.algorithm_id: a for a in Algorithm}


class Keys(MasterKeyProvider):
    """Several RawMasterKeys as one provider."""

    provider_id = "cipherdrop-npm-tests"
    _config_class = MasterKeyProviderConfig
    vend_masterkey_on_decrypt = False

    def _new_master_key(self, key_id):
        raise InvalidKeyIdError(key_id)


def provider(keys, oaep):
    keys_provider = Keys()
    for key in keys:
        with open(key["pem"], "rb") as f:
            wrapping = WrappingKey(WRAPPING[oaep], f.read(), EncryptionKeyType.PRIVATE)
        keys_provider.add_master_key_provider(RawMasterKey(
            provider_id=key["namespace"], key_id=key["name"].encode(), wrapping_key=wrapping))
    return keys_provider


def main():
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    legacy = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT)
    out = []
    for req in json.load(sys.stdin):
        message, _header = (legacy if req.get("legacy") else client).encrypt(
            source=base64.b64decode(req["plaintext"]),
            key_provider=provider(req["keys"], req["oaep"]),
            encryption_context=req["context"],
            frame_length=req["frameLength"],
            algorithm=ALGORITHMS[req["suite"]])
        out.append({**req, "message": base64.b64encode(message).decode()})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
