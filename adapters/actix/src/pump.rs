//! Moves an actix payload (not `Send`) into a `Send` request body through a bounded channel.

use actix_web::dev::Payload;
use bytes::Bytes;
use futures_core::Stream;
use http_body::{Body, Frame, SizeHint};
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinHandle};

/// What travels through the channel: a chunk, the clean end of the payload, or its failure.
enum Piece {
    Data(Bytes),
    End,
    Failed(String),
}

/// Why a request body broke off before its end.
#[derive(Debug)]
pub(crate) struct BrokenPayload(String);

impl std::fmt::Display for BrokenPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BrokenPayload {}

/// A bounded channel from `payload` to the returned body, and the pump that fills it.
pub(crate) fn channel(payload: Payload, capacity: usize) -> (ChannelBody, Pump) {
    let (sender, receiver) = mpsc::channel(capacity);
    (ChannelBody { receiver, finished: false }, Pump { payload, sender })
}

/// The request body tus-core reads. It ends cleanly only after an explicit end of payload:
/// a pump that goes away early (actix dropped the request) is a broken body.
pub(crate) struct ChannelBody {
    receiver: mpsc::Receiver<Piece>,
    finished: bool,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = BrokenPayload;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BrokenPayload>>> {
        if self.finished {
            return Poll::Ready(None);
        }
        let piece = std::task::ready!(self.receiver.poll_recv(cx));
        Poll::Ready(match piece {
            Some(Piece::Data(bytes)) => Some(Ok(Frame::data(bytes))),
            Some(Piece::End) => {
                self.finished = true;
                None
            }
            Some(Piece::Failed(why)) => {
                self.finished = true;
                Some(Err(BrokenPayload(why)))
            }
            None => {
                self.finished = true;
                Some(Err(BrokenPayload("the client went away before the end of the request body".into())))
            }
        })
    }

    fn is_end_stream(&self) -> bool {
        self.finished
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// Reads the actix payload into the channel, one chunk per free slot.
pub(crate) struct Pump {
    payload: Payload,
    sender: mpsc::Sender<Piece>,
}

impl Pump {
    /// Pumps the payload while `task` (the tus request) runs, and returns the task's result.
    /// When the task answers before the payload ends, the rest of the payload is left unread.
    pub(crate) async fn drive_until<T>(self, mut task: JoinHandle<T>) -> Result<T, JoinError> {
        let pumping = self.run();
        tokio::pin!(pumping);
        let mut pumped = false;
        loop {
            tokio::select! {
                biased;
                result = &mut task => return result,
                () = &mut pumping, if !pumped => pumped = true,
            }
        }
    }

    async fn run(mut self) {
        loop {
            // Wait for room first: the next chunk is read from the socket only when tus-core
            // can take it, which is what makes back-pressure reach the client.
            let Ok(permit) = self.sender.reserve().await else {
                return; // The body was dropped: tus-core wants no more.
            };
            match next(&mut self.payload).await {
                Some(Ok(bytes)) if bytes.is_empty() => drop(permit),
                Some(Ok(bytes)) => permit.send(Piece::Data(bytes)),
                Some(Err(error)) => return permit.send(Piece::Failed(error.to_string())),
                None => return permit.send(Piece::End),
            }
        }
    }
}

fn next(payload: &mut Payload) -> impl Future<Output = Option<Result<Bytes, actix_web::error::PayloadError>>> + '_ {
    poll_fn(move |cx| Pin::new(&mut *payload).poll_next(cx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::error::PayloadError;
    use http_body_util::BodyExt as _;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    type Item = Result<Bytes, PayloadError>;

    /// A payload fed by the returned sender, and a count of the chunks read from it.
    fn payload() -> (mpsc::UnboundedSender<Item>, Payload, Arc<AtomicUsize>) {
        let (sender, mut receiver) = mpsc::unbounded_channel::<Item>();
        let pulled = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&pulled);
        let stream = futures_util::stream::poll_fn(move |cx| {
            let item = std::task::ready!(receiver.poll_recv(cx));
            if item.is_some() {
                counter.fetch_add(1, Ordering::SeqCst);
            }
            Poll::Ready(item)
        });
        (sender, Payload::Stream { payload: Box::pin(stream) }, pulled)
    }

    async fn read_all(mut body: ChannelBody) -> Result<Vec<u8>, BrokenPayload> {
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            out.extend_from_slice(&frame?.into_data().unwrap_or_default());
        }
        Ok(out)
    }

    #[actix_web::test]
    async fn a_whole_payload_ends_cleanly() {
        let (sender, payload, _) = payload();
        let (body, pump) = channel(payload, 2);
        for chunk in ["ab", "", "cd", "e"] {
            sender.send(Ok(Bytes::from(chunk))).unwrap();
        }
        drop(sender);
        let reader = tokio::spawn(read_all(body));
        pump.run().await;
        assert_eq!(reader.await.unwrap().unwrap(), b"abcde");
    }

    #[actix_web::test]
    async fn a_failed_payload_is_a_body_error() {
        let (sender, payload, _) = payload();
        let (body, pump) = channel(payload, 2);
        sender.send(Ok(Bytes::from_static(b"abc"))).unwrap();
        sender.send(Err(PayloadError::Incomplete(None))).unwrap();
        let reader = tokio::spawn(read_all(body));
        pump.run().await;
        assert!(reader.await.unwrap().is_err());
    }

    #[actix_web::test]
    async fn a_pump_dropped_mid_payload_is_a_body_error() {
        let (sender, payload, _) = payload();
        let (mut body, pump) = channel(payload, 2);
        sender.send(Ok(Bytes::from_static(b"abc"))).unwrap();
        let pumping = actix_web::rt::spawn(async move {
            // Stands for actix dropping the request future when the client goes away.
            let _ = tokio::time::timeout(std::time::Duration::from_millis(50), pump.run()).await;
        });
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&first[..], b"abc");
        pumping.await.unwrap();
        assert!(body.frame().await.unwrap().is_err(), "an early end must not look like the end of the body");
        drop(sender);
    }

    #[actix_web::test]
    async fn the_pump_reads_only_as_far_as_the_channel_has_room() {
        let (sender, payload, pulled) = payload();
        let (mut body, pump) = channel(payload, 2);
        for _ in 0..10 {
            sender.send(Ok(Bytes::from_static(b"0123456789"))).unwrap();
        }
        let pumping = actix_web::rt::spawn(pump.run());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // Two chunks in the channel, and nothing read ahead of them.
        assert_eq!(pulled.load(Ordering::SeqCst), 2);
        body.frame().await.unwrap().unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(pulled.load(Ordering::SeqCst), 3);
        drop(sender);
        assert_eq!(read_all(body).await.unwrap().len(), 90);
        pumping.await.unwrap();
    }

    #[actix_web::test]
    async fn the_pump_stops_reading_when_the_body_is_dropped() {
        let (sender, payload, pulled) = payload();
        let (body, pump) = channel(payload, 1);
        for _ in 0..5 {
            sender.send(Ok(Bytes::from_static(b"x"))).unwrap();
        }
        drop(body);
        pump.run().await;
        assert_eq!(pulled.load(Ordering::SeqCst), 0);
    }
}
