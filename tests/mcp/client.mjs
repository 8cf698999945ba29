// The official MCP TypeScript SDK (@modelcontextprotocol/sdk, pinned in package-lock.json)
// against /mcp of the running app.
//
//   node client.mjs <mcp-url> <bearer-token>
//
// Connects over Streamable HTTP with the bearer token (the SDK's initialize handshake), prints
// the negotiated revision, lists the tools (exactly the seven), calls every tool, and checks each
// result against the tool's outputSchema (the SDK validates with Ajv too; this checks again with
// Ajv's 2020-12 dialect and formats) and its text content against the structured one. A tool
// failure must come back as a tool error (isError) with the REST API's words.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const TOOLS = ["create_task", "list_tasks", "get_task", "update_task", "delete_task", "toggle_complete", "get_stats"];
const [url, token] = process.argv.slice(2);

const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "todo-backend-tests", version: "1.0.0" });
await client.connect(transport);
console.log(`typescript MCP SDK: negotiated protocol revision ${transport.protocolVersion}`);
assert.equal(transport.protocolVersion, "2025-11-25");
assert.equal(transport.sessionId, undefined, "a stateless server issues no session");

const { tools } = await client.listTools();
assert.deepEqual(tools.map((tool) => tool.name), TOOLS);
const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
addFormats(ajv);
const validators = Object.fromEntries(tools.map((tool) => [tool.name, ajv.compile(tool.outputSchema)]));
for (const tool of tools) {
  ajv.compile(tool.inputSchema);
  assert.equal(typeof tool.annotations.readOnlyHint, "boolean", tool.name);
}

async function structured(name, args) {
  const result = await client.callTool({ name, arguments: args });
  assert.notEqual(result.isError, true, `${name} failed: ${JSON.stringify(result.content)}`);
  const content = result.structuredContent;
  assert.ok(validators[name](content), `${name}: ${JSON.stringify(validators[name].errors)}`);
  assert.deepEqual(JSON.parse(result.content[0].text), content);
  return content;
}

const task = await structured("create_task", {
  title: "TypeScript SDK", category: "work", tags: ["sdk", "ts"], reminder_at: "2030-06-01T08:00:00Z",
});
assert.deepEqual(await structured("get_task", { task_id: task.id }), task);
const page = await structured("list_tasks", { tags: ["ts"], sort_by: "createdAt", sort_order: "asc" });
assert.deepEqual(page.tasks.map((t) => t.id), [task.id]);
assert.equal(page.next_cursor, null);
const updated = await structured("update_task", { task_id: task.id, description: "typed", reminder_at: null });
assert.equal(updated.description, "typed");
assert.equal(updated.reminderAt, null);
const toggled = await structured("toggle_complete", { task_id: task.id });
assert.equal(toggled.status, "completed");
const stats = await structured("get_stats", {});
assert.equal(stats.total, 1);
const deleted = await structured("delete_task", { task_id: task.id });
assert.deepEqual(deleted, { deleted: true, task_id: task.id });

const missing = await client.callTool({ name: "get_task", arguments: { task_id: randomUUID() } });
assert.equal(missing.isError, true);
assert.equal(missing.content[0].text, "Task not found");
const invalid = await client.callTool({ name: "update_task", arguments: { task_id: "nope" } });
assert.equal(invalid.isError, true);
assert.equal(invalid.content[0].text, "task_id must be a UUID");

await client.close();
console.log("typescript MCP SDK: 7 tools listed and called, results match their outputSchema");
