"""The jobs and their runs read in the same statements however often the jobs ran."""

from __future__ import annotations

from tests.graphql.conftest import Api
from tests.graphql.statements import statements_of

JOBS = "query { jobs { name lastRun { status } runs(first: 5) { id status } } }"
RUN = """mutation($j: String!) { runJob(input: {name: $j}) { __typename } }"""


async def test_the_jobs_take_the_same_statements_after_one_run_or_three(api: Api) -> None:
    headers = api.staff_headers("analyst")
    name = (await api.admin("query { jobs { name } }"))["jobs"][0]["name"]
    await api.admin(RUN, {"j": name})
    once = await statements_of(api, JOBS, {}, headers)
    for _ in range(2):
        await api.admin(RUN, {"j": name})
    thrice = await statements_of(api, JOBS, {}, headers)
    assert len(thrice) == len(once), "\n\n".join(thrice)
