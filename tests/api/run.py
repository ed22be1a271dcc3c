#!/usr/bin/env python3
"""The key server's API contract: schemathesis against a real `cipherdrop serve`.

Starts `cipherdrop serve` (with the archive store) on a free loopback port with a temporary
data directory, makes what the operations need to get past 401/404 (keys, an alias, a key
policy that grants a non-admin principal some actions, a token for it, a real message header
and an RSA-OAEP ciphertext, an archive object), then runs schemathesis with every check,
once with the admin's token and once with the non-admin's: each run must end with no failure
of any check. Schemathesis draws path parameters and body fields from those real values half
of the time (its dictionaries), so that it goes past "not found" into the operations.

    build/venv/bin/python tests/api/run.py [--cli target/debug/cipherdrop] [--max-examples N]

Prints the cases each run made and a libtest-style "test result:" line (one test per token).
"""

import argparse
import base64
import json
import re
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from keyserver import KeyServer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1].parent
SPEC = ROOT / "server" / "openapi.json"
# The actions the non-admin principal is granted on the key (the rest are 403 for it).
GRANTED = ["DescribeKey", "GetPublicKey", "GetKeyPolicy", "Unwrap", "Decrypt"]


def header_length(message: bytes) -> int:
    """Length of a version-2 message header up to and including its authentication tag
    (the AWS Encryption SDK message format: what `POST /v0/unwrap` takes)."""
    def u16(at):
        return int.from_bytes(message[at:at + 2], "big")

    assert message[0] == 2, "a version-2 message (suite 0x0478 or 0x0578)"
    at = 1 + 2 + 32  # version, suite, message ID
    at += 2 + u16(at)  # AAD length and AAD
    count, at = u16(at), at + 2
    for _ in range(count):
        for _field in range(3):  # provider ID, provider info, encrypted data key
            at += 2 + u16(at)
    at += 1 + 4 + 32  # content type, frame length, commitment key
    return at + 16  # header authentication tag


def edks(header: bytes):
    """The (provider info, encrypted data key) of each EDK of a version-2 header."""
    def u16(at):
        return int.from_bytes(header[at:at + 2], "big")

    at = 1 + 2 + 32
    at += 2 + u16(at)
    count, at = u16(at), at + 2
    found = []
    for _ in range(count):
        fields = []
        for _field in range(3):
            n = u16(at)
            fields.append(header[at + 2:at + 2 + n])
            at += 2 + n
        found.append((fields[1].decode(), fields[2]))
    return found


class Server(KeyServer):
    """The key server with the archive store, and the calls the fixtures make."""

    def __init__(self, cli: Path, work: Path):
        super().__init__(cli, work, args=["--archive-dir", str(work / "archive")], log_level="warn")

    def json(self, *args, stdin=None):
        return json.loads(self.run(*args, stdin=stdin))

    def request(self, method, path, token, body: bytes, content_type):
        req = urllib.request.Request(self.addr + path, data=body, method=method, headers={
            "Authorization": f"Bearer {token}", "Content-Type": content_type})
        return json.loads(urllib.request.urlopen(req).read())


def fixtures(server: Server, work: Path, principal: str):
    """Real keys, aliases, tokens, a message header and an archive object; returns the
    non-admin token and schemathesis dictionaries of real values."""
    key = server.json("key", "create", "--spec", "RSA_2048")["keyId"]
    spare = server.json("key", "create", "--spec", "RSA_2048")["keyId"]
    server.json("alias", "create", "contract", key)
    server.json("alias", "create", "contract/nested", spare)
    policy = {"Statement": [
        {"Effect": "Allow", "Principal": "admin", "Action": "*"},
        {"Effect": "Allow", "Principal": principal, "Action": GRANTED},
    ]}
    server.run("policy", "put", key, "-", stdin=json.dumps(policy).encode())
    user = server.json("token", "create", "--principal", principal)
    # A token of its own for RevokeToken to revoke: never the admin's or the user's.
    doomed = server.json("token", "create", "--principal", "doomed")["tokenId"]
    plain, message = work / "plain", work / "message"
    plain.write_bytes(b"the api contract")
    server.run("encrypt", "-i", str(plain), "-o", str(message),
               "--server-key", key, "--context", f"owner={principal}")
    header = message.read_bytes()[:header_length(message.read_bytes())]
    names, wrapped = zip(*edks(header))
    server.request("PUT", "/v0/archive/objects/contract-object", user["token"], b"object",
                   "application/octet-stream")
    server.request("PUT", "/v0/archive/objects/contract-object/meta", user["token"], b"meta",
                   "application/octet-stream")
    dictionaries = {
        "keys": [key, "alias/contract", spare, "alias/contract/nested"],
        "key_ids": [key, spare],
        "aliases": ["contract", "contract/nested"],
        "alias_names": ["alias/contract", "alias/contract/nested"],
        "headers": [base64.b64encode(header).decode()],
        "key_names": list(names),
        "ciphertexts": [base64.b64encode(w).decode() for w in wrapped],
        "tokens": [doomed],
        "objects": ["contract-object"],
    }
    return user["token"], dictionaries


def config(work: Path, server: Server, token: str, dictionaries: dict, max_examples: int) -> Path:
    """A schemathesis.toml: the token, every check, and where to draw real values."""
    bind = {
        "path.keyId": "keys", "path.aliasName": "aliases", "path.tokenId": "tokens",
        "path.id": "objects", "body.header": "headers", "body.keyName": "key_names",
        "body.ciphertextBlob": "ciphertexts", "body.targetKeyId": "key_ids",
        "body.aliasName": "alias_names",
    }
    lines = [
        f'base-url = "{server.addr}"',
        "continue-on-failure = true",
        # At the server's fixed limit for requests without a valid token (10 a second per
        # address), which the checks of authentication send: their answer must be 401, not 429.
        'rate-limit = "10/s"',
        "",
        "[headers]",
        f'Authorization = "Bearer {token}"',
        "",
        "[generation]",
        f"max-examples = {max_examples}",
        "",
        "[checks]",
        "enabled = true",
        "",
    ]
    for name, values in dictionaries.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines.append("[parameters]")
    for key, name in bind.items():
        lines.append(f'"{key}" = {{ dictionary = "{name}", probability = 0.5 }}')
    # A header or ciphertext drawn at random is not a message the server can open: 400 is
    # the right answer to schema-valid data there (a schema cannot say "a real header").
    for op in ["POST /v0/unwrap", "POST /v0/keys/{keyId}/decrypt"]:
        lines += ["", "[[operations]]", f'include-name = "{op}"',
                  "checks.positive_data_acceptance.expected-statuses = "
                  '["2xx", "400", "401", "403", "404", "409", "429"]']
    path = work / "schemathesis.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def schemathesis(work: Path, label: str, cfg: Path):
    """Runs schemathesis, its output shown as it goes; returns (exit code, cases it ran)."""
    exe = Path(sys.executable).with_name("schemathesis")
    cmd = [str(exe), "--config-file", str(cfg), "run", str(SPEC), "--checks", "all",
           "--no-color", "--workers", "1", "--seed", "1",
           # Only `cipherdrop demo` routes these; under `serve` they are 404s whatever the
           # method (tests/hardening.rs and the demo page tests cover them).
           "--exclude-path-regex", "^/demo/"]
    print(f"==> schemathesis as {label}: {' '.join(cmd[1:])}", flush=True)
    cases = 0
    with subprocess.Popen(cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as proc:
        for line in proc.stdout:
            print(line, end="", flush=True)
            # The summary's "N generated, ..." line.
            found = re.match(r"\s*(\d+) generated", line)
            if found:
                cases = int(found.group(1))
    return proc.returncode, cases


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cli", type=Path, default=ROOT / "target/debug/cipherdrop")
    parser.add_argument("--max-examples", type=int, default=10)
    args = parser.parse_args()
    if not args.cli.exists():
        subprocess.run(["cargo", "build", "-p", "cipherdrop-server"], cwd=ROOT, check=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="cipherdrop-api-") as tmp:
        work = Path(tmp)
        server = Server(args.cli.resolve(), work)
        try:
            user, dictionaries = fixtures(server, work, "alice")
            # The non-admin first: the admin's run changes keys, policies and aliases.
            for label, token in [("alice", user), ("admin", server.admin)]:
                cfg = config(work, server, token, dictionaries, args.max_examples)
                results.append((label, *schemathesis(work, label, cfg)))
        finally:
            server.stop()
        failed = [label for label, code, _ in results if code != 0]
        if failed:
            print((work / "server.log").read_text()[-4000:])
    for label, code, cases in results:
        print(f"api-contract as {label}: {cases} cases, {'ok' if code == 0 else 'FAILED'}")
    print(f"test result: {'ok' if not failed else 'FAILED'}. {len(results) - len(failed)} passed; "
          f"{len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
