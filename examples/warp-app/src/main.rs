//! A warp 0.4 API with resumable uploads: JSON routes under `/api`, tus under `/files/`.
//! See the README for the environment variables and the routes.

use http::{HeaderMap, StatusCode};
use tus_example_common::{AppState, Settings, error_json};
use warp::Filter as _;
use warp::reply::{Reply as _, Response};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let settings = Settings::from_env();
    let app = AppState::open(&settings).map_err(std::io::Error::other)?;
    let shutdown = app.layer.shutdown_handle();

    let state = warp::any().map({
        let app = app.clone();
        move || app.clone()
    });
    let health = warp::path!("api" / "health").and(warp::get()).map(|| warp::reply::json(&AppState::health()));
    let list =
        warp::path!("api" / "uploads").and(warp::get()).and(warp::header::headers_cloned()).and(state.clone()).map(
            |headers: HeaderMap, app: AppState| {
                authorized(&headers, &app, |app| json(StatusCode::OK, &app.uploads.list()))
            },
        );
    let one =
        warp::path!("api" / "uploads" / String).and(warp::get()).and(warp::header::headers_cloned()).and(state).map(
            |id: String, headers: HeaderMap, app: AppState| {
                authorized(&headers, &app, |app| match app.uploads.get(&id) {
                    Some(upload) => json(StatusCode::OK, &upload),
                    None => json(StatusCode::NOT_FOUND, &error_json("no finished upload with this id")),
                })
            },
        );
    // tus answers everything under /files and rejects the rest, so it composes with `or`.
    let routes = health.or(list).or(one).or(tus_warp::filter(app.layer));

    let listener = tokio::net::TcpListener::bind(&settings.listen_addr).await?;
    settings.announce("warp", listener.local_addr()?);
    warp::serve(routes)
        .incoming(listener)
        .graceful(async move {
            let _ = tokio::signal::ctrl_c().await;
            // Uploads in flight keep what they received and answer 503.
            shutdown.shutdown();
        })
        .run()
        .await;
    Ok(())
}

/// Runs `reply` when the request carries the app's bearer token (tus requests go through
/// the hook instead).
fn authorized(headers: &HeaderMap, app: &AppState, reply: impl FnOnce(&AppState) -> Response) -> Response {
    let header = headers.get(http::header::AUTHORIZATION).map(http::HeaderValue::as_bytes);
    match app.auth.check(header) {
        Ok(()) => reply(app),
        Err(denied) => json(StatusCode::from_u16(denied.status()).unwrap_or(StatusCode::FORBIDDEN), &denied.json()),
    }
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    warp::reply::with_status(warp::reply::json(value), status).into_response()
}
