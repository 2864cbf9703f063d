//! A [`HookChain`] of an in-process hook and a command hook, in front of a real tus server
//! on loopback: the in-process hook's changes reach the command, its refusals stop the chain.

use async_trait::async_trait;
use http::request::Parts;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::Duration;
use tokio::net::TcpListener;
use tus_core::{CreatePlan, HookRejection, Hooks, MemoryStorage, TusLayer};
use tus_hooks::{CommandTransport, DeliveryPolicy, HookChain, TransportHooks};

/// Tags every upload with an owner and refuses uploads over 100 bytes.
struct Quota;

#[async_trait]
impl Hooks for Quota {
    async fn pre_create(&self, _request: &Parts, plan: &mut CreatePlan) -> Result<(), HookRejection> {
        if plan.length.is_some_and(|length| length > 100) {
            return Err(HookRejection::new(http::StatusCode::PAYLOAD_TOO_LARGE, "over the quota"));
        }
        plan.metadata.insert("owner", "in-process");
        Ok(())
    }
}

async fn serve(layer: TusLayer) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = TowerToHyperService::new(layer.standalone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service.clone();
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    format!("http://{addr}/files")
}

fn logging_script(dir: &Path) -> (String, std::path::PathBuf) {
    let log = dir.join("events.log");
    let script = dir.join("hook.sh");
    std::fs::write(&script, format!("#!/bin/sh\ncat >> '{}'\necho >> '{}'\n", log.display(), log.display())).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script.to_str().unwrap().to_owned(), log)
}

fn events(log: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chained_hooks_pass_the_plan_along_and_stop_at_a_refusal() {
    let scripts = tempfile::tempdir().unwrap();
    let (script, log) = logging_script(scripts.path());
    let command = TransportHooks::new(CommandTransport::new(script))
        .policy(DeliveryPolicy::default().timeout(Duration::from_secs(10)));
    let layer = TusLayer::new(MemoryStorage::new()).hooks(HookChain::new().with(Quota).with(command.clone()));
    let url = serve(layer).await;
    // With the `rustls` feature reqwest has no crypto provider of its own: install ring's,
    // as an application using that feature would.
    #[cfg(feature = "rustls")]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let create =
        |length: u64| client.post(&url).header("Tus-Resumable", "1.0.0").header("Upload-Length", length).send();

    let refused = create(1000).await.unwrap();
    assert_eq!(refused.status(), 413);
    assert!(refused.text().await.unwrap().contains("over the quota"));
    let created = create(10).await.unwrap();
    assert_eq!(created.status(), 201);

    assert!(command.flush(Duration::from_secs(10)).await, "the queue drains");
    let events = events(&log);
    let kinds: Vec<_> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    // The refused request never reached the command hook.
    assert_eq!(kinds, ["pre-create", "post-create"], "{events:#?}");
    assert_eq!(events[0]["upload"]["length"], 10);
    assert_eq!(events[0]["upload"]["metadata"]["owner"], "in-process", "the command sees the earlier hook's change");
    assert_eq!(events[1]["upload"]["metadata"]["owner"], "in-process");
}
