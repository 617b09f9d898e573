"""The receivers docs/WEBHOOKS.md shows, taken from the document as written and run against a
real delivery: each verifies the signature, prints each message once, refuses a forgery."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

import httpx

from app.db import unit_of_work
from app.runtime import Runtime
from app.webhooks.endpoints import WebhookEndpoints
from app.webhooks.schedule import Outcome
from app.webhooks.transport import Sender
from tests.e2e.test_serve import free_port
from tests.eventually import eventually
from tests.npm import npm_installed
from tests.webhooks.conftest import STAFF, create_endpoint, deliver, earn, member

DOC = Path(__file__).resolve().parents[2] / "docs" / "WEBHOOKS.md"
NODE_DIR = Path(__file__).resolve().parent / "node"


def example(heading: str, language: str) -> str:
    """The first ``language`` code block after ``heading`` in docs/WEBHOOKS.md."""
    text = DOC.read_text()
    found = re.search(rf"{re.escape(heading)}\n.*?```{language}\n(.*?)```", text, re.DOTALL)
    assert found, f"no {language} block under {heading}"
    return found.group(1)


async def until_listening(port: int) -> None:
    async def listening() -> bool:
        try:
            async with httpx.AsyncClient() as client:
                await client.get(f"http://127.0.0.1:{port}/")
        except httpx.TransportError:
            return False
        return True

    await eventually(listening, within=15)


async def run_example(
    rt: Runtime, sender: Sender, command: list[str], cwd: Path
) -> list[dict[str, str]]:
    """Start the receiver, deliver two events to it (one of them twice), send a forgery; what
    it printed."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks"
    created = await create_endpoint(rt, url, ["points.earned"])
    env = {**os.environ, "WEBHOOK_SECRET": created.secret, "PORT": str(port)}
    receiver = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE
    )
    try:
        await until_listening(port)
        member_id = await member(rt)
        await earn(rt, member_id, 10, "a")
        await earn(rt, member_id, 20, "b")
        assert await deliver(rt, sender) == [Outcome.DELIVERED] * 2
        async with unit_of_work(rt.engine) as conn:  # resend the first: the receiver drops it
            endpoints = WebhookEndpoints(conn, rt.clock, rt.settings)
            [first, *_] = await endpoints.messages(STAFF, created.endpoint.id, None, 10)
            await endpoints.resend(STAFF, first.id)
        assert await deliver(rt, sender) == [Outcome.DELIVERED]
        async with httpx.AsyncClient() as client:
            forged = await client.post(
                url,
                content=b'{"type":"points.earned"}',
                headers={
                    "webhook-id": "msg_1",
                    "webhook-timestamp": "1",
                    "webhook-signature": "v1,AAAA",
                },
            )
        assert forged.status_code == 400
    finally:
        receiver.terminate()
        out, _ = await receiver.communicate()
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


async def test_the_python_receiver_in_the_docs(
    wh_runtime: Runtime, sender: Sender, tmp_path: Path
) -> None:
    script = tmp_path / "receiver.py"
    script.write_text(example("### A receiver in Python", "python"))
    printed = await run_example(wh_runtime, sender, [sys.executable, str(script)], tmp_path)
    assert [line["type"] for line in printed] == ["points.earned"] * 2
    assert len({line["id"] for line in printed}) == 2


async def test_the_node_receiver_in_the_docs(wh_runtime: Runtime, sender: Sender) -> None:
    folder = await asyncio.to_thread(npm_installed, NODE_DIR, "node-webhooks")
    (folder / "receiver.mjs").write_text(example("### A receiver in Node", "javascript"))
    printed = await run_example(wh_runtime, sender, ["node", "receiver.mjs"], folder)
    assert [line["type"] for line in printed] == ["points.earned"] * 2
    assert len({line["id"] for line in printed}) == 2
