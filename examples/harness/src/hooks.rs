//! Hooks that record what reaches tus-core through an adapter.

use async_trait::async_trait;
use http::request::Parts;
use std::sync::{Arc, Mutex, PoisonError};
use tus_core::{HookRejection, Hooks, Intent, UploadInfo};

type Copy = dyn Fn(&http::Extensions, &mut http::Extensions) + Send + Sync;

/// `authorize` hooks that keep every request head they see (and accept it), to check that
/// an adapter hands tus-core the request the client sent.
#[derive(Clone)]
pub struct RecordingHooks {
    seen: Arc<Mutex<Vec<Parts>>>,
    copy: Arc<Copy>,
}

impl std::fmt::Debug for RecordingHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingHooks").finish_non_exhaustive()
    }
}

impl RecordingHooks {
    /// Hooks that keep request heads, with the extensions `copy` carries over (extensions
    /// cannot be cloned as a whole).
    pub fn new(copy: impl Fn(&http::Extensions, &mut http::Extensions) + Send + Sync + 'static) -> Self {
        Self { seen: Arc::default(), copy: Arc::new(copy) }
    }

    /// The last request head seen, with the extensions `copy` picked.
    ///
    /// # Panics
    /// When no request reached the hook.
    pub fn last(&self) -> Parts {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).pop().expect("a request reached the hooks")
    }
}

#[async_trait]
impl Hooks for RecordingHooks {
    async fn authorize(&self, request: &Parts, _: Intent, _: Option<&UploadInfo>) -> Result<(), HookRejection> {
        let mut copy = http::Request::new(());
        *copy.method_mut() = request.method.clone();
        *copy.uri_mut() = request.uri.clone();
        *copy.version_mut() = request.version;
        *copy.headers_mut() = request.headers.clone();
        (self.copy)(&request.extensions, copy.extensions_mut());
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).push(copy.into_parts().0);
        Ok(())
    }
}
