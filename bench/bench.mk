# Benchmarks, included by the Makefile (`-include bench/bench.mk`). Not part of `make test`:
# they measure, they do not pass or fail on figures.
#
#   make bench            every target in BENCH_TARGETS, in order
#   make bench-failover   classic how-to vs sentinel-vip, kill -9 of the master, on the
#                         three-node namespace cluster (root, ~10 min); bench/failover.py
#                         BENCH_FAILOVER_ARGS=--quick for one repetition each
#
# Each benchmark adds itself: BENCH_TARGETS += bench-NAME. `bench` expands the list in its
# recipe, so additions anywhere in this file (or later includes) count.

BENCH_FAILOVER_ARGS ?=
BENCH_TARGETS += bench-failover

.PHONY: bench bench-failover bench-root

bench:
	$(MAKE) --no-print-directory $(BENCH_TARGETS)

bench-root:
	@if [ "$$(id -u)" -ne 0 ]; then \
	    echo "error: make bench-failover needs root (network namespaces, keepalived): run it as root" >&2; \
	    exit 1; fi

# The pyz built from this tree is what gets measured (copied to a root-owned directory).
bench-failover: bench-root $(PYZ)
	$(SYSTEM_PYTHON) bench/failover.py --pyz $(abspath $(PYZ)) $(BENCH_FAILOVER_ARGS)

# What one `sentinel-vip check` costs (wall and CPU per run) next to the classic bash check,
# against a local Redis and three Sentinels on loopback (no root); and its latency with 3, 5
# and 7 Sentinels, one of them hung. bench/check_cost.py; BENCH_CHECK_ARGS=--runs 50 for less.
BENCH_CHECK_ARGS ?=
BENCH_TARGETS += bench-check bench-check-scale

.PHONY: bench-check bench-check-scale

bench-check: $(PYZ)
	$(SYSTEM_PYTHON) bench/check_cost.py --pyz $(abspath $(PYZ)) $(BENCH_CHECK_ARGS)

bench-check-scale: $(PYZ)
	$(SYSTEM_PYTHON) bench/check_cost.py --scale --pyz $(abspath $(PYZ)) $(BENCH_CHECK_ARGS)

# The master cut off from the other nodes for 13 s (drop and link-down variants), with an
# application on it writing through the VIP and directly, then healed: when the isolated
# master stops acknowledging, acked-and-lost writes, demotion after the heal, time with two
# masters, VIP on the new master (root, ~6 min). bench/partition.py;
# BENCH_PARTITION_ARGS=--reps 1 for a quick look.
BENCH_PARTITION_ARGS ?=
BENCH_TARGETS += bench-partition

.PHONY: bench-partition

bench-partition: bench-root $(PYZ)
	$(SYSTEM_PYTHON) bench/partition.py --pyz $(abspath $(PYZ)) $(BENCH_PARTITION_ARGS)

# The watcher's own cost and its dead-link detection: start to all links live, CPU and RSS at
# rest, seconds until a frozen (SIGSTOP) Sentinel is noticed; this build against
# BENCH_WATCH_BASELINE (another pyz) when given. Loopback servers, no root. bench/watch_cost.py
BENCH_WATCH_ARGS ?=
BENCH_WATCH_BASELINE ?=
BENCH_TARGETS += bench-watch

.PHONY: bench-watch

bench-watch: $(PYZ) $(PYTHON_DEP)
	$(PYTHON) bench/watch_cost.py --pyz $(abspath $(PYZ)) \
	  $(if $(BENCH_WATCH_BASELINE),--baseline $(BENCH_WATCH_BASELINE)) $(BENCH_WATCH_ARGS)

# How soon the new master's check passes after Sentinel's switch (identity by run_id, probing
# the named address while Sentinel has not read it), next to when the Sentinels learn its
# run_id (what waiting for them would cost); loopback, no root. bench/identity_switch.py.
BENCH_IDENTITY_ARGS ?=
BENCH_TARGETS += bench-identity-switch

.PHONY: bench-identity-switch

bench-identity-switch: $(PYZ)
	$(SYSTEM_PYTHON) bench/identity_switch.py --pyz $(abspath $(PYZ)) $(BENCH_IDENTITY_ARGS)

# A planned switchover (`sentinel-vip switchover --to`, to the replica Sentinel would not
# pick) three times on the namespace cluster, the client writing every 10 ms through the VIP:
# the VIP on the target after Sentinel's switch (median of 3), how long the old master's
# writes were held, writes lost (root, ~1.5 min). It is the e2e test
# tests/e2e/test_switchover_command.py; figures in build/e2e/<test>.json.
BENCH_TARGETS += bench-switchover

.PHONY: bench-switchover

bench-switchover: bench-root $(PYZ) $(PYTHON_DEP)
	$(PYTHON) -m pytest -m e2e -s -q -p no:cacheprovider tests/e2e/test_switchover_command.py

# Several masters per node (issue 16): for 1, 3 and 10 instances per node on the three-node
# namespace cluster, the watcher's Sentinel connections and CPU (at rest, during a failover),
# the checks' CPU, one check's cost per instance and each VIP's delay after its
# +switch-master (root, ~6 min). bench/multi_cost.py; BENCH_MULTI_ARGS=--counts 3 for less.
BENCH_MULTI_ARGS ?=
BENCH_TARGETS += bench-multi

.PHONY: bench-multi

bench-multi: bench-root $(PYZ)
	$(SYSTEM_PYTHON) bench/multi_cost.py --pyz $(abspath $(PYZ)) $(BENCH_MULTI_ARGS)

# kill -9 of the master, sentinel-vip following Sentinel's election next to HAProxy routing by
# a role:master tcp-check (inter 1s fall 1 rise 1), same run: promotion, VIP on the new
# master, first write OK through each (root, ~1 min per kill). bench/election.py;
# BENCH_ELECTION_BASELINE=path/to/other.pyz measures that build alongside (e.g. before).
BENCH_ELECTION_ARGS ?=
BENCH_ELECTION_BASELINE ?=
BENCH_TARGETS += bench-election

.PHONY: bench-election

bench-election: bench-root $(PYZ)
	$(SYSTEM_PYTHON) bench/election.py --pyz $(abspath $(PYZ)) \
	  $(if $(BENCH_ELECTION_BASELINE),--baseline $(BENCH_ELECTION_BASELINE)) $(BENCH_ELECTION_ARGS)
