"""Fixtures that start real redis-server / redis-sentinel processes (see support/cluster.py).

``cluster``        a fresh cluster per test: use it for anything that changes the cluster
                   (failover, killing or stopping servers).
``shared_cluster`` one cluster per test module, for tests that only read; a test that
                   stops a server must restore it before it ends.
Both are torn down (process groups killed, temp dir removed) even when a test fails.
"""

from __future__ import annotations

import os
import sys

import pytest

_SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "src"))
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)

from support.cluster import Cluster  # noqa: E402
from support.servers import binaries_available  # noqa: E402


def _started() -> Cluster:
    if not binaries_available():
        pytest.skip("redis-server / redis-sentinel not installed")
    return Cluster().start()


@pytest.fixture
def cluster():
    running = _started()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def shared_cluster():
    running = _started()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def shared(shared_cluster):
    """The module's cluster with this test's syslog capture starting empty."""
    shared_cluster.clear_syslog()
    return shared_cluster
