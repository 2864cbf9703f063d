//! DELETE: the termination extension.

use super::{empty, lock_failed, rejected};
use crate::body::ResponseBody;
use crate::config::Extension;
use crate::error::TusError;
use crate::hooks::Intent;
use crate::id::UploadId;
use crate::service::Shared;
use crate::storage::Removal;
use http::request::Parts;
use http::{Response, StatusCode};

pub(super) async fn handle(shared: &Shared, parts: &Parts, id: UploadId) -> Result<Response<ResponseBody>, TusError> {
    if !shared.has(Extension::Termination) {
        return Err(TusError::Disabled("the termination extension"));
    }
    let info = shared.storage.info(&id).await?;
    shared.hooks.authorize(parts, Intent::Terminate, Some(&info)).await.map_err(rejected)?;
    shared.hooks.pre_terminate(parts, &info).await.map_err(rejected)?;
    // Taking the lock stops a PATCH in flight, so no bytes land after the removal.
    let lock = shared.locker.lock(&id, shared.config.lock_timeout).await.map_err(lock_failed)?;
    let removed = shared.storage.remove(&id, Removal::Terminated).await;
    lock.release().await;
    removed?;
    shared.hooks.post_terminate(&info).await;
    Ok(empty(StatusCode::NO_CONTENT))
}
