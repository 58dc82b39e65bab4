"""What doctor and status report: a Finding (how bad, what, what was seen, what to do).

A Finding says how bad (``ok``/``warn``/``fail``), what (``item``), what was seen
(``detail``) and what to do (``fix``). The pure checks (``doctor_checks``,
``doctor_sentinels``, ``doctor_keepalived``, ``doctor_local``) return them; ``doctor`` prints
them and ``status`` borrows the way they quote a probe's error.
"""

from __future__ import annotations

from dataclasses import dataclass

OK, WARN, FAIL = "ok", "warn", "fail"
# Where the package installs the admin guide (packaging/layout; tests/unit/test_docs.py).
ADMIN_DOC = "/usr/share/doc/sentinel-vip/admin.md"


@dataclass(frozen=True)
class Finding:
    status: str
    item: str
    detail: str
    fix: str = ""


def without_address(address: str, error) -> str:
    """A probe's error without its leading ``address:`` (most probes start with it), so a
    line that names the address first does not name it twice."""
    text = str(error or "no answer")
    return text[len(address) + 1 :].strip() if text.startswith(f"{address}:") else text
