"""Decide: pure functions from facts to verdicts and plans. No I/O, no clock, no sockets,
so every rule is tested with plain data.

``facts`` are the records the probes produce; ``decide`` is the check's verdict;
``demotion`` plans (or refuses) the demotion of a stale local master.
"""
