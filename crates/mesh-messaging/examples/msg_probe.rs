//! Client side of the messaging benchmark (`cargo xtask bench --msg-only`
//! starts the daemons and runs this).
//!
//! ```text
//! msg_probe <endpoint-A> <home-A> <endpoint-B> <home-B> <count>
//! ```
//!
//! Sends `count` messages one after the other from agent bob@a through the
//! daemon at A to agent alice@b, timing each from the start of the send
//! until B's inbox (a check through B's daemon) lists it; prints
//! p50/p90/p99/max in ms, for the send alone and for send to inbox.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mesh_core::{Environment, Settings};
use mesh_messaging::{Me, Messaging, Recipient, SendRequest};

type BoxError = Box<dyn std::error::Error>;

async fn open(endpoint: &str, home: &str, agent: &str) -> Result<Messaging, BoxError> {
    let home = PathBuf::from(home);
    let env = Environment::empty(&home, Some(home.clone()))
        .with_var(
            "KIOKU_MESH_STATE_DIR",
            &home.join("state").display().to_string(),
        )
        .with_var("KIOKU_MESH_BACKEND", "zenoh")
        .with_var("ZENOH_CONNECT", endpoint)
        .with_var("KIOKU_MESH_CLIENT_ID", agent);
    let settings = Settings::load(&env)?;
    let me = Me::from_env(&env, || format!("probe-{agent}"));
    Ok(Messaging::open(&settings, &env, me).await?)
}

fn summary(label: &str, mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    format!(
        "{label}, {} messages: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let [_, a_end, a_home, b_end, b_home, count] = args.as_slice() else {
        return Err("usage: msg_probe <endpoint-A> <home-A> <endpoint-B> <home-B> <count>".into());
    };
    let count: usize = count.parse()?;
    let a = open(a_end, a_home, "bob@a").await?;
    let b = open(b_end, b_home, "alice@b").await?;
    // Warm both sessions.
    let _ = b.new_mail().await?;
    let mut send_ms = Vec::with_capacity(count);
    let mut visible_ms = Vec::with_capacity(count);
    for i in 0..count {
        let started = Instant::now();
        let msg = a
            .send(SendRequest {
                to: Recipient::Agent("alice@b".to_owned()),
                visibility: None,
                ttl_sec: None,
                subject: None,
                reply_to: None,
                requires_ack: false,
                promote: false,
                body: format!("probe message {i}"),
            })
            .await?;
        send_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        let deadline = started + Duration::from_secs(10);
        loop {
            let mail = b.new_mail().await?;
            if mail.iter().any(|m| m["msg_id"] == msg.msg_id.as_str()) {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("message {i} never reached B's inbox").into());
            }
        }
        visible_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "{}",
        summary("send on A returned (confirmed by a storage)", send_ms)
    );
    println!(
        "{}",
        summary("send on A to listed in B's inbox", visible_ms)
    );
    a.close().await;
    b.close().await;
    Ok(())
}
