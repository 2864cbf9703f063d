//! Composing many objects into one: GCS composes at most 32 sources per request, so longer
//! lists are composed in rounds through intermediate objects.

use crate::api::{Api, Source};
use crate::error::GcsError;
use crate::layout::PartNames as _;
use tus_cloud::Layout;
use tus_core::UploadId;

/// The most sources one compose request takes.
pub(crate) const MAX_COMPOSE_SOURCES: usize = 32;

/// Composes `sources` (not empty, in order) into `destination`; intermediates are named
/// under `id`'s parts and deleted afterwards.
pub(crate) async fn compose_all(
    api: &Api,
    layout: &Layout,
    id: &UploadId,
    destination: &str,
    sources: &[Source],
) -> Result<(), GcsError> {
    let mut level = sources.to_vec();
    let mut scratch = Vec::new();
    let result = async {
        while level.len() > MAX_COMPOSE_SOURCES {
            let mut next = Vec::with_capacity(level.len().div_ceil(MAX_COMPOSE_SOURCES));
            for group in level.chunks(MAX_COMPOSE_SOURCES) {
                if let [single] = group {
                    next.push(single.clone());
                    continue;
                }
                let name = layout.scratch(id, scratch.len());
                scratch.push(name.clone());
                api.compose(&name, group).await?;
                next.push(Source::latest(name));
            }
            level = next;
        }
        api.compose(destination, &level).await.map(drop)
    }
    .await;
    for name in scratch {
        if let Err(e) = api.delete(&name).await {
            tracing::warn!(object = %name, error = %e, "could not delete a compose intermediate");
        }
    }
    result
}
