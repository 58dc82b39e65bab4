"""End-to-end cluster tooling: network namespaces, real redis/sentinel/keepalived (root)."""
