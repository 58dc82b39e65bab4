"""Acquire: talk to the local Redis and the Sentinels, and look at this host.

``resp`` is the small hardened RESP client (its connections opened by ``transport``, its
failures typed in ``failures``), ``endpoint`` says where a server is and how to
authenticate, ``local_redis`` and ``sentinel`` turn replies into the plain records of
``decision.facts``, ``identity`` tells which addresses are this node's. Every expected
failure becomes a fact, never an exception; every call honours one ``Deadline``.
"""
