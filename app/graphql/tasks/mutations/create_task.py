"""createTask: a new task or challenge."""

from __future__ import annotations

from app.engagement import usecases
from app.graphql.core.mutations import Call, mutation
from app.graphql.tasks.inputs import CreateTaskInput
from app.graphql.tasks.types import TaskNode, TaskSaved


@mutation("Create a task or challenge (staff).", result="TaskResult")
async def create_task(call: Call, input: CreateTaskInput) -> TaskSaved:
    record = await usecases.create_task(
        call.runtime, call.actor, input.code, input.task.spec(), enabled=input.enabled
    )
    return TaskSaved(task=TaskNode.of(record))
