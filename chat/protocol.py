"""The reference app's conversation protocol: payload validation, no I/O.

Every invalid payload becomes a :class:`ProtocolError` whose code and message
go back to the client in the ack; nothing a client sends can crash a handler.
"""

from __future__ import annotations

import re
import typing as t

CONVERSATION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_TEXT_LENGTH = 2000


class ProtocolError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def ack(self) -> dict[str, t.Any]:
        return {"ok": False, "error": self.code, "message": self.message}


def room_of(conversation: str) -> str:
    return f"conversation:{conversation}"


def conversation_from(payload: object) -> str:
    if not isinstance(payload, dict):
        raise ProtocolError("bad_payload", "Send an object like {conversation: 'general'}.")
    conversation = payload.get("conversation")
    if not isinstance(conversation, str) or not CONVERSATION_ID.fullmatch(conversation):
        raise ProtocolError("bad_conversation", "A conversation id is 1-64 letters, digits, '_' or '-'.")
    return conversation


def message_from(payload: object) -> tuple[str, str]:
    """The (conversation, text) of a ``message`` payload."""
    conversation = conversation_from(payload)
    text = t.cast(dict, payload).get("text")
    if not isinstance(text, str) or not text.strip():
        raise ProtocolError("bad_text", "A message needs some text.")
    if len(text) > MAX_TEXT_LENGTH:
        raise ProtocolError("text_too_long", f"A message is at most {MAX_TEXT_LENGTH} characters.")
    return conversation, text
