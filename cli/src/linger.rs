//! Lingering close: when the server ends a connection before it has read all the client
//! sent (an early 409, 413 or 460 while the body is still arriving), closing the socket at
//! once makes the kernel answer the unread bytes with a reset, and a reset wipes the
//! answer out of the client's receive buffer: the client sees "connection reset" or
//! "broken pipe" instead of the status that says what to do. So the socket is kept for a
//! short while after the server is done with it: its sending side is shut (the client
//! sees the end of the answer), and whatever still arrives is read and dropped until the
//! client closes, stops sending for [`LINGER_IDLE`], or [`LINGER_TOTAL`] has passed.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::TcpStream;

/// The longest a closed connection is drained.
const LINGER_TOTAL: Duration = Duration::from_secs(10);
/// A drained connection that sends nothing for this long is closed.
const LINGER_IDLE: Duration = Duration::from_secs(2);
/// The buffer the rest of a body is read into and dropped.
const DISCARD_BUFFER: usize = 16 * 1024;

/// A TCP connection that lingers when it is dropped before the client finished sending.
#[derive(Debug)]
pub(crate) struct LingeringStream {
    stream: Option<TcpStream>,
    /// The client closed its sending side: nothing can arrive any more, no need to linger.
    client_done: bool,
}

impl LingeringStream {
    pub(crate) fn new(stream: TcpStream) -> Self {
        Self { stream: Some(stream), client_done: false }
    }

    fn stream(&mut self) -> Pin<&mut TcpStream> {
        Pin::new(self.stream.as_mut().expect("present until dropped"))
    }
}

impl AsyncRead for LingeringStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = self.stream().poll_read(cx, buf);
        match &polled {
            Poll::Ready(Ok(())) if buf.filled().len() == before && buf.remaining() > 0 => self.client_done = true,
            Poll::Ready(Err(_)) => self.client_done = true,
            _ => {}
        }
        polled
    }
}

impl AsyncWrite for LingeringStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.stream().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.stream().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(AsyncWrite::is_write_vectored)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream().poll_shutdown(cx)
    }
}

impl Drop for LingeringStream {
    fn drop(&mut self) {
        let Some(stream) = self.stream.take() else { return };
        if self.client_done {
            return;
        }
        // Outside a runtime (never in the server) the socket just closes.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(drain(stream));
        }
    }
}

/// Shuts the sending side, then reads and drops what the client still sends.
async fn drain(mut stream: TcpStream) {
    // Already shut when the HTTP connection ended cleanly; harmless to repeat.
    let _ = stream.shutdown().await;
    let mut discard = vec![0u8; DISCARD_BUFFER];
    let drained = tokio::time::timeout(LINGER_TOTAL, async {
        let mut total = 0u64;
        loop {
            match tokio::time::timeout(LINGER_IDLE, stream.read(&mut discard)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return Some(total),
                Ok(Ok(n)) => total += n as u64,
                Err(_) => return None,
            }
        }
    })
    .await;
    match drained {
        Ok(Some(bytes)) => tracing::trace!(bytes, "drained a closed connection until the client closed it"),
        _ => tracing::debug!("the client kept a closed connection open; closing it"),
    }
}
