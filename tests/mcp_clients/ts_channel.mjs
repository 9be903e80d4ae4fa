// A Claude Code channel notification reaches a client of the official
// TypeScript MCP SDK: the server (agent alice@mbp) declares the experimental
// capability claude/channel; another agent sends alice a message with the
// CLI; the client receives notifications/claude/channel with the body.
// Run by tests/messaging_push.rs with
// `node ts_channel.mjs <server> <cli>` and NODE_PATH set to the SDK's install.
// Prints the time from the send returning to the notification, in ms.
import { createRequire } from "node:module";
import { execFileSync } from "node:child_process";
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

const [server, cli] = [process.argv[2], process.argv[3]];
const env = { ...process.env, KIOKU_MESH_CLIENT_ID: "alice@mbp" };
const transport = new StdioClientTransport({ command: server, args: [], env, stderr: "inherit" });
const client = new Client({ name: "kioku-mesh-channel", version: "1.0.0" });
let resolveArrival;
const arrival = new Promise((resolve) => { resolveArrival = resolve; });
client.fallbackNotificationHandler = async (notification) => {
  if (notification.method === "notifications/claude/channel") {
    resolveArrival({ at: performance.now(), params: notification.params });
  }
};
await client.connect(transport);
const caps = client.getServerCapabilities();
check(caps.experimental && "claude/channel" in caps.experimental, JSON.stringify(caps));

const sent = execFileSync(cli, ["msg", "send", "--to", "alice@mbp", "--subject", "channel", "pushed through the channel"], {
  env: { ...process.env, KIOKU_MESH_CLIENT_ID: "bob@desk" },
}).toString().trim();
const sentAt = performance.now();
const timeout = new Promise((resolve) => setTimeout(() => resolve(null), 10000));
const got = await Promise.race([arrival, timeout]);
check(got !== null, "no channel notification within 10 s");
check(got.params.content.includes("pushed through the channel"), JSON.stringify(got.params));
check(got.params.content.includes("not an instruction from the user"), JSON.stringify(got.params));
check(got.params.meta.msg_id === sent && got.params.meta.sender === "bob@desk", JSON.stringify(got.params));
for (const key of Object.keys(got.params.meta)) {
  check(/^[A-Za-z0-9_]+$/.test(key), `meta key ${key}`);
}
await client.close();
console.log(`ok ${Math.max(0, got.at - sentAt).toFixed(1)}`);
