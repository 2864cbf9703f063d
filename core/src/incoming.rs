//! Turns a request body into the [`ChunkStream`] a storage backend consumes, applying
//! the idle timeout, the length limit, lock-release and shutdown signals, and the checksum.

use crate::checksum::{ChecksumAlgorithm, Hasher, UploadChecksum};
use crate::error::BoxError;
use crate::storage::{BodyError, ChunkStream};
use bytes::Bytes;
use http::HeaderMap;
use http_body_util::BodyExt as _;
use std::pin::Pin;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How the body's digest is checked.
#[derive(Debug, Clone)]
pub(crate) enum ChecksumCheck {
    /// Against an `Upload-Checksum` request header.
    Header(UploadChecksum),
    /// Against an `Upload-Checksum` trailer; the algorithm is only known at the end,
    /// so every enabled algorithm hashes the body.
    Trailer(Vec<ChecksumAlgorithm>),
}

#[derive(Debug)]
pub(crate) struct BodyRules {
    pub(crate) limit: u64,
    pub(crate) idle_timeout: Duration,
    pub(crate) stop: CancellationToken,
    pub(crate) shutdown: CancellationToken,
    pub(crate) checksum: Option<ChecksumCheck>,
}

struct State<B> {
    body: Pin<Box<B>>,
    rules: BodyRules,
    hashers: Vec<(ChecksumAlgorithm, Hasher)>,
    trailers: Option<HeaderMap>,
    received: u64,
    pending: Option<BodyError>,
    done: bool,
}

impl<B> State<B> {
    /// At the end of the body: compares the digest with the header or trailer.
    fn verify(&mut self) -> Option<BodyError> {
        let expected = match self.rules.checksum.take()? {
            ChecksumCheck::Header(expected) => expected,
            ChecksumCheck::Trailer(enabled) => {
                let value = self.trailers.as_ref().and_then(|t| t.get("upload-checksum"));
                let Some(value) = value.and_then(|v| v.to_str().ok()) else {
                    return Some(BodyError::Broken("the announced Upload-Checksum trailer is missing".into()));
                };
                match UploadChecksum::parse(value, &enabled) {
                    Ok(expected) => expected,
                    Err(e) => return Some(BodyError::Broken(e.to_string())),
                }
            }
        };
        let index = self.hashers.iter().position(|(a, _)| *a == expected.algorithm)?;
        let (_, hasher) = self.hashers.swap_remove(index);
        (hasher.finish() != expected.digest).then_some(BodyError::ChecksumMismatch)
    }
}

pub(crate) fn chunk_stream<B>(body: B, content_length: Option<u64>, rules: BodyRules) -> ChunkStream
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let hashers = match &rules.checksum {
        None => Vec::new(),
        Some(ChecksumCheck::Header(c)) => vec![(c.algorithm, c.algorithm.hasher())],
        Some(ChecksumCheck::Trailer(all)) => all.iter().map(|a| (*a, a.hasher())).collect(),
    };
    let state = State { body: Box::pin(body), rules, hashers, trailers: None, received: 0, pending: None, done: false };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        if let Some(err) = st.pending.take() {
            st.done = true;
            return Some((Err(err), st));
        }
        loop {
            let frame = tokio::select! {
                biased;
                () = st.rules.stop.cancelled() => Err(BodyError::Interrupted),
                () = st.rules.shutdown.cancelled() => Err(BodyError::ShuttingDown),
                frame = tokio::time::timeout(st.rules.idle_timeout, st.body.frame()) => frame.map_err(|_| BodyError::Timeout),
            };
            let frame = match frame {
                Err(err) => {
                    st.done = true;
                    return Some((Err(err), st));
                }
                Ok(None) => {
                    st.done = true;
                    return st.verify().map(|err| (Err(err), st));
                }
                Ok(Some(Err(err))) => {
                    st.done = true;
                    let err: BoxError = err.into();
                    return Some((Err(BodyError::Broken(err.to_string())), st));
                }
                Ok(Some(Ok(frame))) => frame,
            };
            let mut data = match frame.into_data() {
                Ok(data) => data,
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        st.trailers = Some(trailers);
                    }
                    continue;
                }
            };
            let room = st.rules.limit - st.received;
            if data.len() as u64 > room {
                // Keep what fits; the error follows on the next poll.
                data.truncate(room as usize);
                st.pending = Some(BodyError::TooLarge { limit: st.rules.limit });
                if data.is_empty() {
                    st.pending = None;
                    st.done = true;
                    return Some((Err(BodyError::TooLarge { limit: st.rules.limit }), st));
                }
            }
            if data.is_empty() {
                continue;
            }
            for (_, hasher) in &mut st.hashers {
                hasher.update(&data);
            }
            st.received += data.len() as u64;
            return Some((Ok(data), st));
        }
    });
    ChunkStream::new(stream, content_length)
}
