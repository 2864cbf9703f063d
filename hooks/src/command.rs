//! Command hooks: each event runs a program with the event's JSON on stdin.

use crate::event::EncodedEvent;
use crate::reply::{MAX_REPLY_BYTES, Reply};
use crate::transport::{DeliveryError, Transport};
use async_trait::async_trait;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::process::Stdio;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::Command;
use tus_core::HookRejection;

/// Runs a program per event (`--hooks-command`).
///
/// The program gets the event JSON on stdin and `TUS_HOOK_EVENT` / `TUS_HOOK_EVENT_ID` in
/// its environment; its stderr goes to the server's stderr. Exit code 0 delivers the event
/// and, for blocking events, stdout (empty, or the JSON reply of the README) decides. A
/// non-zero exit rejects a blocking event (with stdout's `reject` if it has one, else 403)
/// and is a failed, retried delivery for a notification. When the hooks' timeout passes,
/// the program is killed.
#[derive(Debug, Clone)]
pub struct CommandTransport {
    program: PathBuf,
    args: Vec<String>,
}

impl CommandTransport {
    /// Runs `program` (a path, or a name looked up in `PATH`) with no arguments.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self { program: program.into(), args: Vec::new() }
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }
}

#[async_trait]
impl Transport for CommandTransport {
    async fn deliver(&self, event: &EncodedEvent) -> Result<Reply, DeliveryError> {
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .env("TUS_HOOK_EVENT", event.kind.name())
            .env("TUS_HOOK_EVENT_ID", &event.id)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // A timed-out delivery drops this future: the program must not outlive it.
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                let why = format!("cannot run the hook command {}: {e}", self.program.display());
                match e.kind() {
                    ErrorKind::NotFound | ErrorKind::PermissionDenied => DeliveryError::Permanent(why),
                    _ => DeliveryError::Transient(why),
                }
            })?;
        let mut stdin = child.stdin.take();
        let stdout = child.stdout.take();
        // Write and read at once: a program may answer before it has read everything.
        let write = async {
            if let Some(stdin) = stdin.as_mut() {
                // A program that ignores its input closes the pipe early; that is its right.
                let _ = stdin.write_all(&event.json).await;
                let _ = stdin.shutdown().await;
            }
            drop(stdin.take());
        };
        let read = async {
            let mut out = Vec::new();
            if let Some(stdout) = stdout {
                let limit = u64::try_from(MAX_REPLY_BYTES + 1).unwrap_or(u64::MAX);
                stdout.take(limit).read_to_end(&mut out).await.map(|_| out)
            } else {
                Ok(out)
            }
        };
        let ((), out) = tokio::join!(write, read);
        let out = out.map_err(|e| DeliveryError::Transient(format!("reading the hook command's output: {e}")))?;
        if out.len() > MAX_REPLY_BYTES {
            return Err(DeliveryError::Permanent(format!("the hook command wrote over {MAX_REPLY_BYTES} bytes")));
        }
        let status =
            child.wait().await.map_err(|e| DeliveryError::Transient(format!("waiting for the hook command: {e}")))?;
        if status.success() {
            return Reply::for_event(event.kind, &out).map_err(|e| DeliveryError::Permanent(e.to_string()));
        }
        if !event.kind.is_blocking() {
            return Err(DeliveryError::Transient(format!("the hook command failed: {status}")));
        }
        let reject = Reply::parse(&out).ok().and_then(|reply| reply.reject);
        Ok(Reply {
            reject: Some(reject.unwrap_or_else(|| HookRejection::forbidden("refused by a hook"))),
            ..Reply::accept()
        })
    }
}
