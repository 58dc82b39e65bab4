"""sentinel-vip: keep a keepalived floating IP on the master Redis Sentinel elected."""
