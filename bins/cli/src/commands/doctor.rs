//! `kioku-mesh doctor`.

use anyhow::Result;
use mesh_memory::doctor::{self, CheckStatus};
use mesh_memory::{AnyStore, Memory};
use serde_json::json;

use crate::args::DoctorArgs;
use crate::output;

pub async fn run(a: &DoctorArgs, memory: &Memory<AnyStore>) -> Result<u8> {
    let checks = doctor::run(memory).await;
    let worst = doctor::worst(&checks);
    if a.json {
        let list: Vec<_> = checks
            .iter()
            .map(|c| json!({"name": c.name, "status": c.status.as_str(), "summary": c.summary, "hint": c.hint}))
            .collect();
        output::line(serde_json::to_string_pretty(&json!({
            "version": env!("CARGO_PKG_VERSION"),
            "ok": worst == CheckStatus::Pass,
            "worst_status": worst.as_str(),
            "checks": list,
        }))?);
    } else {
        let mut lines = Vec::new();
        for c in &checks {
            lines.push(format!(
                "[{}] {} — {}",
                c.status.as_str(),
                c.name,
                c.summary
            ));
            if let Some(hint) = &c.hint {
                lines.push(format!("    hint: {hint}"));
            }
        }
        lines.push(String::new());
        lines.push(format!(
            "verdict: {}",
            match worst {
                CheckStatus::Pass => "all checks passed",
                CheckStatus::Warn => "completed with warnings",
                CheckStatus::Fail => "one or more checks failed",
            }
        ));
        output::line(lines.join("\n"));
    }
    Ok(match worst {
        CheckStatus::Pass => 0,
        CheckStatus::Warn => 1,
        CheckStatus::Fail => 2,
    })
}
