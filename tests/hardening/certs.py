"""Test certificates made with the openssl CLI: a CA, server and client certificates signed
by it, one from an unrelated CA, and an expired one (via `openssl ca` with explicit dates)."""

from __future__ import annotations

import os
import subprocess


def _openssl(*args, cwd: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True,
                   stdin=subprocess.DEVNULL)  # fmt: skip


def make_ca(d: str, name: str) -> tuple:
    key, crt = os.path.join(d, f"{name}.key"), os.path.join(d, f"{name}.crt")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
             "-days", "30", "-subj", f"/CN={name}", cwd=d)  # fmt: skip
    return key, crt


def _ca_config(d: str, ca_key: str, ca_crt: str) -> str:
    db = os.path.join(d, "ca-db")
    os.makedirs(db, exist_ok=True)
    open(os.path.join(db, "index.txt"), "w").close()
    with open(os.path.join(db, "serial"), "w") as fh:
        fh.write("1000\n")
    path = os.path.join(d, "ca.cnf")
    with open(path, "w") as fh:
        fh.write(f"""[ca]
default_ca = test
[test]
database = {db}/index.txt
serial = {db}/serial
new_certs_dir = {db}
certificate = {ca_crt}
private_key = {ca_key}
default_md = sha256
policy = anything
copy_extensions = copy
unique_subject = no
[anything]
commonName = supplied
""")
    return path


def make_cert(d: str, name: str, ca_key: str, ca_crt: str, sans: str = "",
              start: str = "", end: str = "") -> tuple:  # fmt: skip
    """A certificate for CN=name signed by the CA; ``start``/``end`` as YYYYMMDDHHMMSSZ."""
    key, csr, crt = (os.path.join(d, f"{name}.{ext}") for ext in ("key", "csr", "crt"))
    req = ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
           "-subj", f"/CN={name}"]  # fmt: skip
    if sans:
        req += ["-addext", f"subjectAltName={sans}"]
    _openssl(*req, cwd=d)
    sign = ["ca", "-batch", "-notext", "-config", _ca_config(d, ca_key, ca_crt), "-in", csr,
            "-out", crt]  # fmt: skip
    sign += ["-startdate", start, "-enddate", end] if start else ["-days", "30"]
    _openssl(*sign, cwd=d)
    return key, crt
