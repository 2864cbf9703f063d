//! `tus_actix` in a real actix-web server on 127.0.0.1, over SQLite storage in a temporary
//! directory. (The example app's tests add the 1 GiB streaming and disconnect checks.)

use actix_web::dev::{ServerHandle, Service as _};
use actix_web::{App, HttpMessage as _, HttpResponse, HttpServer, web};
use std::net::SocketAddr;
use tus_actix::{PeerAddr, TusScope};
use tus_core::{Extension, TusLayer};
use tus_example_harness::{Client, Pattern, RecordingHooks};
use tus_sqlite::SqliteStorage;

/// A server on a thread of its own (actix runs its own runtimes); stopped on drop.
struct Server {
    addr: SocketAddr,
    handle: ServerHandle,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(configure: impl Fn(&mut web::ServiceConfig, TusLayer) + Send + Clone + 'static) -> Self {
        Self::start_with(TusLayer::new, configure)
    }

    fn start_with(
        layer: impl FnOnce(SqliteStorage) -> TusLayer,
        configure: impl Fn(&mut web::ServiceConfig, TusLayer) + Send + Clone + 'static,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let layer = layer(SqliteStorage::open(dir.path()).unwrap());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    let configure = configure.clone();
                    let layer = layer.clone();
                    App::new()
                        .wrap_fn(|request, service| {
                            request.extensions_mut().insert(Tenant("acme"));
                            service.call(request)
                        })
                        .configure(move |config| configure(config, layer))
                })
                .workers(1)
                .listen(listener)
                .unwrap()
                .run();
                sender.send(server.handle()).unwrap();
                server.await.unwrap();
            });
        });
        let handle = receiver.recv().unwrap();
        Self { addr, handle, _dir: dir }
    }

    fn client(&self) -> Client {
        Client::new(self.addr, None)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// What an auth middleware would store in actix's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tenant(&'static str);

#[tokio::test]
async fn uploads_work_under_the_scope_next_to_other_routes() {
    let server = Server::start(|config, layer| {
        config
            .route("/api/health", web::get().to(|| async { HttpResponse::Ok().body("ok") }))
            .service(tus_actix::scope("/files/", layer));
    });
    let client = server.client();
    let pattern = Pattern::new(300_000, 1);
    let upload = client.create(pattern.len(), Some("x.bin")).await;
    assert!(upload.path.starts_with("/files/"), "{upload:?}");
    client.patch(&upload.path, 0, pattern.bytes(0..100_000)).await.expect(204, "PATCH");
    client.patch(&upload.path, 100_000, pattern.bytes(100_000..300_000)).await.expect(204, "PATCH");
    let download = client.download(&upload.path).await;
    assert_eq!((download.status, download.sha256), (200, pattern.sha256()));
    let health = client.get("/api/health").await;
    health.expect(200, "a route next to the scope");
    assert_eq!(health.text(), "ok");
    // Both forms of the collection path reach tus; a longer segment does not.
    client.call("OPTIONS", "/files", &[]).await.expect(204, "OPTIONS /files");
    client.call("OPTIONS", "/files/", &[]).await.expect(204, "OPTIONS /files/");
    let outside = client.call("OPTIONS", "/filesystem", &[]).await;
    assert!(outside.header("tus-resumable").is_none(), "tus answered /filesystem: {outside:?}");
}

#[tokio::test]
async fn every_method_under_the_path_reaches_tus() {
    let server = Server::start(|config, layer| {
        config.service(tus_actix::scope("/files", layer));
    });
    let client = server.client();
    let upload = client.create(3, None).await;
    for method in ["PUT", "PROPFIND", "TRACE"] {
        let reply = client.call(method, &upload.path, &[]).await;
        reply.expect(405, method);
        assert_eq!(reply.header("tus-resumable"), Some("1.0.0"), "{method}: {reply:?}");
    }
    // X-HTTP-Method-Override rides on a POST through actix as well.
    client
        .call("POST", &upload.path, &[("x-http-method-override", "DELETE")])
        .await
        .expect(204, "POST overriding DELETE");
    assert_eq!(client.head(&upload.path).await.status, 410);
}

#[tokio::test]
async fn nested_scopes_keep_location_right_with_the_full_base_path() {
    let server = Server::start(|config, layer| {
        let service = layer.base_path("/api/v1/files").extension(Extension::ChecksumTrailer, false).standalone();
        config.service(
            web::scope("/api")
                .route("/ping", web::get().to(|| async { HttpResponse::Ok().body("pong") }))
                .service(web::scope("/v1").service(TusScope::new(service).channel_capacity(2).scope("/files"))),
        );
    });
    let client = server.client();
    let reply = client.call("POST", "/api/v1/files", &[("upload-length", "5")]).await;
    reply.expect(201, "POST under nested scopes");
    let location = reply.header("location").unwrap().to_owned();
    assert!(location.starts_with("/api/v1/files/"), "Location {location}");
    client.patch(&location, 0, "hello").await.expect(204, "PATCH at the Location");
    assert_eq!(client.head(&location).await.offset(), Some(5));
    assert_eq!(client.get("/api/ping").await.text(), "pong");
}

#[tokio::test]
async fn a_base_path_that_misses_the_outer_scope_is_reported() {
    let server = Server::start(|config, layer| {
        config.service(web::scope("/api").service(tus_actix::scope("/files", layer)));
    });
    let reply = server.client().call("POST", "/api/files", &[("upload-length", "5")]).await;
    reply.expect(500, "a misconfigured nested scope");
    assert!(reply.text().contains("base path"), "{:?}", reply.text());
}

#[tokio::test]
async fn hooks_see_every_header_value_the_peer_and_copied_extensions() {
    let recorder = RecordingHooks::new(|from, to| {
        if let Some(peer) = from.get::<PeerAddr>() {
            to.insert(*peer);
        }
        if let Some(tenant) = from.get::<Tenant>() {
            to.insert(*tenant);
        }
    });
    let hooks = recorder.clone();
    let server = Server::start_with(
        move |storage| TusLayer::new(storage).hooks(hooks),
        |config, layer| {
            let service = layer.extension(Extension::ChecksumTrailer, false).standalone();
            config.service(
                TusScope::new(service)
                    .copy_extensions(|request, extensions| {
                        if let Some(tenant) = request.extensions().get::<Tenant>() {
                            extensions.insert(*tenant);
                        }
                    })
                    .scope("/files"),
            );
        },
    );
    let client = server.client();
    let head = client.raw_head(
        "POST",
        "/files?source=test&x=%20",
        &[("Upload-Length", "1"), ("X-Multi", "one"), ("X-Multi", "two"), ("x-multi", "three")],
    );
    let response = client.raw(head.as_bytes(), false).await;
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");

    let seen = recorder.last();
    assert_eq!(seen.method, http::Method::POST);
    assert_eq!(seen.uri, "/files?source=test&x=%20");
    assert_eq!(seen.version, http::Version::HTTP_11);
    let multi: Vec<_> = seen.headers.get_all("x-multi").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(multi, ["one", "two", "three"]);
    assert_eq!(seen.headers["upload-length"], "1");
    let peer = seen.extensions.get::<PeerAddr>().expect("the peer address");
    assert!(peer.0.ip().is_loopback(), "{peer:?}");
    assert_eq!(seen.extensions.get::<Tenant>(), Some(&Tenant("acme")));
}

#[tokio::test]
async fn a_half_closed_patch_is_a_broken_body_and_keeps_its_bytes() {
    let server = Server::start(|config, layer| {
        config.service(tus_actix::scope("/files", layer));
    });
    let client = server.client();
    let upload = client.create(1 << 20, None).await;
    let mut request = client
        .raw_head(
            "PATCH",
            &upload.path,
            &[
                ("Upload-Offset", "0"),
                ("Content-Type", "application/offset+octet-stream"),
                ("Content-Length", "1048576"),
            ],
        )
        .into_bytes();
    request.extend_from_slice(&[7u8; 100_000]);
    let response = client.raw(&request, true).await;
    // actix still answers the half-closed connection: with tus-core's error for a body
    // that broke off, never with a 204 for a body that ended cleanly.
    assert!(response.contains("ERR_BROKEN_BODY"), "a cut-off body ended cleanly: {response}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while client.head(&upload.path).await.offset() != Some(100_000) {
        assert!(std::time::Instant::now() < deadline, "the bytes received were not kept");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn responses_frame_like_tus_core_says() {
    let server = Server::start(|config, layer| {
        config.service(tus_actix::scope("/files", layer));
    });
    let client = server.client();
    let upload = client.create(11, None).await;
    client.patch(&upload.path, 0, "hello world").await.expect(204, "PATCH");

    let head = client.raw(client.raw_head("HEAD", &upload.path, &[]).as_bytes(), false).await.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("upload-offset: 11\r\n"), "{head}");
    assert!(!head.contains("content-length: 0"), "a HEAD response claims an empty download: {head}");

    let get = client.raw(client.raw_head("GET", &upload.path, &[]).as_bytes(), false).await;
    let lower = get.to_ascii_lowercase();
    assert_eq!(lower.matches("content-length:").count(), 1, "{get}");
    assert!(lower.contains("content-length: 11\r\n"), "{get}");
    assert!(get.ends_with("\r\n\r\nhello world"), "{get}");

    let ranged = client.raw(client.raw_head("GET", &upload.path, &[("Range", "bytes=6-")]).as_bytes(), false).await;
    assert!(ranged.starts_with("HTTP/1.1 206"), "{ranged}");
    assert!(ranged.ends_with("\r\n\r\nworld"), "{ranged}");
}
