"""Run ``cli.main(argv)`` in-process, as fast as fuzzing needs, with everything captured.

Errors reported before a config exists go to ``log.default_logger()`` (/dev/log); the
sandbox points that at its own socket so each line can be checked, and chdirs into a
private directory so relative paths a fuzzed config names land there.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import tempfile

from harden import CODES, history_records, temp_leftovers

from sentinel_vip import cli, log
from sentinel_vip.errors import ExitCode
from support.servers import SyslogListener


class Sandbox:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="svip-fz-")
        self.state = os.path.join(self.dir, "state")
        os.mkdir(self.state)
        os.mkdir(os.path.join(self.dir, "hooks"))
        self.history = os.path.join(self.state, "history.jsonl")
        self.syslog = SyslogListener(os.path.join(self.dir, "log.sock"))
        self._saved = {}

    def __enter__(self) -> Sandbox:
        self._saved = {
            "cwd": os.getcwd(),
            "default_logger": log.default_logger,
            "term": signal.getsignal(signal.SIGTERM),
            "alrm": signal.getsignal(signal.SIGALRM),
            "env": os.environ.pop("SENTINEL_VIP_CONFIG", None),
        }
        path = self.syslog.path
        log.default_logger = lambda: log.Logger(syslog=True, socket_path=path)
        os.chdir(self.dir)
        return self

    def __exit__(self, *exc) -> None:
        os.chdir(self._saved["cwd"])
        log.default_logger = self._saved["default_logger"]
        signal.signal(signal.SIGTERM, self._saved["term"])
        signal.signal(signal.SIGALRM, self._saved["alrm"])
        signal.setitimer(signal.ITIMER_REAL, 0)
        if self._saved["env"] is not None:
            os.environ["SENTINEL_VIP_CONFIG"] = self._saved["env"]
        self.syslog.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def table(self, **sections) -> dict:
        """A valid config whose every probe is refused at once (port 1 on loopback)."""
        table = {
            "master_name": "mymaster",
            "redis": {"host": "127.0.0.1", "port": 1},
            "sentinel": {"addresses": ["127.0.0.1:1", "127.0.0.2:1", "127.0.0.3:1"]},
            "node": {"addresses": ["127.0.0.1:1"], "allow_loopback": True},
            "check": {"deadline": 0.8, "track_file": os.path.join(self.state, "track")},
            "notify": {"deadline": 1, "hooks_dir": os.path.join(self.dir, "hooks")},
            "paths": {"state_dir": self.state, "history_file": self.history,
                      "history_max_lines": 20},
            "log": {"syslog": True, "syslog_socket": self.syslog.path},
        }  # fmt: skip
        for name, values in sections.items():
            table.setdefault(name, {}).update(values)
        return table

    def run(self, argv) -> tuple:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(list(argv))
            except SystemExit as exc:  # argparse's --help / --version
                code = exc.code if isinstance(exc.code, int) else 2
        return code, out.getvalue(), err.getvalue()

    def check_invariants(self, code, out: str, err: str, allowed=None) -> None:
        """What every run must keep, whatever it was fed."""
        where = f"code={code} out={out!r} err={err!r}"
        assert code in CODES, where
        assert code != ExitCode.INTERNAL, where
        if allowed is not None:
            assert code in allowed, where
        assert "Traceback" not in err and "Traceback" not in out, where
        if code != 0:
            assert err.count("\n") <= 1, f"more than one line on stderr: {where}"
            if err:
                assert err.startswith("sentinel-vip: ") and err.endswith("\n"), where
        assert not temp_leftovers(self.state, self.dir), where
        history_records(self.history)  # complete JSON lines only
