//! [`HookChain`]: several [`Hooks`] run as one, e.g. in-process checks and a webhook.

use async_trait::async_trait;
use http::request::Parts;
use tus_core::{CreatePlan, HookRejection, Hooks, Intent, UploadInfo};

/// Runs several [`Hooks`] in the order they were added.
///
/// Blocking hooks stop at the first refusal (later ones are not asked), and each
/// `pre_create` sees the plan as the earlier ones left it. Notifications reach every hook.
///
/// ```
/// use tus_core::{Hooks, NoHooks};
/// use tus_hooks::HookChain;
///
/// let hooks = HookChain::new().with(NoHooks).with(NoHooks);
/// assert_eq!(hooks.len(), 2);
/// ```
#[derive(Default)]
pub struct HookChain {
    hooks: Vec<Box<dyn Hooks>>,
}

impl std::fmt::Debug for HookChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookChain").field("len", &self.hooks.len()).finish()
    }
}

impl HookChain {
    /// An empty chain (it accepts everything).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `hooks` at the end.
    pub fn with(mut self, hooks: impl Hooks) -> Self {
        self.hooks.push(Box::new(hooks));
        self
    }

    /// How many hooks the chain runs.
    pub fn len(&self) -> usize {
        self.hooks.len()
    }

    /// Whether the chain runs no hooks.
    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }
}

#[async_trait]
impl Hooks for HookChain {
    async fn authorize(
        &self,
        request: &Parts,
        intent: Intent,
        upload: Option<&UploadInfo>,
    ) -> Result<(), HookRejection> {
        for hooks in &self.hooks {
            hooks.authorize(request, intent, upload).await?;
        }
        Ok(())
    }

    async fn pre_create(&self, request: &Parts, plan: &mut CreatePlan) -> Result<(), HookRejection> {
        for hooks in &self.hooks {
            hooks.pre_create(request, plan).await?;
        }
        Ok(())
    }

    async fn post_create(&self, upload: &UploadInfo) {
        for hooks in &self.hooks {
            hooks.post_create(upload).await;
        }
    }

    async fn post_receive(&self, upload: &UploadInfo) {
        for hooks in &self.hooks {
            hooks.post_receive(upload).await;
        }
    }

    async fn post_finish(&self, upload: &UploadInfo) {
        for hooks in &self.hooks {
            hooks.post_finish(upload).await;
        }
    }

    async fn pre_terminate(&self, request: &Parts, upload: &UploadInfo) -> Result<(), HookRejection> {
        for hooks in &self.hooks {
            hooks.pre_terminate(request, upload).await?;
        }
        Ok(())
    }

    async fn post_terminate(&self, upload: &UploadInfo) {
        for hooks in &self.hooks {
            hooks.post_terminate(upload).await;
        }
    }
}
