"""The ``llm.chat`` operation: how the core's persisted queue asks the proxy for text.

A chat has no side effect on the proxy, so a replay after a lost connection simply asks
again (the first answer never arrived). A ConnectionProblem raised here puts the
operation back in the queue; any other error (bad key, unknown model, every fallback
model failing) fails it for good.

Payload: ``messages`` (or a plain ``prompt``), optional ``system``, ``model`` (a name or
a fallback list; default the service's ``models``) and ``params`` (temperature,
max_tokens…). Result: :meth:`ChatResult.to_dict` (text, model that answered, usage, the
models that failed first).
"""

from __future__ import annotations

from typing import Any, cast

from movie_director.operations import OperationContext
from movie_director_plugins.litellm.client import LiteLLMClient, as_messages

CHAT = "llm.chat"


def chat_operation(ctx: OperationContext) -> dict[str, Any]:
    client = cast(LiteLLMClient, ctx.connection)
    payload = ctx.payload
    messages = as_messages(payload.get("messages") or payload.get("prompt") or "", payload.get("system"))
    return client.chat(messages, payload.get("model"), **dict(payload.get("params") or {})).to_dict()
