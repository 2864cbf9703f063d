//! Deployments: a server configured from a [`Profile`], reachable as a [`Target`].
//!
//! [`Launcher`] is what the checks ask for servers. [`InProcess`] builds a
//! [`TusLayer`] from the profile over a fresh storage ([`Backend`]) and serves it
//! with the harness of [`crate::server`]. Other deployments (the `tus` binary,
//! framework adapters, cloud storages) can implement [`Launcher`] too; the checks
//! that need in-process control ([`Deployment::hold_lock`], [`Deployment::restart`],
//! the [`EventLog`]) say so.

use crate::server::{Mode, RunningServer, spawn};
use crate::target::{CorsProfile, DENY_HEADER, IdScheme, Profile, StorageSupport, Target};
use async_trait::async_trait;
use http::StatusCode;
use http::request::Parts;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tus_core::{
    Cors, CreatePlan, Extension, HookRejection, Hooks, Intent, MemoryLocker, MemoryStorage, ShutdownHandle, Storage,
    TusLayer, UploadId, UploadInfo, UploadLock,
};

/// Where a deployment keeps its uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// [`tus_core::MemoryStorage`].
    Memory,
    /// `tus_sqlite::SqliteStorage` in a fresh temporary directory.
    #[cfg(feature = "sqlite")]
    Sqlite,
    /// `tus_s3::S3Storage` under a fresh key prefix of a bucket on moto (one moto per
    /// test process, started on first use).
    #[cfg(feature = "s3")]
    S3,
    /// `tus_gcs::GcsStorage` under a fresh prefix of a bucket on fake-gcs-server (one
    /// emulator per test process, started on first use).
    #[cfg(feature = "gcs")]
    Gcs,
    /// `tus_azure::AzureStorage` under a fresh prefix of a container on Azurite (one
    /// emulator per test process, started on first use), with 64 KiB blocks so that MiB
    /// bodies span several.
    #[cfg(feature = "azure")]
    Azure,
}

/// The moto all S3 deployments of this process share, and the storage settings they use:
/// a 1 KiB minimum (so small partials are copied on S3's side) and 1 MiB parts (so small
/// bodies stay in incomplete parts and MiB bodies cross part boundaries).
/// A prefix no other deployment of any process uses, in the bucket or container the
/// cloud deployments of this process share.
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
fn fresh_prefix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIXES: AtomicU64 = AtomicU64::new(0);
    format!("run-{}-{}/", std::process::id(), PREFIXES.fetch_add(1, Ordering::SeqCst))
}

#[cfg(feature = "s3")]
mod s3 {
    use std::sync::OnceLock;
    use tus_s3::moto::Moto;

    const BUCKET: &str = "tus-conformance";
    const MIN_PART: u64 = 1024;
    const PART: u64 = 1024 * 1024;

    static MOTO: OnceLock<Moto> = OnceLock::new();

    pub(super) fn open() -> tus_s3::S3Storage {
        let moto = MOTO.get_or_init(|| {
            let moto = Moto::start_with_min_part_size(Some(MIN_PART));
            moto.create_bucket_blocking(BUCKET);
            moto
        });
        tus_s3::S3Storage::builder(moto.connection().client(), BUCKET)
            .prefix(super::fresh_prefix())
            .min_part_size(MIN_PART)
            .part_size(PART)
            .build()
            .expect("valid S3 storage settings")
    }

    /// The same bucket and prefix, with a new client (as a restarted process has).
    pub(super) fn reopen(storage: &tus_s3::S3Storage) -> tus_s3::S3Storage {
        let moto = MOTO.get().expect("moto was started by open");
        tus_s3::S3Storage::builder(moto.connection().client(), storage.bucket())
            .prefix(storage.prefix())
            .min_part_size(MIN_PART)
            .part_size(PART)
            .build()
            .expect("valid S3 storage settings")
    }
}

/// The fake-gcs-server all GCS deployments of this process share.
#[cfg(feature = "gcs")]
mod gcs {
    use std::sync::OnceLock;
    use tus_gcs::emulator::FakeGcs;

    const BUCKET: &str = "tus-conformance";

    static EMULATOR: OnceLock<FakeGcs> = OnceLock::new();

    /// A storage over `prefix` (a new client: what a restarted process would have).
    pub(super) fn open(prefix: &str) -> tus_gcs::GcsStorage {
        let emulator = EMULATOR.get_or_init(|| {
            let emulator = FakeGcs::start();
            emulator.create_bucket_blocking(BUCKET);
            emulator
        });
        tus_gcs::GcsStorage::new(emulator.config(BUCKET).prefix(prefix)).expect("valid GCS storage settings")
    }
}

/// The Azurite all Azure deployments of this process share.
#[cfg(feature = "azure")]
mod azure {
    use std::sync::OnceLock;
    use tus_azure::emulator::Azurite;

    const CONTAINER: &str = "tus-conformance";
    const BLOCK: u64 = 64 * 1024;

    static EMULATOR: OnceLock<Azurite> = OnceLock::new();

    /// A storage over `prefix` (a new client: what a restarted process would have).
    pub(super) fn open(prefix: &str) -> tus_azure::AzureStorage {
        let emulator = EMULATOR.get_or_init(|| {
            let emulator = Azurite::start();
            emulator.create_container_blocking(CONTAINER);
            emulator
        });
        tus_azure::AzureStorage::new(emulator.config(CONTAINER).prefix(prefix).block_size(BLOCK))
            .expect("valid Azure storage settings")
    }
}

/// A storage and, for file-backed ones, the directory it lives in (for GCS and Azure, the prefix).
#[derive(Clone)]
struct StorageSlot {
    storage: Arc<dyn Storage>,
    dir: Option<Arc<tempfile::TempDir>>,
    #[cfg(feature = "s3")]
    s3: Option<tus_s3::S3Storage>,
    /// The prefix of a GCS or Azure storage, to reopen it.
    #[cfg(any(feature = "gcs", feature = "azure"))]
    prefix: Option<String>,
}

impl StorageSlot {
    fn new(storage: Arc<dyn Storage>, dir: Option<Arc<tempfile::TempDir>>) -> Self {
        Self {
            storage,
            dir,
            #[cfg(feature = "s3")]
            s3: None,
            #[cfg(any(feature = "gcs", feature = "azure"))]
            prefix: None,
        }
    }
}

impl Backend {
    fn open(self) -> StorageSlot {
        match self {
            Self::Memory => StorageSlot::new(Arc::new(MemoryStorage::new()), None),
            #[cfg(feature = "sqlite")]
            Self::Sqlite => {
                let dir = Arc::new(tempfile::tempdir().expect("temporary directory"));
                let storage = tus_sqlite::SqliteStorage::open(dir.path()).expect("open the SQLite storage");
                StorageSlot::new(Arc::new(storage), Some(dir))
            }
            #[cfg(feature = "s3")]
            Self::S3 => {
                let storage = s3::open();
                {
                    let mut slot = StorageSlot::new(Arc::new(storage.clone()), None);
                    slot.s3 = Some(storage);
                    slot
                }
            }
            #[cfg(feature = "gcs")]
            Self::Gcs => {
                let prefix = fresh_prefix();
                let mut slot = StorageSlot::new(Arc::new(gcs::open(&prefix)), None);
                slot.prefix = Some(prefix);
                slot
            }
            #[cfg(feature = "azure")]
            Self::Azure => {
                let prefix = fresh_prefix();
                let mut slot = StorageSlot::new(Arc::new(azure::open(&prefix)), None);
                slot.prefix = Some(prefix);
                slot
            }
        }
    }

    /// The same uploads as a restarted process would see them.
    fn reopen(self, slot: &StorageSlot) -> StorageSlot {
        match self {
            Self::Memory => slot.clone(),
            #[cfg(feature = "sqlite")]
            Self::Sqlite => {
                let dir = slot.dir.clone().expect("a SQLite storage has a directory");
                let storage = tus_sqlite::SqliteStorage::open(dir.path()).expect("reopen the SQLite storage");
                StorageSlot::new(Arc::new(storage), Some(dir))
            }
            #[cfg(feature = "s3")]
            Self::S3 => {
                let storage = s3::reopen(slot.s3.as_ref().expect("an S3 slot has its storage"));
                {
                    let mut slot = StorageSlot::new(Arc::new(storage.clone()), None);
                    slot.s3 = Some(storage);
                    slot
                }
            }
            #[cfg(feature = "gcs")]
            Self::Gcs => {
                let prefix = slot.prefix.clone().expect("a GCS slot has a prefix");
                let mut reopened = StorageSlot::new(Arc::new(gcs::open(&prefix)), None);
                reopened.prefix = Some(prefix);
                reopened
            }
            #[cfg(feature = "azure")]
            Self::Azure => {
                let prefix = slot.prefix.clone().expect("an Azure slot has a prefix");
                let mut reopened = StorageSlot::new(Arc::new(azure::open(&prefix)), None);
                reopened.prefix = Some(prefix);
                reopened
            }
        }
    }
}

/// What a hook saw, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// `post_create`.
    Created,
    /// `post_receive`.
    Received,
    /// `post_finish`.
    Finished,
    /// `post_terminate`.
    Terminated,
}

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Which hook.
    pub kind: EventKind,
    /// The upload's ID.
    pub id: String,
    /// The upload's offset as the hook saw it.
    pub offset: u64,
}

/// Every notification hook call of a deployment.
#[derive(Debug, Clone, Default)]
pub struct EventLog(Arc<Mutex<Vec<Event>>>);

impl EventLog {
    fn push(&self, kind: EventKind, upload: &UploadInfo) {
        let event = Event { kind, id: upload.id.to_string(), offset: upload.offset };
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(event);
    }

    /// A copy of every event so far.
    pub fn all(&self) -> Vec<Event> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// How many `kind` events concern `id`.
    pub fn count(&self, kind: EventKind, id: &str) -> usize {
        self.all().iter().filter(|e| e.kind == kind && e.id == id).count()
    }

    /// How many `kind` events there were.
    pub fn count_kind(&self, kind: EventKind) -> usize {
        self.all().iter().filter(|e| e.kind == kind).count()
    }
}

/// The hooks of in-process deployments: record everything, refuse as the profile says.
struct TestHooks {
    log: EventLog,
    profile: crate::target::HookProfile,
}

fn refusal(r: &crate::target::Refusal) -> HookRejection {
    HookRejection::new(StatusCode::from_u16(r.status).expect("valid status"), r.message.clone())
}

#[async_trait]
impl Hooks for TestHooks {
    async fn authorize(
        &self,
        request: &Parts,
        _intent: Intent,
        _upload: Option<&UploadInfo>,
    ) -> Result<(), HookRejection> {
        if self.profile.deny_header && request.headers.contains_key(DENY_HEADER) {
            return Err(HookRejection::forbidden("denied by the authorize hook"));
        }
        Ok(())
    }

    async fn pre_create(&self, _request: &Parts, plan: &mut CreatePlan) -> Result<(), HookRejection> {
        if let Some(r) = &self.profile.refuse_create {
            return Err(refusal(r));
        }
        if self.profile.id_from_metadata
            && let Some(wanted) = plan.metadata.get("id")
        {
            let wanted = String::from_utf8_lossy(wanted).into_owned();
            match UploadId::new(&wanted) {
                Ok(id) => plan.id = Some(id),
                Err(e) => {
                    return Err(HookRejection::new(StatusCode::INTERNAL_SERVER_ERROR, format!("config error: {e}")));
                }
            }
        }
        Ok(())
    }

    async fn post_create(&self, upload: &UploadInfo) {
        self.log.push(EventKind::Created, upload);
    }

    async fn post_receive(&self, upload: &UploadInfo) {
        self.log.push(EventKind::Received, upload);
    }

    async fn post_finish(&self, upload: &UploadInfo) {
        self.log.push(EventKind::Finished, upload);
    }

    async fn pre_terminate(&self, _request: &Parts, _upload: &UploadInfo) -> Result<(), HookRejection> {
        match &self.profile.refuse_terminate {
            Some(r) => Err(refusal(r)),
            None => Ok(()),
        }
    }

    async fn post_terminate(&self, upload: &UploadInfo) {
        self.log.push(EventKind::Terminated, upload);
    }
}

/// Builds the layer `profile` describes over `storage`.
fn build_layer(
    storage: Arc<dyn Storage>,
    profile: &Profile,
    locker: &MemoryLocker,
    log: &EventLog,
    ids: &Arc<AtomicU64>,
) -> TusLayer {
    let mut layer = TusLayer::from_arc(storage)
        .locker(locker.clone())
        .hooks(TestHooks { log: log.clone(), profile: profile.hooks.clone() })
        .max_metadata_size(profile.max_metadata_size)
        .checksum_algorithms(profile.checksum_algorithms.clone())
        .janitor_interval(profile.janitor_interval)
        .download(profile.download)
        .lock_timeout(profile.lock_timeout)
        .body_idle_timeout(profile.body_idle_timeout)
        .trust_proxy_headers(profile.trust_proxy)
        .method_override(profile.method_override);
    for extension in Extension::ALL {
        layer = layer.extension(extension, profile.extensions.contains(extension.name()));
    }
    if let Some(max) = profile.max_size {
        layer = layer.max_size(max);
    }
    if let Some(expiration) = profile.expiration {
        layer = layer.expiration(expiration);
    }
    if let Some(url) = &profile.public_url {
        layer = layer.public_url(url.clone());
    }
    layer = match &profile.cors {
        CorsProfile::Any => layer.cors(Cors::any()),
        CorsProfile::Origins(list) => layer.cors(Cors::origins(list)),
        CorsProfile::Off => layer.no_cors(),
    };
    if let IdScheme::Sequential(prefix) = &profile.ids {
        let prefix = prefix.clone();
        let counter = ids.clone();
        layer = layer.id_generator(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            UploadId::new(format!("{prefix}-{n}")).expect("sequential IDs are valid")
        });
    }
    layer
}

/// Starts servers configured from a [`Profile`].
#[async_trait]
pub trait Launcher: Send + Sync {
    /// A short name for messages, e.g. `memory/standalone`.
    fn name(&self) -> String;

    /// A fresh server (with fresh, empty storage) configured as `profile` says.
    async fn launch(&self, profile: Profile) -> Deployment;

    /// A fresh server with the default profile.
    async fn launch_default(&self) -> Deployment {
        self.launch(Profile::default()).await
    }
}

/// Serves `tus-core` in this process over one of the [`Backend`]s, mounted as one of the [`Mode`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InProcess {
    /// The storage.
    pub backend: Backend,
    /// How the service is mounted.
    pub mode: Mode,
}

impl InProcess {
    /// A launcher for `backend` and `mode`.
    pub fn new(backend: Backend, mode: Mode) -> Self {
        Self { backend, mode }
    }
}

#[async_trait]
impl Launcher for InProcess {
    fn name(&self) -> String {
        format!("{:?}/{:?}", self.backend, self.mode).to_lowercase()
    }

    async fn launch(&self, mut profile: Profile) -> Deployment {
        let slot = self.backend.open();
        let features = slot.storage.features();
        profile.storage = StorageSupport {
            concatenation: features.concatenation,
            concatenation_unfinished: features.concatenation_unfinished,
            download: features.read,
        };
        let locker = MemoryLocker::new();
        let events = EventLog::default();
        let ids = Arc::new(AtomicU64::new(0));
        let layer = build_layer(slot.storage.clone(), &profile, &locker, &events, &ids);
        let server = spawn(layer.clone(), self.mode).await;
        let target = Target::new(&format!("{}/files", server.origin())).with_profile(profile);
        let local =
            Local { launcher: *self, events, slot, locker, ids, layer, server: Some(server), others: Vec::new() };
        Deployment { target, local: Some(local) }
    }
}

/// A running server (and possibly more instances sharing its storage), with the
/// handles a check needs to look behind the HTTP interface.
///
/// A deployment started by [`InProcess`] has every handle. One made with
/// [`Deployment::external`] (a server this suite did not start) only has its target:
/// the checks that need a handle panic, naming the handle.
pub struct Deployment {
    target: Target,
    local: Option<Local>,
}

/// The in-process parts of a deployment.
struct Local {
    launcher: InProcess,
    events: EventLog,
    slot: StorageSlot,
    locker: MemoryLocker,
    ids: Arc<AtomicU64>,
    layer: TusLayer,
    server: Option<RunningServer>,
    others: Vec<RunningServer>,
}

impl std::fmt::Debug for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployment")
            .field("target", &self.target)
            .field("in_process", &self.local.as_ref().map(|l| l.launcher))
            .finish_non_exhaustive()
    }
}

impl Deployment {
    /// A deployment this suite did not start: only `target` is known.
    pub fn external(target: Target) -> Self {
        Self { target, local: None }
    }

    fn local(&self, what: &str) -> &Local {
        self.local.as_ref().unwrap_or_else(|| panic!("this check needs {what}, which only in-process deployments have"))
    }

    fn local_mut(&mut self, what: &str) -> &mut Local {
        self.local.as_mut().unwrap_or_else(|| panic!("this check needs {what}, which only in-process deployments have"))
    }

    /// The endpoint.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The hook notifications so far.
    pub fn events(&self) -> &EventLog {
        &self.local("the hook event log").events
    }

    /// Starts one more server instance on the same storage and the same lock
    /// backend (as two processes behind a load balancer would be), and returns it.
    pub async fn second_instance(&mut self) -> Target {
        let profile = self.target.profile.clone();
        let local = self.local_mut("a second instance");
        let layer = build_layer(local.slot.storage.clone(), &profile, &local.locker, &local.events, &local.ids);
        let server = spawn(layer, local.launcher.mode).await;
        let target = Target::new(&format!("{}/files", server.origin())).with_profile(profile);
        local.others.push(server);
        target
    }

    /// The graceful-shutdown handle of the layer.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.local("the shutdown handle").layer.shutdown_handle()
    }

    /// Starts a graceful shutdown (the layer's handle, then the server stops accepting)
    /// and waits at most `deadline` for open connections to end. Returns whether they did.
    pub async fn shutdown(&mut self, deadline: Duration) -> bool {
        let local = self.local_mut("a graceful shutdown");
        local.layer.shutdown_handle().shutdown();
        match local.server.take() {
            Some(server) => server.shutdown(deadline).await,
            None => true,
        }
    }

    /// Starts a new server, as a restarted process: a new layer over the same uploads
    /// (the storage reopened) and the same lock backend. Returns its target.
    pub async fn restart(&mut self) -> Target {
        let profile = self.target.profile.clone();
        let local = self.local_mut("a restart");
        if let Some(server) = local.server.take() {
            server.shutdown(Duration::from_secs(5)).await;
        }
        let slot = local.launcher.backend.reopen(&local.slot);
        let layer = build_layer(slot.storage.clone(), &profile, &local.locker, &local.events, &local.ids);
        let server = spawn(layer.clone(), local.launcher.mode).await;
        let target = Target::new(&format!("{}/files", server.origin())).with_profile(profile);
        local.slot = slot;
        local.layer = layer;
        local.server = Some(server);
        self.target = target.clone();
        target
    }

    /// Takes the lock of upload `id` from the lock backend the servers use, as a
    /// writer that ignores requests to let go would.
    ///
    /// # Panics
    /// When the ID is invalid or the lock cannot be taken within 5 s.
    pub async fn hold_lock(&self, id: &str) -> UploadLock {
        let id = UploadId::new(id).expect("valid upload id");
        let locker = &self.local("the lock backend").locker;
        tus_core::Locker::lock(locker, &id, Duration::from_secs(5)).await.expect("take the upload lock")
    }

    /// Whether no lock is held or awaited in the lock backend.
    pub fn no_lock_held(&self) -> bool {
        self.local("the lock backend").locker.is_empty()
    }

    /// Runs the expiration janitor once; returns the IDs it removed (or would remove).
    pub async fn remove_expired(&self, dry_run: bool) -> Vec<String> {
        let removed = self.local("the janitor").layer.remove_expired(dry_run).await.expect("janitor sweep");
        removed.iter().map(ToString::to_string).collect()
    }

    /// The directory of a file-backed storage (`None` for other storages and external deployments).
    pub fn storage_dir(&self) -> Option<&Path> {
        self.local.as_ref()?.slot.dir.as_deref().map(tempfile::TempDir::path)
    }
}
