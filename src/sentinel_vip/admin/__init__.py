"""What a person runs: ``status`` (this node at a glance), ``doctor`` (the setup checked,
with the fix for every problem), ``render`` (the keepalived and Sentinel snippets written
from the TOML). They read what probes and store provide and never change Redis.
"""
