//! The checks can fail: a few of them run against servers that break one rule on
//! purpose (a response rewritten after `tus-core` answered) and must panic, while the
//! same check against the unbroken server passes.
//!
//! The broken servers are reached as external deployments ([`Deployment::external`]),
//! so only checks that need no in-process handle are used here.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tower::ServiceExt;
use tus_conformance::checks::{a1_version, a2_options, a3_head, a4_patch, a9_checksum};
use tus_conformance::{Deployment, Launcher, Profile, Target};
use tus_core::{MemoryStorage, ResponseBody, TusBody, TusLayer};

/// One broken rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mutation {
    /// Nothing is broken.
    None,
    /// `Tus-Resumable` is missing from every response.
    NoTusResumable,
    /// 409 becomes 400.
    ConflictAs400,
    /// `Upload-Offset` is missing from every response.
    NoUploadOffset,
    /// 412 becomes 400.
    PreconditionAs400,
    /// `Tus-Max-Size` is missing.
    NoMaxSize,
    /// `Access-Control-Expose-Headers` is missing.
    NoExposeHeaders,
    /// A checksum mismatch is answered 204.
    MismatchAs204,
}

impl Mutation {
    fn apply(self, mut response: Response<TusBody<ResponseBody>>) -> Response<TusBody<ResponseBody>> {
        let status = response.status().as_u16();
        let headers = response.headers_mut();
        let mut remove = |name: &str| {
            headers.remove(name);
            None
        };
        let replace = |from: u16, to: StatusCode| (status == from).then_some(to);
        let new_status = match self {
            Self::None => None,
            Self::NoTusResumable => remove("tus-resumable"),
            Self::ConflictAs400 => replace(409, StatusCode::BAD_REQUEST),
            Self::NoUploadOffset => remove("upload-offset"),
            Self::PreconditionAs400 => replace(412, StatusCode::BAD_REQUEST),
            Self::NoMaxSize => remove("tus-max-size"),
            Self::NoExposeHeaders => remove("access-control-expose-headers"),
            Self::MismatchAs204 => replace(460, StatusCode::NO_CONTENT),
        };
        if let Some(new_status) = new_status {
            *response.status_mut() = new_status;
        }
        response
    }
}

#[async_trait::async_trait]
impl Launcher for Mutation {
    fn name(&self) -> String {
        format!("mutant {self:?}")
    }

    async fn launch(&self, profile: Profile) -> Deployment {
        let mut layer = TusLayer::new(MemoryStorage::new());
        if let Some(max) = profile.max_size {
            layer = layer.max_size(max);
        }
        let mutation = *self;
        let service = ServiceExt::<Request<Incoming>>::map_response(layer.standalone(), move |r| mutation.apply(r));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let service = TowerToHyperService::new(service.clone());
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        Deployment::external(Target::new(&format!("http://{addr}/files")).with_profile(profile))
    }
}

/// For each check: it passes on the intact server and panics on the broken one.
macro_rules! must_catch {
    ($($name:ident: $mutation:ident => $check:path;)*) => {
        $(
            mod $name {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn passes_on_the_intact_server() {
                    $check(&Mutation::None).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[should_panic]
                async fn fails_on_the_broken_server() {
                    $check(&Mutation::$mutation).await;
                }
            }
        )*
    };
}

must_catch! {
    a1_1_without_tus_resumable: NoTusResumable => a1_version::a1_1_every_response_has_tus_resumable;
    a1_6_with_400_for_412: PreconditionAs400 => a1_version::a1_6_tus_version_lists_1_0_0_first;
    a2_3_without_max_size: NoMaxSize => a2_options::a2_3_tus_max_size_matches_the_configuration;
    a2_6_without_expose_headers: NoExposeHeaders => a2_options::a2_6_cors_expose_headers_on_success_and_errors;
    a3_1_without_offset: NoUploadOffset => a3_head::a3_1_head_on_fresh_upload;
    a4_1_without_offset: NoUploadOffset => a4_patch::a4_1_patch_appends_and_reports_offset;
    a4_4_with_400_for_409: ConflictAs400 => a4_patch::a4_4_offset_mismatch_is_409_and_changes_nothing;
    a9_3_with_204_for_460: MismatchAs204 => a9_checksum::a9_3_wrong_digest_is_460_and_rolled_back;
}
