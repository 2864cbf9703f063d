//! An actix-web 4 API with resumable uploads: JSON routes under `/api`, tus under `/files/`.
//! See the README for the environment variables and the routes.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use tus_example_common::{AppState, Settings, error_json};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let settings = Settings::from_env();
    let app = AppState::open(&settings).map_err(std::io::Error::other)?;
    let listener = std::net::TcpListener::bind(&settings.listen_addr)?;
    let addr = listener.local_addr()?;
    let state = web::Data::new(app.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/api/health", web::get().to(health))
            .route("/api/uploads", web::get().to(list_uploads))
            .route("/api/uploads/{id}", web::get().to(get_upload))
            .service(tus_actix::scope("/files", app.layer.clone()))
    })
    .listen(listener)?
    .run();
    settings.announce("actix-web", addr);
    server.await
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(AppState::health())
}

async fn list_uploads(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    denied(&request, &state).unwrap_or_else(|| HttpResponse::Ok().json(state.uploads.list()))
}

async fn get_upload(request: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> HttpResponse {
    if let Some(denied) = denied(&request, &state) {
        return denied;
    }
    match state.uploads.get(&id) {
        Some(upload) => HttpResponse::Ok().json(upload),
        None => HttpResponse::NotFound().json(error_json("no finished upload with this id")),
    }
}

/// The bearer check of the app's own routes (tus requests go through the hook): the
/// response refusing the request, if it is refused.
fn denied(request: &HttpRequest, state: &AppState) -> Option<HttpResponse> {
    let header = request.headers().get("authorization").map(|v| v.as_bytes());
    let denied = state.auth.check(header).err()?;
    let status = actix_web::http::StatusCode::from_u16(denied.status()).unwrap_or_default();
    Some(HttpResponse::build(status).json(denied.json()))
}
