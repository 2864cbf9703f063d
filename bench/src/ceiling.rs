//! The ceiling: the least a hyper 1 server can do with an upload. Every request that has
//! a body is written to a new file of its own, frame by frame as it arrives, through a
//! bounded channel to a blocking writer thread (optionally `fdatasync`ed before the
//! answer); HEAD and OPTIONS get a fixed 200. Nothing is parsed, validated or recorded.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io::{self, Write as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// How many body frames may wait for the writer thread (hyper's frames are at most a few
/// hundred KiB, so this bounds the memory of one upload to a few MiB).
const CHANNEL_DEPTH: usize = 8;

/// The URL path the ceiling answers on (any path works; this one is announced).
pub const PATH: &str = "/upload";

struct State {
    dir: PathBuf,
    sync: bool,
    next_file: AtomicU64,
}

/// Serves the ceiling on `listener` forever, writing bodies into `dir`, and with `sync`
/// making each file durable (`fdatasync`) before answering.
pub async fn serve(listener: TcpListener, dir: PathBuf, sync: bool) -> io::Result<()> {
    let state = Arc::new(State { dir, sync, next_file: AtomicU64::new(0) });
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(request, state.clone()));
            // A connection error only ends that connection.
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn answer(request: Request<Incoming>, state: Arc<State>) -> Result<Response<Empty<Bytes>>, Infallible> {
    let status = if matches!(*request.method(), Method::HEAD | Method::OPTIONS | Method::GET) {
        StatusCode::OK
    } else {
        match store(request.into_body(), &state).await {
            Ok(()) => StatusCode::CREATED,
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    };
    // The same few headers a tus HEAD answer carries, so both answers weigh about the same.
    let response = Response::builder()
        .status(status)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "0")
        .header("Cache-Control", "no-store")
        .body(Empty::new())
        .unwrap_or_default();
    Ok(response)
}

/// Writes a body into a new file: frames go through a bounded channel to a blocking thread.
async fn store(mut body: Incoming, state: &State) -> io::Result<()> {
    let path = state.dir.join(state.next_file.fetch_add(1, Ordering::Relaxed).to_string());
    let sync = state.sync;
    let (sender, mut receiver) = mpsc::channel::<Bytes>(CHANNEL_DEPTH);
    let writer = tokio::task::spawn_blocking(move || -> io::Result<()> {
        let mut file = std::fs::File::create(path)?;
        while let Some(data) = receiver.blocking_recv() {
            file.write_all(&data)?;
        }
        if sync {
            file.sync_data()?;
        }
        Ok(())
    });
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(io::Error::other)?;
        if let Ok(data) = frame.into_data()
            && sender.send(data).await.is_err()
        {
            // The writer failed; its error is returned below.
            break;
        }
    }
    drop(sender);
    writer.await.map_err(io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Connection;
    use crate::pattern::Pattern;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stores_each_body_in_its_own_file() {
        let dir = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, dir.path().to_owned(), true));
        let pattern = Pattern::new();
        let mut conn = Connection::open(addr).await.unwrap();
        for (start, len) in [(0, 3 << 20), (5, 1000)] {
            let request = conn
                .request(Method::POST, PATH)
                .header(http::header::CONTENT_LENGTH, len)
                .body(pattern.body(start, len))
                .unwrap();
            assert_eq!(conn.send(request).await.unwrap().status, StatusCode::CREATED);
        }
        let head = conn.request(Method::HEAD, PATH).body(pattern.empty()).unwrap();
        assert_eq!(conn.send(head).await.unwrap().status, StatusCode::OK);
        let first = std::fs::read(dir.path().join("0")).unwrap();
        let second = std::fs::read(dir.path().join("1")).unwrap();
        assert_eq!((first.len(), second.len()), (3 << 20, 1000));
        assert!(pattern.matches(0, &first) && pattern.matches(5, &second));
    }
}
