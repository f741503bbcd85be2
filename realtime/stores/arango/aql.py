"""The only AQL queries the session store sends.

They are fixed strings with bind variables, never built from input. The
ArangoDB test server in ``tests/arangodb`` recognises exactly these strings
(and answers 400/1501 to anything else), so keep them here, in one place.
"""

#: Every session record of one user (``revoke_user``, ``sessions list --user``).
SESSIONS_OF_USER = "FOR s IN @@collection FILTER s.uid == @uid RETURN s"

#: The newest records, for the ``sessions list`` command.
LIST_SESSIONS = "FOR s IN @@collection SORT s.created_at DESC LIMIT @limit RETURN s"

#: Delete records whose ``expires_at`` has passed, returning their keys. The
#: TTL index does this too, but only every 30 s; ``purge-expired`` is explicit.
PURGE_EXPIRED = (
    "FOR s IN @@collection FILTER IS_NUMBER(s.expires_at) && s.expires_at <= @now"
    " REMOVE s IN @@collection RETURN OLD._key"
)

ALL = (SESSIONS_OF_USER, LIST_SESSIONS, PURGE_EXPIRED)
