"""The task, team and badge mutations, one a module; tasks' share of the Mutation type."""

from __future__ import annotations

import strawberry

from app.graphql.tasks.mutations.complete_task import complete_task
from app.graphql.tasks.mutations.create_task import create_task
from app.graphql.tasks.mutations.create_team import create_team
from app.graphql.tasks.mutations.join_team import join_team
from app.graphql.tasks.mutations.save_badge import save_badge
from app.graphql.tasks.mutations.set_task_enabled import set_task_enabled
from app.graphql.tasks.mutations.update_task import update_task


@strawberry.type
class TaskMutations:
    create_task = create_task
    update_task = update_task
    set_task_enabled = set_task_enabled
    complete_task = complete_task
    create_team = create_team
    join_team = join_team
    save_badge = save_badge
