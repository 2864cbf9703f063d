//! # tus-hooks
//!
//! Hook transports for [`tus_core`]: deliver the life of uploads to an HTTP endpoint
//! ([`HttpTransport`]) or a program ([`CommandTransport`]) as versioned JSON events, and let
//! the receiver decide blocking events (refuse a request, choose a new upload's ID or
//! metadata).
//!
//! ```
//! use std::time::Duration;
//! use tus_core::{MemoryStorage, TusLayer};
//! use tus_hooks::{DeliveryPolicy, EnabledEvents, HttpTransport, TransportHooks};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let webhook = TransportHooks::new(HttpTransport::new("http://127.0.0.1:9000/tus-events")?)
//!     .events("pre-create,post-finish".parse::<EnabledEvents>()?)
//!     .policy(DeliveryPolicy::default().timeout(Duration::from_secs(5)).retries(3));
//! let layer = TusLayer::new(MemoryStorage::new()).hooks(webhook.clone());
//! // On shutdown: `webhook.flush(Duration::from_secs(10)).await` delivers what is queued.
//! # let _ = layer;
//! # Ok(())
//! # }
//! ```
//!
//! The pieces:
//! - [`HookEvent`]: the event JSON (schema version [`SCHEMA_VERSION`]); [`Reply`]: the answer.
//! - [`Transport`]: one delivery attempt; [`HttpTransport`], [`CommandTransport`].
//! - [`TransportHooks`]: a transport as tus-core [`Hooks`](tus_core::Hooks), with the
//!   [`EnabledEvents`] filter, the [`DeliveryPolicy`] (timeout, retries, backoff) and a
//!   bounded background queue for notifications.
//! - [`HookChain`]: several hooks as one, e.g. in-process checks before a webhook.
//!
//! The protocol (event schema, reply format, retry and de-duplication semantics) is in the
//! crate's README.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod chain;
mod command;
mod delivery;
mod dispatch;
mod event;
mod http;
mod reply;
mod transport;

pub use chain::HookChain;
pub use command::CommandTransport;
pub use delivery::DeliveryPolicy;
pub use dispatch::TransportHooks;
pub use event::{
    EnabledEvents, EncodedEvent, EventKind, HookEvent, RequestInfo, SCHEMA_VERSION, UnknownEvent, UploadState,
};
pub use http::{EVENT_HEADER, EVENT_ID_HEADER, HttpTransport, InvalidHookConfig};
pub use reply::{InvalidReply, MAX_REPLY_BYTES, Reply};
pub use transport::{DeliveryError, Transport};
