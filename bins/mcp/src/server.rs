//! The MCP protocol surface: server identity, the tool list and dispatch.
//!
//! Arguments are parsed here rather than by rmcp's extractors so that a bad
//! argument comes back as a tool error the agent can read (as the reference
//! does), not as a protocol error that clients hide.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    InitializeResult, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
    Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::instructions;
use crate::message_tools::MessageTools;
use crate::params::{
    AckMessage, CheckMessages, DeleteMemory, DrainPendingPuts, NoArguments, ObservationId,
    RecallContext, SaveObservation, SearchMemory, SendMessage,
};
use crate::tools::{Reply, Tools};

/// The kioku-mesh MCP server.
pub struct KiokuServer {
    tools: Arc<Tools>,
    messages: Arc<MessageTools>,
    list: Vec<Tool>,
}

fn tool<T: JsonSchema + 'static>(name: &'static str, description: &'static str) -> Tool {
    Tool::new(
        name,
        description,
        rmcp::handler::server::common::schema_for_type::<T>(),
    )
}

/// The tool definitions, in the reference's order.
pub fn tool_list() -> Vec<Tool> {
    vec![
        tool::<SaveObservation>("save_observation", instructions::SAVE_OBSERVATION),
        tool::<SearchMemory>("search_memory", instructions::SEARCH_MEMORY),
        tool::<ObservationId>("get_memory", instructions::GET_MEMORY),
        tool::<RecallContext>("recall_context", instructions::RECALL_CONTEXT),
        tool::<DeleteMemory>("delete_memory", instructions::DELETE_MEMORY),
        tool::<NoArguments>("get_memory_status", instructions::GET_MEMORY_STATUS),
        tool::<DrainPendingPuts>("drain_pending_puts", instructions::DRAIN_PENDING_PUTS),
        tool::<CheckMessages>("check_messages", instructions::CHECK_MESSAGES),
        tool::<AckMessage>("ack_message", instructions::ACK_MESSAGE),
        tool::<NoArguments>(
            "purge_expired_messages",
            instructions::PURGE_EXPIRED_MESSAGES,
        ),
        tool::<SendMessage>("send_message", instructions::SEND_MESSAGE),
    ]
}

fn parse<T: DeserializeOwned>(
    tool: &str,
    args: Option<serde_json::Map<String, Value>>,
) -> Result<T, Reply> {
    serde_json::from_value(Value::Object(args.unwrap_or_default()))
        .map_err(|e| Reply::Error(format!("invalid arguments for {tool}: {e}")))
}

impl KiokuServer {
    /// A server over the memory `tools` and the `messages` tools.
    pub fn new(tools: Arc<Tools>, messages: Arc<MessageTools>) -> Self {
        Self {
            tools,
            messages,
            list: tool_list(),
        }
    }

    async fn dispatch(&self, name: &str, args: Option<serde_json::Map<String, Value>>) -> Reply {
        let t = &self.tools;
        let m = &self.messages;
        let result = match name {
            "check_messages" => match parse(name, args) {
                Ok(p) => Ok(m.check_messages(p).await),
                Err(e) => Err(e),
            },
            "ack_message" => match parse(name, args) {
                Ok(p) => Ok(m.ack_message(p).await),
                Err(e) => Err(e),
            },
            "purge_expired_messages" => match parse::<NoArguments>(name, args) {
                Ok(_) => Ok(m.purge_expired_messages().await),
                Err(e) => Err(e),
            },
            "send_message" => match parse(name, args) {
                Ok(p) => Ok(m.send_message(p).await),
                Err(e) => Err(e),
            },
            "save_observation" => match parse(name, args) {
                Ok(p) => Ok(t.save_observation(p).await),
                Err(e) => Err(e),
            },
            "search_memory" => match parse(name, args) {
                Ok(p) => Ok(t.search_memory(p).await),
                Err(e) => Err(e),
            },
            "get_memory" => match parse(name, args) {
                Ok(p) => Ok(t.get_memory(p).await),
                Err(e) => Err(e),
            },
            "recall_context" => match parse(name, args) {
                Ok(p) => Ok(t.recall_context(p).await),
                Err(e) => Err(e),
            },
            "delete_memory" => match parse(name, args) {
                Ok(p) => Ok(t.delete_memory(p).await),
                Err(e) => Err(e),
            },
            "get_memory_status" => match parse::<NoArguments>(name, args) {
                Ok(_) => Ok(t.get_memory_status().await),
                Err(e) => Err(e),
            },
            "drain_pending_puts" => match parse(name, args) {
                Ok(p) => Ok(t.drain_pending_puts(p).await),
                Err(e) => Err(e),
            },
            other => Err(Reply::Error(format!("Unknown tool: '{other}'"))),
        };
        result.unwrap_or_else(|e| e)
    }
}

impl ServerHandler for KiokuServer {
    fn get_info(&self) -> ServerConfig {
        // Claude Code channels: mail arriving for this session or agent is
        // pushed as `notifications/claude/channel` (see `channel.rs`).
        let mut experimental = rmcp::model::ExperimentalCapabilities::new();
        experimental.insert("claude/channel".to_owned(), serde_json::Map::new());
        let capabilities = ServerCapabilities::builder()
            .enable_experimental_with(experimental)
            .enable_tools()
            .build();
        InitializeResult::new(capabilities)
            .with_server_info(Implementation::new("kioku-mesh", env!("CARGO_PKG_VERSION")))
            .with_instructions(instructions::INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.list.clone()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.list.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        tracing::debug!("tool call {}", request.name);
        let result = match self.dispatch(&request.name, request.arguments).await {
            Reply::Text(text) => CallToolResult::success(vec![ContentBlock::text(text)]),
            Reply::Error(text) => CallToolResult::error(vec![ContentBlock::text(text)]),
        };
        Ok(result.into())
    }
}
