"""actions.fence.rewrites: how many CONFIG REWRITEs Redis ran, from INFO commandstats, so a
disarm knows whether our values may have been saved to redis.conf while armed."""

from __future__ import annotations

import pytest

from sentinel_vip.actions import fence
from sentinel_vip.probes.resp import ReplyError
from sentinel_vip.store import tripwire

REDIS_7 = (
    "# Commandstats\r\n"
    "cmdstat_config|get:calls=12,usec=40,usec_per_call=3.33,rejected_calls=0,failed_calls=0\r\n"
    "cmdstat_config|rewrite:calls=3,usec=900,usec_per_call=300.00,rejected_calls=0,"
    "failed_calls=0\r\n"
    "cmdstat_ping:calls=99,usec=10,usec_per_call=0.10,rejected_calls=0,failed_calls=0\r\n"
)


class Conn:
    def __init__(self, reply):
        self.reply = reply

    def call(self, *args):
        assert args == ("INFO", "commandstats")
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


@pytest.mark.parametrize(
    "reply, count",
    [
        (REDIS_7, 3),
        # Redis 7 lists a subcommand only once it ran: no rewrite yet.
        (REDIS_7.replace("cmdstat_config|rewrite", "cmdstat_config|set"), 0),
        # Redis 6 counts CONFIG as one command: unknown, so a disarm rewrites.
        ("cmdstat_config:calls=5,usec=1,usec_per_call=0.2\r\n", tripwire.UNKNOWN),
        ("", tripwire.UNKNOWN),
        (REDIS_7.replace("calls=3,", "calls=x,"), tripwire.UNKNOWN),
        (ReplyError("NOPERM info commandstats", "127.0.0.1:6379"), tripwire.UNKNOWN),
    ],
)
def test_rewrite_count(reply, count):
    assert fence.rewrites(Conn(reply)) == count
