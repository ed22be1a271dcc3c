"""Decrypts one archived object with the official AWS Encryption SDK for Python and the demo's
offline escrow key (what a recovery without the key server looks like).

    escrow_decrypt.py DATA_DIR OBJECT_FILE OUTPUT_FILE

Reads the escrow key's namespace and name from DATA_DIR/demo.json and its private key from
DATA_DIR/escrow-private.pem (PKCS#8), writes the plaintext to OUTPUT_FILE and prints the
message's encryption context as JSON on stdout. Run by www-demo/test/demo.test.mjs.
"""

import json
import sys
from pathlib import Path

import aws_encryption_sdk
from aws_encryption_sdk.identifiers import CommitmentPolicy, EncryptionKeyType, WrappingAlgorithm
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKey


def main() -> None:
    data_dir, object_file, output_file = (Path(a) for a in sys.argv[1:4])
    escrow = json.loads((data_dir / "demo.json").read_text())["escrow"]
    key = RawMasterKey(
        provider_id=escrow["keyNamespace"],
        key_id=escrow["keyName"].encode(),
        wrapping_key=WrappingKey(
            wrapping_algorithm=WrappingAlgorithm.RSA_OAEP_SHA256_MGF1,
            wrapping_key=(data_dir / "escrow-private.pem").read_bytes(),
            wrapping_key_type=EncryptionKeyType.PRIVATE,
        ),
    )
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    plaintext, header = client.decrypt(source=object_file.read_bytes(), key_provider=key)
    output_file.write_bytes(plaintext)
    json.dump(header.encryption_context, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()
