"""The ``comfyui.submit`` operation: how the core's persisted queue sends a workflow.

The operation's idempotency key is the ComfyUI ``prompt_id``. On a replay (after a
crash or a cut) :meth:`ComfyUIClient.submit` first looks the id up in ``/queue`` and
``/history`` and picks the prompt up instead of posting it twice; a ConnectionProblem
raised here puts the operation back in the queue.

Payload: ``workflow`` (the API-format graph), optional ``validate`` (default true) and
``extra_data``. Result: ``{"prompt_id", "state"}``; follow the job afterwards with
``client.attach(prompt_id)`` on any connection.
"""

from __future__ import annotations

from typing import Any, cast

from movie_director.operations import OperationContext
from movie_director_plugins.comfyui.client import ComfyUIClient

SUBMIT = "comfyui.submit"


def submit_operation(ctx: OperationContext) -> dict[str, Any]:
    client = cast(ComfyUIClient, ctx.connection)
    payload = ctx.payload
    job = client.submit(
        payload["workflow"],
        prompt_id=ctx.idempotency_key,
        validate=bool(payload.get("validate", True)),
        extra_data=payload.get("extra_data"),
    )
    return {"prompt_id": job.prompt_id, "state": job.status.value}


__all__ = ["SUBMIT", "submit_operation"]
