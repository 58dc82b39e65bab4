"""The test certificate factory (openssl CLI): CAs, server and client certificates signed
by them, and an expired one (``openssl ca`` with explicit dates).

``issue(directory)`` makes the usual set in one call; ``make_ca`` and ``make_cert`` make
any other.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

SERVER_NAME = "redis.test"  # the only name in the server certificate (no IP address)


def available() -> bool:
    return shutil.which("openssl") is not None


def _openssl(*args, cwd: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True,
                   stdin=subprocess.DEVNULL, timeout=60)  # fmt: skip


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


@dataclass(frozen=True)
class Certs:
    """Paths: ``ca`` signs ``server`` (for ``server_name`` only, unless ``server_sans`` said
    otherwise), ``client`` and ``expired``; ``other_ca`` signs nothing we use."""

    ca: str
    ca_key: str
    other_ca: str
    server: str
    server_key: str
    client: str
    client_key: str
    expired: str
    expired_key: str
    server_name: str = SERVER_NAME


def issue(d: str, server_sans: str = f"DNS:{SERVER_NAME}", expired: bool = True) -> Certs:
    """A CA, an unrelated CA, a server certificate (SANs ``server_sans``: by default the DNS
    name alone, so a client checking it against 127.0.0.1 fails), a client certificate and
    (``expired``) an expired server certificate, all under ``d``."""
    os.makedirs(d, exist_ok=True)
    ca_key, ca = make_ca(d, "ca")
    _, other_ca = make_ca(d, "other-ca")
    server_key, server = make_cert(d, SERVER_NAME, ca_key, ca, server_sans)
    client_key, client = make_cert(d, "client", ca_key, ca)
    old_key = old = ""
    if expired:
        old_key, old = make_cert(d, "expired", ca_key, ca, f"DNS:{SERVER_NAME}",
                                 start="20200101000000Z", end="20200102000000Z")  # fmt: skip
    return Certs(ca, ca_key, other_ca, server, server_key, client, client_key, old, old_key)
