"""Where a Redis or Sentinel lives and how to authenticate to it.

Passwords live only in these objects (read from the config or a password file); ``label()``
is what logs and errors show, and it never includes a secret.
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


def redis_client(endpoint: Endpoint, timeout: float):
    """A redis-py client for the non-hot paths (demotion, watcher, doctor).

    Imported lazily: redis-py costs ~90 ms to import, which the check cannot afford.
    """
    import redis

    kwargs = {
        "username": endpoint.username or None,
        "password": endpoint.password or None,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "decode_responses": True,
        "retry_on_timeout": False,
    }
    if endpoint.unix_socket:
        kwargs["unix_socket_path"] = endpoint.unix_socket
    else:
        kwargs["host"] = endpoint.host
        kwargs["port"] = endpoint.port
    tls = endpoint.tls
    if tls.enabled:
        kwargs["ssl"] = True
        kwargs["ssl_ca_certs"] = tls.ca_file or None
        kwargs["ssl_certfile"] = tls.cert_file or None
        kwargs["ssl_keyfile"] = tls.key_file or None
        kwargs["ssl_cert_reqs"] = "required" if tls.verify else "none"
        kwargs["ssl_check_hostname"] = bool(tls.verify and tls.server_name)
    return redis.Redis(**kwargs)
