"""SnapStart runtime hooks of the HTTP functions.

Lambda snapshots the execution environment after init and restores copies of it, possibly many at once
and much later. So the snapshot must hold nothing that is unique or expires: no open database
connection (its socket would be shared by every copy, and dead), no credentials or secret, no random
state. Init creates none of these by design (the engine and the secret are made on the first request);
the hooks make sure of it, also if init ever changes.
"""

from __future__ import annotations

import random

from snapshot_restore_py import register_after_restore, register_before_snapshot

from progress_common import db, db_url

_registered = False


def before_snapshot() -> None:
    """Close and forget the engine (pooled connections and the credentials in its URL) and the cached
    secret; the first request after a restore builds them afresh."""
    db.dispose_engine()
    db_url.forget_secrets()


def after_restore() -> None:
    """Copies restored from one snapshot must not share a random sequence (the `secrets` module reads
    the OS and needs nothing)."""
    random.seed()


def register_hooks() -> None:
    """Register the hooks once per process; call from the handler module (Lambda only runs hooks
    registered while the handler's module is imported)."""
    global _registered
    if not _registered:
        register_before_snapshot(before_snapshot)
        register_after_restore(after_restore)
        _registered = True
