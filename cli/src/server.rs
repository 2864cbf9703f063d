//! `tus serve`: binds, accepts connections (HTTP/1.1 and h2c) and shuts down gracefully.

use crate::args::{ExpirationMode, LockArg, ServeArgs};
use crate::hooks::ServerHooks;
use crate::linger::LingeringStream;
use crate::ops::{Ops, Router};
use crate::{CliError, open_serve_storage, server_url};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tus_core::metrics::TusMetrics;
use tus_core::{Cors, Expiration, ShutdownHandle, TusLayer};

/// How long the accept loop pauses after an accept error (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A bound, ready tus server: storage opened, socket listening, nothing served yet.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    /// The `--metrics-listen` listener.
    ops_listener: Option<TcpListener>,
    layer: TusLayer,
    args: ServeArgs,
    local_addr: SocketAddr,
    hooks: ServerHooks,
    metrics: Option<TusMetrics>,
    draining: CancellationToken,
}

impl Server {
    /// Opens the storage in `--dir` and binds `--host`:`--port`.
    pub async fn bind(args: ServeArgs) -> Result<Self, CliError> {
        let (storage, storage_max) = open_serve_storage(&args).await?;
        let mut layer = build_layer(TusLayer::from_arc(storage), &args);
        if let Some(storage_max) = storage_max {
            layer = layer.max_size(args.max_size.map_or(storage_max, |max| max.min(storage_max)));
        }
        let (layer, hooks) = ServerHooks::install(layer, &args.hooks).map_err(CliError::Hooks)?;
        let layer = match args.lock {
            LockArg::Memory => layer,
            LockArg::Redis => layer.locker(redis_locker(&args).await?),
        };
        let metrics = (args.metrics || args.metrics_listen.is_some()).then(TusMetrics::new);
        let layer = match &metrics {
            Some(metrics) => layer.metrics(metrics.clone()),
            None => layer,
        };
        let address = if args.host.contains(':') && !args.host.starts_with('[') {
            format!("[{}]:{}", args.host, args.port)
        } else {
            format!("{}:{}", args.host, args.port)
        };
        let bind_error = |source| CliError::Bind { address: address.clone(), source };
        let listener = TcpListener::bind(address.as_str()).await.map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let ops_listener = match args.metrics_listen {
            Some(address) => Some(
                TcpListener::bind(address)
                    .await
                    .map_err(|source| CliError::Bind { address: address.to_string(), source })?,
            ),
            None => None,
        };
        let draining = CancellationToken::new();
        Ok(Self { listener, ops_listener, layer, args, local_addr, hooks, metrics, draining })
    }

    /// The address of the `--metrics-listen` listener, if any (with the chosen port when 0).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.ops_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The address actually bound (with the chosen port when `--port 0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The URL uploads are created at, e.g. `http://127.0.0.1:8080/files`.
    pub fn url(&self) -> String {
        server_url(self.local_addr, &self.args.base_path)
    }

    /// The tus layer this server runs (configured from the flags).
    pub fn layer(&self) -> &TusLayer {
        &self.layer
    }

    /// Serves until `shutdown` completes, then shuts down gracefully: stops accepting,
    /// makes in-flight PATCHes persist what they received and answer 503, and waits up to
    /// `--shutdown-timeout` for open connections to finish.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), CliError> {
        let Self { listener, ops_listener, layer, args, local_addr, hooks, metrics, draining } = self;
        let ops = Ops { readiness: layer.readiness(), draining: draining.clone(), metrics };
        // /metrics lives on the separate listener when there is one.
        let main_ops = if ops_listener.is_some() { Ops { metrics: None, ..ops.clone() } } else { ops.clone() };
        let tus = layer.standalone();
        // Expired uploads left by an earlier run go without waiting for the first request.
        tus.start_janitor();
        let service = TowerToHyperService::new(Router { ops: Arc::new(main_ops), tus: Some(tus) });
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // The timer enables hyper's header read timeout (30 s) against slow-header clients.
        builder.http1().timer(TokioTimer::new());
        builder.http2().timer(TokioTimer::new());
        let graceful = GracefulShutdown::new();
        tracing::info!(
            address = %local_addr,
            base_path = %args.base_path,
            storage = ?args.location.storage,
            dir = %args.dir.display(),
            bucket = ?args.location.bucket,
            container = ?args.location.container,
            durability = ?args.durability,
            exclusive = args.exclusive,
            inline_limit = ?args.inline_limit,
            lock = ?args.lock,
            max_size = ?args.max_size,
            expiration = ?args.expiration.map(|after| (after, args.expiration_mode)),
            "tus server started"
        );

        let mut connections = JoinSet::new();
        // Stops the --metrics-listen loop once the main loop is done.
        let ops_stop = CancellationToken::new();
        let _stop_ops = ops_stop.clone().drop_guard();
        if let Some(ops_listener) = ops_listener {
            let ops_service = TowerToHyperService::new(Router { ops: Arc::new(ops), tus: None });
            tokio::spawn(serve_ops(ops_listener, builder.clone(), ops_service, ops_stop.clone()));
        }
        let mut shutdown = std::pin::pin!(shutdown);
        let mut drain_until = None;
        loop {
            let drain_over = async {
                match drain_until {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let (stream, peer) = tokio::select! {
                () = &mut shutdown, if drain_until.is_none() => {
                    draining.cancel();
                    if args.shutdown_delay.is_zero() {
                        break;
                    }
                    tracing::info!(delay = ?args.shutdown_delay, "not ready any more; still serving during the shutdown delay");
                    drain_until = Some(tokio::time::Instant::now() + args.shutdown_delay);
                    continue;
                }
                () = drain_over => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                },
            };
            // Reap finished connections so the set only holds live ones.
            while connections.try_join_next().is_some() {}
            serve_connection(&mut connections, &builder, &graceful, &service, stream, peer);
        }

        drop(listener);
        let open = graceful.count();
        tracing::info!(open_connections = open, timeout = ?args.shutdown_timeout, "shutting down");
        layer.shutdown_handle().shutdown();
        match tokio::time::timeout(args.shutdown_timeout, graceful.shutdown()).await {
            Ok(()) => tracing::info!("all connections closed"),
            Err(_) => {
                tracing::warn!(
                    open = connections.len(),
                    "connections still open after the shutdown timeout; closing them"
                );
                connections.abort_all();
                while connections.join_next().await.is_some() {}
            }
        }
        // Notifications of the last requests may still be queued: deliver them before exiting.
        hooks.flush(args.shutdown_timeout).await;
        Ok(())
    }

    /// Starts the graceful shutdown of the tus layer (new requests get 503).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.layer.shutdown_handle()
    }
}

fn serve_connection(
    connections: &mut JoinSet<()>,
    builder: &auto::Builder<TokioExecutor>,
    graceful: &GracefulShutdown,
    service: &TowerToHyperService<Router>,
    stream: TcpStream,
    peer: SocketAddr,
) {
    tracing::trace!(%peer, "connection accepted");
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
    }
    let io = TokioIo::new(LingeringStream::new(stream));
    let connection = graceful.watch(builder.serve_connection(io, service.clone()).into_owned());
    connections.spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    });
}

/// The `--metrics-listen` accept loop: operations endpoints only, until shutdown.
async fn serve_ops(
    listener: TcpListener,
    builder: auto::Builder<TokioExecutor>,
    service: TowerToHyperService<Router>,
    stop: CancellationToken,
) {
    loop {
        let (stream, _peer) = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a metrics connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        // Short scrapes and probes: not part of the graceful drain; the process exit ends them.
        let connection = builder.serve_connection(TokioIo::new(stream), service.clone()).into_owned();
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
}

/// The Redis locker of `--lock redis`: fails when Redis does not answer.
async fn redis_locker(args: &ServeArgs) -> Result<tus_redis::RedisLocker, CliError> {
    connect_redis(args.redis_url.as_deref(), args.redis_lease_ttl).await
}

/// Connects the Redis locker at `url` (a `--redis-url`).
pub(crate) async fn connect_redis(url: Option<&str>, lease_ttl: Duration) -> Result<tus_redis::RedisLocker, CliError> {
    let Some(url) = url else {
        return Err(CliError::Redis(tus_redis::ConnectError::InvalidUrl("--redis-url is missing".into())));
    };
    let locker = tus_redis::RedisLocker::builder(url).lease_ttl(lease_ttl).connect().await;
    locker.map_err(CliError::Redis)
}

/// The tus layer the flags describe.
fn build_layer(mut layer: TusLayer, args: &ServeArgs) -> TusLayer {
    layer = layer
        .base_path(&args.base_path)
        .download(!args.no_download)
        .trust_proxy_headers(args.behind_proxy)
        .lock_timeout(args.lock_timeout)
        .janitor_interval(args.janitor_interval)
        .body_idle_timeout(args.body_idle_timeout);
    if let Some(max) = args.max_size {
        layer = layer.max_size(max);
    }
    if let Some(after) = args.expiration {
        layer = layer.expiration(match args.expiration_mode {
            ExpirationMode::Absolute => Expiration::absolute(after),
            ExpirationMode::Sliding => Expiration::sliding(after),
        });
    }
    if args.no_cors {
        layer = layer.no_cors();
    } else if !args.cors_origins.is_empty() {
        layer = layer.cors(Cors::origins(&args.cors_origins));
    }
    if let Some(url) = &args.public_url {
        layer = layer.public_url(url.as_str());
    }
    layer
}
