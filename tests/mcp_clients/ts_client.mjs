// Drive kioku-mesh-mcp through the official TypeScript MCP SDK: list the
// tools, save an observation, find it. Run by tests/mcp.rs with
// `node ts_client.mjs <server>` and NODE_PATH set to the SDK's install.
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.NODE_PATH, "noop.js"));
const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StdioClientTransport } = require("@modelcontextprotocol/sdk/client/stdio.js");

function check(condition, message) {
  if (!condition) {
    console.error(`FAILED: ${message}`);
    process.exit(1);
  }
}

const transport = new StdioClientTransport({ command: process.argv[2], args: [], env: process.env, stderr: "inherit" });
const client = new Client({ name: "kioku-mesh-e2e", version: "1.0.0" });
await client.connect(transport);

const info = client.getServerVersion();
check(info.name === "kioku-mesh", JSON.stringify(info));
check((client.getInstructions() ?? "").includes("save_observation"), "instructions");

const { tools } = await client.listTools();
const names = tools.map((t) => t.name);
check(names.join(",") === "save_observation,search_memory,get_memory,recall_context,delete_memory,get_memory_status,drain_pending_puts,check_messages,ack_message,purge_expired_messages,send_message", names.join(","));
const save = tools.find((t) => t.name === "save_observation");
check(JSON.stringify(save.inputSchema.required) === JSON.stringify(["content", "subject", "summary"]), JSON.stringify(save.inputSchema));

const saved = await client.callTool({ name: "save_observation", arguments: { content: "typescript client was here 型", subject: "ts sdk", summary: "saved from node" } });
check(!saved.isError, JSON.stringify(saved));
const reply = JSON.parse(saved.content[0].text);
check(reply.status === "saved" && /^[0-9a-f]{32}$/.test(reply.observation_id), saved.content[0].text);

const found = await client.callTool({ name: "search_memory", arguments: { query: "typescript" } });
check(!found.isError && found.content[0].text.includes(`<id=${reply.observation_id}>`), JSON.stringify(found));

const refused = await client.callTool({ name: "save_observation", arguments: { content: "x", subject: "", summary: "" } });
check(refused.isError === true, JSON.stringify(refused));

await client.close();
console.log("ok");
