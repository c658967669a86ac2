"""The bodies of webhook deliveries, by kind: the dialects' own shapes, for the deliverer to sign and POST.

The deliverer (``service.delivery``) knows no dialect, so the app hands it one renderer per kind. A
delivery is rendered once, at its first attempt, outside any request: from the delivery, the job it
names, the settings and the URL signing key (Novita's payload links to the video). Every retry then
sends those same bytes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from ..service.delivery import Renderer
from ..service.webhooks import Delivery
from .dialects import novita
from .openai import ID_PREFIX
from .signed import url_key

# The data.id of a test event (POST /v1/webhook_endpoints/{id}/test): no video stands behind it.
TEST_VIDEO_ID = ID_PREFIX + "test"


def openai_event(delivery: Delivery) -> dict[str, Any]:
    """OpenAI's thin event (API-COMPAT.md §2.6): the receiver fetches the video by its id."""
    return {
        "id": delivery.event_id,
        "object": "event",
        "created_at": int(delivery.created_at),
        "type": delivery.event_type,
        "data": {"id": ID_PREFIX + delivery.job_id if delivery.job_id else TEST_VIDEO_ID},
    }


def renderers(app: FastAPI) -> dict[str, Renderer]:
    """The renderer of each delivery kind the outbox holds, over ``app``'s service and settings."""
    state = app.state

    def novita_result(delivery: Delivery) -> dict[str, Any]:
        # The job as it is now (its terminal state): exactly what GET /v3/async/task-result answers.
        job = state.service.get(delivery.job_id, account=delivery.account)
        return {"event_type": novita.ASYNC_TASK_RESULT,
                "payload": novita.render_task(job, state.settings, url_key(state))}

    return {"openai": openai_event, "novita": novita_result}
