//! The in-process server harness: a [`TusLayer`] served by hyper on `127.0.0.1:0`.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tus_core::TusLayer;

/// How the tus service is mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `layer.standalone()`: tus alone; other paths get 404.
    Standalone,
    /// The layer around an inner application (see [`inner_app`]): tus answers under
    /// its base path and everything else must reach the application untouched.
    Wrapped,
}

impl Mode {
    /// Both modes.
    pub const ALL: [Self; 2] = [Self::Standalone, Self::Wrapped];
}

/// The header the inner application of [`Mode::Wrapped`] puts on every response.
pub const INNER_MARKER: &str = "x-inner-app";

/// The inner application of [`Mode::Wrapped`]: `/hello` answers `200 hello`; any
/// other request is echoed as `200` with the body `<METHOD> <path> <body length>`,
/// and every response carries [`INNER_MARKER`].
pub async fn inner_app(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let length = match request.into_body().collect().await {
        Ok(body) => body.to_bytes().len(),
        Err(_) => 0,
    };
    let body = if path == "/hello" { "hello".to_owned() } else { format!("{method} {path} {length}") };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(INNER_MARKER, http::HeaderValue::from_static("1"));
    Ok(response)
}

/// A server running on a background task. Dropping it starts a graceful shutdown
/// (no new connections; open ones end after their current request).
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// Serves `layer` on a fresh port of 127.0.0.1, mounted as `mode` says.
///
/// # Panics
/// When no port can be bound.
pub async fn spawn(layer: TusLayer, mode: Mode) -> RunningServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    let (stop, stopped) = oneshot::channel();
    let task = match mode {
        Mode::Standalone => tokio::spawn(serve(listener, layer.standalone(), stopped)),
        Mode::Wrapped => {
            let app = tower::service_fn(inner_app);
            tokio::spawn(serve(listener, tower::Layer::layer(&layer, app), stopped))
        }
    };
    RunningServer { addr, stop: Some(stop), task: Some(task) }
}

async fn serve<S, B>(listener: TcpListener, service: S, mut stopped: oneshot::Receiver<()>)
where
    S: tower::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                stream.set_nodelay(true).ok();
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service.clone()));
                let watched = graceful.watch(connection);
                tokio::spawn(async move {
                    let _ = watched.await;
                });
            }
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

impl RunningServer {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections and waits until the open ones are done, at most
    /// `deadline`. Returns whether everything ended in time.
    pub async fn shutdown(mut self, deadline: Duration) -> bool {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let Some(task) = self.task.take() else { return true };
        tokio::time::timeout(deadline, task).await.is_ok()
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
