//! `tus serve --hooks-*`: webhooks and command hooks, from flags to tus-core hooks.

use crate::args::parse_duration;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;
use tus_core::TusLayer;
use tus_hooks::{
    CommandTransport, DeliveryPolicy, EnabledEvents, HookChain, HttpTransport, InvalidHookConfig, TransportHooks,
};

/// The hook flags of `tus serve` (the protocol: hooks/README.md).
#[derive(Debug, Clone, Args)]
pub struct HookArgs {
    /// POST every enabled hook event as JSON to this URL; blocking events follow its reply.
    #[arg(long, value_name = "URL", env = "TUS_HOOKS_HTTP")]
    pub hooks_http: Option<String>,

    /// Run this program for every enabled hook event, with the event JSON on stdin.
    #[arg(long, value_name = "PATH", env = "TUS_HOOKS_COMMAND")]
    pub hooks_command: Option<PathBuf>,

    /// The events delivered: a comma list of authorize, pre-create, post-create, post-receive,
    /// post-finish, pre-terminate, post-terminate, or `all`.
    #[arg(
        long,
        value_name = "EVENTS",
        env = "TUS_HOOKS_ENABLED_EVENTS",
        default_value = "pre-create,post-create,post-finish,pre-terminate,post-terminate"
    )]
    pub hooks_enabled_events: EnabledEvents,

    /// The time limit of one hook delivery (a command is killed when it passes).
    #[arg(long, value_parser = parse_duration, default_value = "10s", value_name = "DURATION", env = "TUS_HOOKS_TIMEOUT")]
    pub hooks_timeout: Duration,

    /// How many times a failed hook delivery is retried, with the same event ID.
    #[arg(long, default_value_t = 3, value_name = "N", env = "TUS_HOOKS_RETRIES")]
    pub hooks_retries: u32,
}

/// The hook transports a server runs, kept to deliver queued events on shutdown.
#[derive(Debug, Default)]
pub(crate) struct ServerHooks {
    http: Option<TransportHooks<HttpTransport>>,
    command: Option<TransportHooks<CommandTransport>>,
}

impl ServerHooks {
    /// Builds the transports the flags name and installs them in `layer` (the command
    /// first, then the webhook, when both are given).
    pub(crate) fn install(layer: TusLayer, args: &HookArgs) -> Result<(TusLayer, Self), InvalidHookConfig> {
        let policy = DeliveryPolicy::default().timeout(args.hooks_timeout).retries(args.hooks_retries);
        let events = args.hooks_enabled_events;
        let command = args
            .hooks_command
            .as_ref()
            .map(|program| TransportHooks::new(CommandTransport::new(program)).events(events).policy(policy));
        let http = match &args.hooks_http {
            Some(url) => Some(TransportHooks::new(HttpTransport::new(url)?).events(events).policy(policy)),
            None => None,
        };
        if http.is_some() || command.is_some() {
            // The URL may hold credentials: log only that a webhook is on.
            tracing::info!(webhook = http.is_some(), command = ?args.hooks_command, %events, "hooks enabled");
        }
        let hooks = Self { http, command };
        let layer = match (&hooks.command, &hooks.http) {
            (None, None) => layer,
            (Some(command), None) => layer.hooks(command.clone()),
            (None, Some(http)) => layer.hooks(http.clone()),
            (Some(command), Some(http)) => layer.hooks(HookChain::new().with(command.clone()).with(http.clone())),
        };
        Ok((layer, hooks))
    }

    /// Waits up to `timeout` for queued notifications to be delivered.
    pub(crate) async fn flush(&self, timeout: Duration) {
        let command = async {
            match &self.command {
                Some(hooks) => hooks.flush(timeout).await,
                None => true,
            }
        };
        let http = async {
            match &self.http {
                Some(hooks) => hooks.flush(timeout).await,
                None => true,
            }
        };
        let (command, http) = tokio::join!(command, http);
        if !(command && http) {
            tracing::warn!(?timeout, "hook events still queued at exit were not delivered");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::args::{Cli, Command};
    use clap::Parser as _;
    use std::time::Duration;
    use tus_hooks::{EnabledEvents, EventKind};

    fn serve(flags: &[&str]) -> Result<crate::args::ServeArgs, clap::Error> {
        let cli = Cli::try_parse_from(["tus", "serve"].iter().chain(flags))?;
        let Command::Serve(args) = cli.command else { panic!("not serve") };
        Ok(args)
    }

    #[test]
    fn hook_flags() {
        let args = serve(&[]).unwrap();
        assert!(args.hooks.hooks_http.is_none() && args.hooks.hooks_command.is_none());
        assert_eq!(args.hooks.hooks_enabled_events, EnabledEvents::default());
        assert_eq!(args.hooks.hooks_timeout, Duration::from_secs(10));
        assert_eq!(args.hooks.hooks_retries, 3);
        let args = serve(&[
            "--hooks-http",
            "http://127.0.0.1:9/x",
            "--hooks-enabled-events",
            "post-finish,authorize",
            "--hooks-timeout",
            "2s",
            "--hooks-retries",
            "0",
        ])
        .unwrap();
        let events = args.hooks.hooks_enabled_events;
        assert!(events.contains(EventKind::Authorize) && events.contains(EventKind::PostFinish));
        assert!(!events.contains(EventKind::PreCreate));
        assert_eq!(args.hooks.hooks_timeout, Duration::from_secs(2));
        assert_eq!(args.hooks.hooks_retries, 0);
        assert!(serve(&["--hooks-enabled-events", "post-finnish"]).is_err());
    }

    #[test]
    fn bad_hook_urls_are_refused_at_start() {
        let args = serve(&["--hooks-http", "ftp://example.com/x"]).unwrap();
        let layer = tus_core::TusLayer::new(tus_core::MemoryStorage::new());
        let error = super::ServerHooks::install(layer, &args.hooks).unwrap_err();
        assert!(error.to_string().contains("not http or https"), "{error}");
    }
}
