//! [`TransportHooks`]: the tus-core [`Hooks`] that turn callbacks into delivered events.

use crate::delivery::DeliveryPolicy;
use crate::event::{EnabledEvents, EncodedEvent, EventKind, HookEvent, UploadState};
use crate::reply::Reply;
use crate::transport::Transport;
use async_trait::async_trait;
use http::StatusCode;
use http::request::Parts;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tus_core::{CreatePlan, HookRejection, Hooks, Intent, UploadInfo};

/// How many notifications may wait for delivery before requests wait for room.
const DEFAULT_QUEUE_CAPACITY: usize = 1024;

/// Delivers hook events through a [`Transport`]; pass it to `TusLayer::hooks`.
///
/// - Blocking events (`authorize`, `pre-create`, `pre-terminate`) are delivered inline: the
///   request waits for the reply, retries included. When no reply comes, the request fails
///   closed with 503 (or 502 when the reply is invalid).
/// - Notifications (`post-*`) go to a bounded queue and are delivered in the background,
///   one at a time in the order they happened. A full queue makes the request wait for room
///   rather than lose the event.
/// - Delivery is at-least-once while the process runs: a failed attempt is retried with the
///   same event ID, so receivers de-duplicate by ID. An event whose retries run out is
///   logged and dropped; events still queued when the process stops are lost unless
///   [`TransportHooks::flush`] ran.
/// - Events not in [`TransportHooks::events`] are not delivered (blocking ones accept).
#[derive(Debug)]
pub struct TransportHooks<T> {
    transport: Arc<T>,
    events: EnabledEvents,
    policy: DeliveryPolicy,
    capacity: usize,
    queue: Arc<OnceLock<mpsc::Sender<Job>>>,
}

impl<T> Clone for TransportHooks<T> {
    fn clone(&self) -> Self {
        Self {
            transport: self.transport.clone(),
            events: self.events,
            policy: self.policy,
            capacity: self.capacity,
            queue: self.queue.clone(),
        }
    }
}

enum Job {
    Deliver(EncodedEvent),
    /// Answered once every notification queued before it is handled.
    Flush(oneshot::Sender<()>),
}

impl<T: Transport> TransportHooks<T> {
    /// Hooks delivering the default events through `transport` with the default policy.
    pub fn new(transport: T) -> Self {
        Self {
            transport: Arc::new(transport),
            events: EnabledEvents::default(),
            policy: DeliveryPolicy::default(),
            capacity: DEFAULT_QUEUE_CAPACITY,
            queue: Arc::new(OnceLock::new()),
        }
    }

    /// Which events are delivered (default: [`EnabledEvents::default`]).
    pub fn events(mut self, events: EnabledEvents) -> Self {
        self.events = events;
        self
    }

    /// The time limit and retries of deliveries.
    pub fn policy(mut self, policy: DeliveryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How many notifications may wait for delivery (default 1024, at least 1).
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Waits up to `timeout` for the notifications queued so far to be delivered (or given
    /// up); returns whether they were. Call it on shutdown so that no event is left behind.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let Some(queue) = self.queue.get() else { return true };
        let (done, flushed) = oneshot::channel();
        tokio::time::timeout(timeout, async { queue.send(Job::Flush(done)).await.is_ok() && flushed.await.is_ok() })
            .await
            .unwrap_or(false)
    }

    /// Delivers a blocking event and turns the reply into the request's fate.
    async fn decide(&self, event: HookEvent) -> Result<Reply, HookRejection> {
        let event = event.encode();
        match self.policy.deliver(&*self.transport, &event).await {
            Ok(reply) => match reply.reject {
                Some(rejection) => Err(rejection),
                None => Ok(reply),
            },
            Err(e) => {
                tracing::error!(event = %event.kind, event_id = %event.id, error = %e, "a blocking hook gave no decision; refusing the request");
                let message = if e.status() == StatusCode::BAD_GATEWAY {
                    "the upload server's hook gave an invalid answer"
                } else {
                    "the upload server's hook did not answer; try again later"
                };
                Err(HookRejection::new(e.status(), message))
            }
        }
    }

    /// Queues a notification, starting the delivery task on first use.
    async fn notify(&self, kind: EventKind, upload: &UploadInfo) {
        if !self.events.contains(kind) {
            return;
        }
        let event = HookEvent::new(kind, Some(UploadState::from_info(upload))).encode();
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(self.capacity);
            tokio::spawn(deliver_queue(self.transport.clone(), self.policy, receiver));
            sender
        });
        if queue.send(Job::Deliver(event)).await.is_err() {
            tracing::error!(event = %kind, upload = %upload.id, "the hook delivery task is gone; event dropped");
        }
    }
}

/// Delivers queued notifications one at a time until every sender is gone.
async fn deliver_queue<T: Transport>(transport: Arc<T>, policy: DeliveryPolicy, mut jobs: mpsc::Receiver<Job>) {
    while let Some(job) = jobs.recv().await {
        match job {
            Job::Deliver(event) => {
                if let Err(e) = policy.deliver(&*transport, &event).await {
                    tracing::error!(event = %event.kind, event_id = %event.id, error = %e, "hook event dropped after its retries");
                }
            }
            Job::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

#[async_trait]
impl<T: Transport> Hooks for TransportHooks<T> {
    async fn authorize(
        &self,
        request: &Parts,
        intent: Intent,
        upload: Option<&UploadInfo>,
    ) -> Result<(), HookRejection> {
        if !self.events.contains(EventKind::Authorize) {
            return Ok(());
        }
        let event = HookEvent::new(EventKind::Authorize, upload.map(UploadState::from_info))
            .with_request(request)
            .with_intent(intent);
        self.decide(event).await.map(drop)
    }

    async fn pre_create(&self, request: &Parts, plan: &mut CreatePlan) -> Result<(), HookRejection> {
        if !self.events.contains(EventKind::PreCreate) {
            return Ok(());
        }
        let event = HookEvent::new(EventKind::PreCreate, Some(UploadState::from_plan(plan))).with_request(request);
        let reply = self.decide(event).await?;
        if let Some(id) = reply.id {
            plan.id = Some(id);
        }
        for (key, value) in reply.metadata {
            match value {
                // Keys were validated when the reply was parsed.
                Some(value) => plan.metadata.insert(key, value),
                None => drop(plan.metadata.remove(&key)),
            }
        }
        Ok(())
    }

    async fn post_create(&self, upload: &UploadInfo) {
        self.notify(EventKind::PostCreate, upload).await;
    }

    async fn post_receive(&self, upload: &UploadInfo) {
        self.notify(EventKind::PostReceive, upload).await;
    }

    async fn post_finish(&self, upload: &UploadInfo) {
        self.notify(EventKind::PostFinish, upload).await;
    }

    async fn pre_terminate(&self, request: &Parts, upload: &UploadInfo) -> Result<(), HookRejection> {
        if !self.events.contains(EventKind::PreTerminate) {
            return Ok(());
        }
        let event = HookEvent::new(EventKind::PreTerminate, Some(UploadState::from_info(upload))).with_request(request);
        self.decide(event).await.map(drop)
    }

    async fn post_terminate(&self, upload: &UploadInfo) {
        self.notify(EventKind::PostTerminate, upload).await;
    }
}
