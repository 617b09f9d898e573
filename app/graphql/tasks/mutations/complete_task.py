"""completeTask: a manual task the front end reports (e.g. a follow)."""

from __future__ import annotations

from app.engagement import usecases
from app.engagement.tracker import TaskStatus
from app.graphql.core.mutations import Call, mutation
from app.graphql.tasks.inputs import CompleteTaskInput
from app.graphql.tasks.types import GrantedNode, TaskCompleted, TaskStatusNode


@mutation("Complete a manual task (one the front end reports, e.g. a follow).")
async def complete_task(call: Call, input: CompleteTaskInput) -> TaskCompleted:
    member = await call.member(input.member_id)
    update = await usecases.complete_task(call.runtime, call.actor, member, input.task)
    status = TaskStatus(update.task, update.period, update.progress, True)
    return TaskCompleted(
        status=TaskStatusNode.of(status),
        rewards=[GrantedNode.of(g) for g in update.granted],
    )
