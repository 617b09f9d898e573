"""setTaskEnabled: open or close a task."""

from __future__ import annotations

from app.engagement import usecases
from app.graphql.core.mutations import Call, mutation
from app.graphql.tasks.inputs import SetTaskEnabledInput
from app.graphql.tasks.types import TaskNode, TaskSaved


@mutation("Open or close a task (staff).", result="TaskResult")
async def set_task_enabled(call: Call, input: SetTaskEnabledInput) -> TaskSaved:
    record = await usecases.update_task(
        call.runtime, call.actor, input.code, None, enabled=input.enabled
    )
    return TaskSaved(task=TaskNode.of(record))
