"""The official MCP Python SDK (`mcp`, pinned in requirements.txt) against /mcp of the running app.

    python client.py <mcp-url> <bearer-token> <mode> <expected-revision>

Connects over Streamable HTTP with the bearer token in `mode` ("auto": probes `server/discover`
and adopts 2026-07-28; "2026-07-28": adopts it directly; "legacy": the initialize handshake),
prints the negotiated revision, lists the tools (exactly the seven), calls every tool, and checks
each result against the tool's `outputSchema` (the SDK validates too; this checks again with
jsonschema's 2020-12 validator and its format checker) and its text content against the
structured one. A tool failure must come back as a tool error (`isError`) with the REST API's
words. Exits non-zero on any mismatch.
"""

import asyncio
import json
import sys
import uuid

import httpx2
import jsonschema
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

TOOLS = ["create_task", "list_tasks", "get_task", "update_task", "delete_task", "toggle_complete", "get_stats"]


def structured(name, result, schemas):
    assert not result.is_error, f"{name} failed: {result.content}"
    content = result.structured_content
    jsonschema.Draft202012Validator(schemas[name], format_checker=jsonschema.FormatChecker()).validate(content)
    text = json.loads(result.content[0].text)
    assert text == content, f"{name}: text content {text} != structured content {content}"
    return content


async def run(url, token, mode, expected):
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
    async with http, Client(streamable_http_client(url, http_client=http), mode=mode) as client:
        print(f"python mcp SDK, mode={mode}: negotiated protocol revision {client.protocol_version}")
        assert client.protocol_version == expected, f"expected {expected}, got {client.protocol_version}"
        listed = await client.list_tools()
        names = [tool.name for tool in listed.tools]
        assert names == TOOLS, names
        schemas = {tool.name: tool.output_schema for tool in listed.tools}
        for tool in listed.tools:
            jsonschema.Draft202012Validator.check_schema(tool.input_schema)
            jsonschema.Draft202012Validator.check_schema(tool.output_schema)

        task = structured("create_task", await client.call_tool("create_task", {
            "title": f"Python SDK ({mode})", "priority": "high", "tags": ["sdk"],
            "due_date": "2030-05-01T09:00:00+02:00", "recurring_rule": "weekly"}), schemas)
        assert task["dueDate"] == "2030-05-01T07:00:00.000Z", task
        got = structured("get_task", await client.call_tool("get_task", {"task_id": task["id"]}), schemas)
        assert got == task
        page = structured("list_tasks", await client.call_tool("list_tasks", {"tags": ["sdk"], "limit": 10}), schemas)
        assert [t["id"] for t in page["tasks"]] == [task["id"]] and page["next_cursor"] is None, page
        updated = structured("update_task", await client.call_tool(
            "update_task", {"task_id": task["id"], "title": "Renamed", "recurring_rule": None}), schemas)
        assert updated["title"] == "Renamed" and updated["recurringRule"] is None, updated
        toggled = structured("toggle_complete", await client.call_tool("toggle_complete", {"task_id": task["id"]}), schemas)
        assert toggled["completed"] is True, toggled
        stats = structured("get_stats", await client.call_tool("get_stats", {}), schemas)
        assert stats["total"] == 1 and stats["completed"] == 1, stats
        deleted = structured("delete_task", await client.call_tool("delete_task", {"task_id": task["id"]}), schemas)
        assert deleted == {"deleted": True, "task_id": task["id"]}, deleted

        missing = await client.call_tool("get_task", {"task_id": str(uuid.uuid4())})
        assert missing.is_error and missing.content[0].text == "Task not found", missing
        invalid = await client.call_tool("create_task", {"title": "x", "priority": "urgent"})
        assert invalid.is_error, invalid
        assert invalid.content[0].text == "unknown priority 'urgent'; expected one of low, medium, high", invalid
    print(f"python mcp SDK, mode={mode}: 7 tools listed and called, results match their outputSchema")


if __name__ == "__main__":
    asyncio.run(run(*sys.argv[1:5]))
