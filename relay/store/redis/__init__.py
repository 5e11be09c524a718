"""The Redis backend: several relay replicas share one Redis (high availability).

One file per concern: connection.py (opening, layout upgrades, plumbing), groups.py,
jobs.py, console.py, retention.py (and message refs); common.py holds what they share,
lua/ the scripts (lua.py loads them).

``storage.url``: ``redis://[[user]:password@]host:port/db``, ``rediss://...`` for TLS,
``unix:///path/redis.sock?db=0``, ``redis+sentinel://host1:26379,host2:26379/<service>``
for a primary found through Redis Sentinel (connection.py follows its failovers;
``storage.min_replicas_acked`` makes each commit wait for that many replicas). Query
options: ``prefix`` (key namespace, default ``relay:``), ``socket_timeout`` and
``socket_connect_timeout`` (seconds, defaults 5 and 2), ``health_check_interval``,
``client_name`` and the ``ssl_*`` options of redis-py for ``rediss://``
(``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``, ``ssl_cert_reqs``,
``ssl_check_hostname``).

Layout (every key starts with the prefix; docs/ha.md has the full picture):

* ``g:<group key>``: the group state as JSON. ``groups:due`` (zset, score
  ``next_flush_at``) and ``groups:resolved`` (zset of groups without a firing alert:
  none left, or all resolved; score ``updated_at``) index it for the flusher and for
  pruning.
* ``j:<job id>``: a job as a hash (notification, status, attempts, lease).
  ``jobs:all``, ``jobs:status:<status>`` and ``jobs:receiver:<name>`` (zsets, score
  ``created_at``) serve the delivery log and the counts; ``finished`` (delivered jobs by
  ``finished_at``) serves pruning.
* ``due:<integration>``: pending jobs of one integration by ``next_attempt_at`` (the
  retry schedule); ``integrations`` is the set of integrations that have one.
* ``stream``: the hand-off stream with the consumer group ``relay``. Claiming a due job
  adds an entry and reads it with ``XREADGROUP`` as the claiming replica (the consumer),
  so the group's pending-entries list holds exactly the jobs being delivered and who
  holds each. ``leases`` (zset, score ``lease_until``) times the leases; an expired
  lease is taken over with ``XCLAIM``, which moves the entry to the new consumer.
  Finishing or releasing a job acknowledges and deletes its entry.
* ``ref:<key>``: message references, expiring by Redis TTL.
* ``oncall-overrides`` (hash: id -> JSON): schedule overrides made at run time.
  ``incident:<id>`` (JSON) and ``incidents`` (zset, score the start): incidents, written
  by the group commit that changes them (escalation state itself is in the group).

Atomicity: :meth:`RedisStore.apply` reads the groups (one ``MGET``), runs the
transitions in Python and commits the new states, the log and the new jobs with one Lua
script that first checks that every group still is what the transitions saw (an
optimistic check-and-set, like ``WATCH``/``MULTI`` but one round trip). When another
replica committed in between, nothing is written and the transitions run again on what
it committed. When no transition changes anything (a re-send, an HA pair's second copy),
the ``MGET`` is all. Everything about jobs runs in Lua scripts too (atomic on the
server). Lease times are the callers' clocks (``now`` in the interface), so replicas'
clocks must agree to well within a lease.
"""

from __future__ import annotations

from relay.store.base import Store
from relay.store.redis.common import SCHEMA_VERSION
from relay.store.redis.console import RedisConsole
from relay.store.redis.groups import RedisGroups
from relay.store.redis.jobs import RedisJobs
from relay.store.redis.oncall import RedisOnCall
from relay.store.redis.retention import RedisRetention


class RedisStore(RedisGroups, RedisJobs, RedisConsole, RedisRetention, RedisOnCall, Store):
    """Every role of the store on one Redis (the parts are in this package's modules)."""


__all__ = ["SCHEMA_VERSION", "RedisStore"]
