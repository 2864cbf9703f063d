//! # tus-redis
//!
//! A [`Locker`](tus_core::Locker) for [tus-core](tus_core) that keeps upload locks in Redis,
//! so that several server instances (processes, hosts) sharing one storage give each
//! upload one writer at a time, and a request on any instance can ask the writer on
//! another instance to let go.
//!
//! ```no_run
//! use std::time::Duration;
//! use tus_core::{MemoryStorage, TusLayer};
//! use tus_redis::RedisLocker;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tus_redis::ConnectError> {
//! let locker = RedisLocker::builder("redis://127.0.0.1:6379")
//!     .key_prefix("uploads:")
//!     .lease_ttl(Duration::from_secs(30))
//!     .connect_timeout(Duration::from_secs(2))
//!     .connect()
//!     .await?;
//! let layer = TusLayer::new(MemoryStorage::new()).locker(locker);
//! # drop(layer);
//! # Ok(())
//! # }
//! ```
//!
//! # How it works
//!
//! - **A lease per upload.** Taking the lock on upload `ID` is
//!   `SET <prefix>lock:<ID> <token> NX PX <ttl>`, where `<token>` is a random value drawn
//!   for this acquisition only. The token proves ownership: the lease is renewed (every
//!   third of the TTL, by a background task) and deleted only by a script that first checks
//!   that the key still holds this token, so a holder never extends or removes a lease that
//!   has passed to someone else.
//! - **Release requests across instances.** A request that finds the lock held publishes
//!   the holder's token on `<prefix>release:<ID>`. Every [`RedisLocker`] keeps one pub/sub
//!   connection subscribed to `<prefix>release:*` (and `<prefix>released:*`); the instance that holds that token
//!   cancels the holder's [`stop_signal`](tus_core::UploadLock::stop_signal): its request
//!   body ends, it persists what it received and lets go. The waiter asks each holder once
//!   (again after a second if the same holder still has it, in case the request was lost),
//!   like [`MemoryLocker`](tus_core::MemoryLocker): a holder that took the lock after the
//!   waiter started waiting is not disturbed.
//! - **Waking up.** An attempt that finds the lock held also sets `<prefix>waiting:<ID>`
//!   (in the same script, so no release slips in between). Releasing deletes the key and,
//!   when that marker was set, deletes it and publishes on `<prefix>released:<ID>` in the
//!   same script (a release nobody waits for publishes nothing, sparing every instance's
//!   subscription a message per PATCH); waiters retry `SET NX` when that arrives, and at least every
//!   [poll interval](RedisLockerBuilder::poll_interval) (50 ms by default) in case it does
//!   not, until their timeout: then [`LockError::Timeout`](tus_core::LockError::Timeout)
//!   (the server answers `423 Locked` with `Retry-After`).
//! - **Dead holders.** A process that dies while holding a lock stops renewing its lease,
//!   which expires within the lease TTL; waiters then take the lock. A holder whose
//!   connection died without the server noticing is asked to stop like any other.
//! - **Redis unavailable.** Every Redis round trip is bounded by the
//!   [connection timeout](RedisLockerBuilder::connect_timeout): [`lock`](tus_core::Locker::lock) and
//!   [`try_lock`](tus_core::Locker::try_lock) answer
//!   [`LockError::Unavailable`](tus_core::LockError::Unavailable) (the server answers
//!   `503`) instead of waiting longer. A holder whose lease cannot be renewed before it
//!   would expire, or whose renewal finds another token (or none) in the key, has its lock
//!   marked lost ([`UploadLock::lease_lost`](tus_core::UploadLock::lease_lost)) and its stop
//!   signal cancelled: the server stores what the PATCH received and answers `503
//!   ERR_LOCK_LOST`. The command connection is re-established on the next request and
//!   the subscription in the background: when Redis is back, new requests work again
//!   without restarting the process.
//!
//! # Guarantees
//!
//! - **While Redis is healthy, at most one holder per upload.** Acquisition is an atomic
//!   `SET NX`, renewal and release compare the token, and a holder is told to stop before
//!   its lease can expire unrenewed.
//! - **Across a Redis failure, no guarantee from the lock alone.** Redis replication is
//!   asynchronous: after a failover (or a restart without persistence) the new primary may
//!   have lost a lease that was granted moments before, and a second instance can then take
//!   the same upload while the first is still writing. The first learns it at its next
//!   renewal (its token is gone) and is told to stop, so the overlap lasts about a third of
//!   the lease TTL. Redlock-style quorums are not used.
//! - **The storage is the final guard.** As [ADR 002] says, the lock is for fairness and
//!   fast failure; correctness rests on the storage's offset compare-and-set: an append
//!   commits only if the upload's offset is still the one it started from. Two writers that
//!   overlap through a lease lost in a failover cannot both commit at the same offset, so
//!   data is never interleaved or corrupted; one of them gets `409 Conflict`.
//!
//! [ADR 002]: https://github.com/tus-rs/tus/blob/main/docs/adr/002-locking.md
//!
//! # Keys and channels
//!
//! With the default prefix `tus:`, upload `ID` uses the keys `tus:lock:ID` and
//! `tus:waiting:ID` (both expire within the lease TTL) and the channels `tus:release:ID` and
//! `tus:released:ID`; nothing else is written. During a rolling upgrade from a version
//! without the waiting marker, its waiters are woken by polling (every poll interval)
//! rather than by a message. Give each deployment
//! sharing a Redis database its own [prefix](RedisLockerBuilder::key_prefix).

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod builder;
mod connection;
mod keys;
mod locker;
mod subscriber;
#[cfg(feature = "test-server")]
pub mod test_server;

pub use builder::{ConnectError, RedisLockerBuilder};
pub use locker::RedisLocker;
