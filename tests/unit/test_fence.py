from sentinel_vip.actions.fence import action_for, master_of

ME = ("10.0.0.1", 6379)


def classify(host, port):
    return "self" if (host, port) == ME else "other"


def test_master_of_reads_both_payload_shapes():
    assert master_of("mymaster", "master mymaster 10.0.0.1 6379") == ME
    data = "slave 10.0.0.2:6379 10.0.0.2 6379 @ mymaster 10.0.0.1 6379"
    assert master_of("mymaster", data) == ME
    assert master_of("other", data) is None
    assert master_of("mymaster", "master other 10.0.0.1 6379") is None
    assert master_of("mymaster", "garbage") is None
    assert master_of("mymaster", "master mymaster 10.0.0.1 notaport") is None


def test_pause_only_when_our_master_is_being_replaced():
    try_failover = "master mymaster 10.0.0.1 6379"
    assert action_for("+try-failover", "mymaster", try_failover, classify) == "pause"
    selected = "slave 10.0.0.2:6379 10.0.0.2 6379 @ mymaster 10.0.0.1 6379"
    assert action_for("+selected-slave", "mymaster", selected, classify) == "pause"
    elsewhere = "master mymaster 10.0.0.3 6379"
    assert action_for("+try-failover", "mymaster", elsewhere, classify) is None
    assert action_for("+sdown", "mymaster", try_failover, classify) is None


def test_abort_unpauses():
    data = "master mymaster 10.0.0.1 6379"
    assert action_for("-failover-abort-no-good-slave", "mymaster", data, classify) == "unpause"
