"""Act: what keepalived and systemd run.

``check`` (the track script: gather, decide, record), ``notify`` (keepalived's state hooks:
record, demote a stale master, run notify.d hooks), ``watch`` (the service following
Sentinel's events), and the actions they take on the local Redis: ``demote`` and ``fence``.
"""
