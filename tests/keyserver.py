"""A `cipherdrop serve` for the Python suites (tests/api, tests/kms): on 127.0.0.1:0 (the OS
picks the port; the server prints the address it got), with its own data directory, ready
once /healthz answers; and the admin CLI run against it."""

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def clean_env():
    """This process's environment without any CIPHERDROP_ or AWS_ setting: a run sees only
    what its case gives it."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("CIPHERDROP_", "AWS_"))}


class KeyServer:
    """`cipherdrop serve` with `args` besides the listen address and data directory; its log
    (appended: a restart in the same `work` keeps the earlier one) is `work/server.log`."""

    def __init__(self, cli: Path, work: Path, args=(), env=None, log_level="info"):
        self.cli, self.work = cli, work
        self.data = work / "data"
        self.log_path = work / "server.log"
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(cli), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(self.data),
             # The per-principal limit out of the way: the suites test the API, not it.
             "--rate-limit", "100000", *args],
            stdout=subprocess.PIPE, stderr=self.log, stdin=subprocess.DEVNULL,
            env={**clean_env(), "RUST_LOG": log_level, **(env or {})})
        line = self.proc.stdout.readline().decode().strip()
        prefix = "cipherdrop key server on "
        if not line.startswith(prefix):
            self.stop()
            sys.exit(f"server did not start: {line!r}\n{self.log_path.read_text()}")
        self.addr = line[len(prefix):]
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(self.addr + "/healthz").read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    sys.exit("server never became healthy")
                time.sleep(0.05)
        self.admin = (self.data / "admin-token").read_text().strip()

    def cli_env(self, token=None):
        """The environment of an admin CLI run against this server (as the admin by default)."""
        return {**clean_env(), "CIPHERDROP_ADDR": self.addr,
                "CIPHERDROP_TOKEN": token or self.admin}

    def run(self, *args, token=None, stdin=None) -> str:
        """`cipherdrop ARGS` against this server; its stdout, or AssertionError with its stderr."""
        out = subprocess.run([str(self.cli), *args], env=self.cli_env(token), input=stdin,
                             capture_output=True)
        if out.returncode != 0:
            raise AssertionError(f"cipherdrop {' '.join(args)}: {out.stderr.decode()}")
        return out.stdout.decode()

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()
