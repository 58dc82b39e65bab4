"""What the suites share, one copy each (tests/ is on sys.path: ``from support import ...``).

- ``config``:      the one sentinel-vip config builder (a table, TOML on disk, a loaded Config)
- ``certs``:       the one certificate factory (openssl CLI: CAs, server, client, expired)
- ``resp_server``: the one fake RESP server (scripted or hostile, plain or TLS)
- ``servers``:     real redis-server / redis-sentinel processes, free ports, polling
- ``systemd``:     unit files as (section, key) -> values
- ``logs``:        a logger that keeps what the product logs, for unit tests to read back
"""
