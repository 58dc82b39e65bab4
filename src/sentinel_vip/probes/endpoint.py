"""Where a Redis or Sentinel lives and how to authenticate to it.

Passwords live only in these objects (read from the config or a password file); ``label()``
is what logs and errors show, and it never includes a secret.

The contract: ``probes.resp.connect(endpoint, deadline)`` is the one way the product reaches
a Redis or a Sentinel (check, notify and its demotion, watch, fence, status, doctor), so an
Endpoint means the same socket, TLS handshake and AUTH everywhere. With ``tls.server_name``
set, the certificate must name it (whatever ``host`` is); empty, the certificate is checked
against ``ca_file`` only. tests/integration/test_redis_contract.py holds every path to it.
"""

from __future__ import annotations

from sentinel_vip.record import Record


class TLSSettings(Record):
    enabled: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    server_name: str = ""
    verify: bool = True


TLS_OFF = TLSSettings()


class Endpoint(Record):
    host: str
    port: int
    unix_socket: str = ""
    username: str = ""
    password: str = ""
    tls: TLSSettings = TLS_OFF
    _hidden = ("password",)

    def label(self) -> str:
        if self.unix_socket:
            return f"unix:{self.unix_socket}"
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"
