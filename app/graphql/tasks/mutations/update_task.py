"""updateTask: replace a task's definition; progress made is kept."""

from __future__ import annotations

from app.engagement import usecases
from app.graphql.core.mutations import Call, mutation
from app.graphql.tasks.inputs import UpdateTaskInput
from app.graphql.tasks.types import TaskNode, TaskSaved


@mutation("Replace a task's definition (staff); progress made is kept.", result="TaskResult")
async def update_task(call: Call, input: UpdateTaskInput) -> TaskSaved:
    record = await usecases.update_task(
        call.runtime,
        call.actor,
        input.code,
        input.task.spec(),
        expected_version=input.expected_version,
    )
    return TaskSaved(task=TaskNode.of(record))
