"""The rules that let N workers share one job, written against :mod:`plotpalette.tables`.

One concern per module, no SQL and no boto3, so the SQLite and DynamoDB registries run
the very same rules:

- :mod:`.workers` — a worker's item: liveness (heartbeat/expiry), its spend *mark*
  (the most it may have spent on its budget lease), and fencing.
- :mod:`.units` — the job's record range cut into work units, claimed with a lease
  and an epoch (the fencing token every later write of the unit is checked against).
- :mod:`.leases` — the budget item: remaining/spent plus a small map of open budget
  leases; lease, settle, release and reclaim, and the append-only ledger.
- :mod:`.quota` — one RPM/TPM quota shared by every worker of a workspace (AIMD).
- :mod:`.finalize` — the idempotent finalizer any worker may run.
"""
