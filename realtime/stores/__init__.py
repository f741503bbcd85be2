"""Choosing the session store from the configuration."""

from __future__ import annotations

import os
import typing as t

from ..sessions import SessionStore


def build_store(config: t.Mapping[str, t.Any], instance_path: str) -> SessionStore:
    """The ArangoDB store when ``ARANGO_URL`` is set, else the embedded one."""
    if config.get("ARANGO_URL"):
        from .arango import ArangoSessionStore

        return ArangoSessionStore.from_config(config)
    from .sqlite import SqliteDatabase, SqliteSessionStore

    os.makedirs(instance_path, exist_ok=True)
    return SqliteSessionStore(SqliteDatabase(os.path.join(instance_path, config["REALTIME_EMBEDDED_DB"])))
