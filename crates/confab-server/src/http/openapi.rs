//! The REST API's routes and their OpenAPI 3.1 document, built together
//! from the handlers' `#[utoipa::path]` attributes (utoipa-axum's
//! `OpenApiRouter`), so the document cannot drift from what is served.
//! The document is at `/api/openapi.json`; `/docs` is Swagger UI, its
//! assets compiled into the binary (utoipa-swagger-ui's `vendored`
//! feature), so it works with no internet access.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::{Config, SwaggerUi};

use super::errors::{ErrorDetail, ErrorResponse};
use super::{Shared, admin, api, ops, session, uploads};

/// Where the document is served.
pub const SPEC_PATH: &str = "/api/openapi.json";
/// Where the docs page is served.
pub const DOCS_PATH: &str = "/docs";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "confab REST API",
        description = "Rooms, users, history, messages, uploads and administration of a confab chat server. \
            Log in with POST /api/v1/login and send the token as `Authorization: Bearer <token>`. \
            Every error is JSON: `{\"error\": {\"code\", \"message\"}}`.",
    ),
    modifiers(&Security),
    tags(
        (name = "auth", description = "Logging in"),
        (name = "rooms", description = "Rooms, their history and messages"),
        (name = "users", description = "Users, private messages and read markers"),
        (name = "uploads", description = "Images and files"),
        (name = "admin", description = "Announcements and the audit log (admin token)"),
        (name = "operations", description = "Health, readiness and metrics"),
    ),
    components(schemas(ErrorResponse, ErrorDetail))
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |what: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(what.to_owned()))
                    .build(),
            )
        };
        components.add_security_scheme("token", bearer("A login token from POST /api/v1/login"));
        components.add_security_scheme("admin", bearer("The server's http.admin_token"));
    }
}

/// The API's routes with their document.
pub fn api(state: &Shared) -> OpenApiRouter<Shared> {
    // Uploads read their own (larger) limit from the raw body; every JSON
    // body is cut at `http.max_body_bytes`.
    let json = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(api::login))
        .routes(routes!(session::logout))
        .routes(routes!(session::logout_all))
        .routes(routes!(session::refresh))
        .routes(routes!(session::password))
        .routes(routes!(api::rooms))
        .routes(routes!(api::history, api::send_to_room))
        .routes(routes!(api::search))
        .routes(routes!(api::users))
        .routes(routes!(api::send_to_user))
        .routes(routes!(api::read_markers))
        .routes(routes!(api::read_marker))
        .routes(routes!(admin::announce))
        .routes(routes!(admin::audit))
        .routes(routes!(admin::kill))
        .routes(routes!(admin::wallops))
        .routes(routes!(
            admin::klines,
            admin::add_kline,
            admin::remove_kline
        ))
        .routes(routes!(
            admin::suspensions,
            admin::suspend,
            admin::unsuspend
        ))
        .routes(routes!(admin::get_lockdown, admin::set_lockdown))
        .layer(DefaultBodyLimit::max(state.config.http.max_body_bytes));
    let other = OpenApiRouter::new()
        .routes(routes!(uploads::create))
        .routes(routes!(uploads::get, uploads::delete))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics));
    let mut api = json.merge(other);
    refine(api.get_openapi_mut(), &state.config);
    api
}

/// What the attributes cannot say: limits from the config, the text rule,
/// and file bodies as binary strings.
fn refine(doc: &mut utoipa::openapi::OpenApi, config: &crate::Config) {
    let text = || {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(format!(
                "At most {} characters (and bytes of UTF-8), with something visible; \
                 no control characters but tab and IRC formatting codes.",
                config.limits.max_message_bytes
            )))
            .min_length(Some(1))
            .max_length(Some(config.limits.max_message_bytes))
            .pattern(Some(api::TEXT_PATTERN))
            .build()
    };
    // A reason may be left out, null or blank (no reason); otherwise the
    // input rule for reasons: no control character but IRC formatting.
    let reason = || {
        ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                Type::String,
                Type::Null,
            ]))
            .description(Some(format!(
                "At most {} characters (and bytes of UTF-8); no control characters but tab and IRC formatting codes.",
                config.limits.max_reason_bytes
            )))
            .max_length(Some(config.limits.max_reason_bytes))
            .pattern(Some(api::REASON_PATTERN))
            .build()
    };
    if let Some(components) = &mut doc.components {
        for name in ["SendRequest", "AnnouncementRequest", "WallopsRequest"] {
            if let Some(RefOr::T(Schema::Object(obj))) = components.schemas.get_mut(name) {
                obj.properties
                    .insert("text".to_owned(), RefOr::T(Schema::Object(text())));
            }
        }
        for name in ["KillRequest", "KlineRequest", "SuspendRequest"] {
            if let Some(RefOr::T(Schema::Object(obj))) = components.schemas.get_mut(name) {
                obj.properties
                    .insert("reason".to_owned(), RefOr::T(Schema::Object(reason())));
            }
        }
    }
    let binary = |min: usize| {
        RefOr::T(Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
                .min_length(Some(min))
                .build(),
        ))
    };
    let file_path = format!("{}/{{id}}", crate::uploads::PATH);
    for (path, item) in doc.paths.paths.iter_mut() {
        // Every call with a login token, and the login itself, draws on
        // the flood limit (`extract::flood_check`).
        let ops = [
            item.get.as_mut(),
            item.post.as_mut(),
            item.put.as_mut(),
            item.patch.as_mut(),
            item.delete.as_mut(),
        ];
        for op in ops.into_iter().flatten() {
            if path == "/api/v1/login" || uses_token(op) {
                op.responses
                    .responses
                    .entry("429".to_owned())
                    .or_insert_with(too_many);
            }
        }
        if path == crate::uploads::PATH
            && let Some(body) = item.post.as_mut().and_then(|op| op.request_body.as_mut())
        {
            for content in body.content.values_mut() {
                content.schema = Some(binary(1));
            }
        }
        if *path == file_path
            && let Some(get) = item.get.as_mut()
        {
            for status in ["200", "206"] {
                if let Some(RefOr::T(ok)) = get.responses.responses.get_mut(status) {
                    // Any type at all (what the bytes were sniffed as).
                    let mut any = utoipa::openapi::content::Content::new(Some(binary(0)));
                    any.example = None;
                    ok.content.clear();
                    ok.content.insert("*/*".to_owned(), any);
                }
            }
        }
    }
}

/// Whether `op` takes a login token (its security names `token`).
fn uses_token(op: &utoipa::openapi::path::Operation) -> bool {
    op.security.as_ref().is_some_and(|reqs| {
        serde_json::to_value(reqs)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .any(|r| r.get("token").is_some())
    })
}

/// The flood limit's answer.
fn too_many() -> RefOr<utoipa::openapi::Response> {
    let body = utoipa::openapi::content::Content::new(Some(RefOr::Ref(
        utoipa::openapi::Ref::from_schema_name("ErrorResponse"),
    )));
    let wait = utoipa::openapi::header::HeaderBuilder::new()
        .schema(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1)),
        )
        .description(Some("Seconds to wait before trying again"))
        .build();
    RefOr::T(
        utoipa::openapi::ResponseBuilder::new()
            .description("Too many requests from this account or address: wait Retry-After seconds")
            .content("application/json", body)
            .header("Retry-After", wait)
            .build(),
    )
}

/// The API's routes, the document at [`SPEC_PATH`] and the docs page at
/// [`DOCS_PATH`].
pub fn router(state: &Shared) -> Router<Shared> {
    let (routes, doc) = api(state).split_for_parts();
    let docs = SwaggerUi::new(DOCS_PATH).url(SPEC_PATH, doc).config(
        Config::new([SPEC_PATH])
            // No badge fetched from validator.swagger.io: offline.
            .validator_url("none")
            .persist_authorization(true),
    );
    routes.merge(docs)
}

/// The document, as served (for tools and tests).
pub fn document(state: &Shared) -> utoipa::openapi::OpenApi {
    api(state).into_openapi()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use utoipa::openapi::RefOr;
    use utoipa::openapi::path::Operation;

    use super::*;
    use crate::Config;
    use crate::http::AppState;
    use crate::tokens::Tokens;

    fn state(dir: &std::path::Path) -> Shared {
        let config = Config {
            data_dir: dir.to_owned(),
            ..Config::default()
        };
        let hub = confab_core::Hub::new(config.hub_config().unwrap());
        let config = Arc::new(config);
        let gate = crate::flood::Gate::new(&config);
        let guard = crate::auth::Guard::new(crate::auth::GuardRule::from_config(&config.accounts));
        let (hub, _thread) = crate::hub_task::spawn_hub(
            hub,
            None,
            None,
            crate::hub_task::ForDoors {
                flood: gate,
                guard,
                cloak: Arc::new(crate::cloak::Cloak::off()),
                readers: None,
                parked: Default::default(),
            },
        );
        Arc::new(AppState {
            hub,
            config,
            tokens: Tokens::load_or_create(dir).unwrap(),
            uploads: crate::uploads::Index::open(&dir.join("uploads"), 0).unwrap(),
            limiter: Arc::new(crate::peer::Limiter::new(10, 10)),
        })
    }

    fn operations(doc: &utoipa::openapi::OpenApi) -> Vec<(String, &Operation)> {
        let mut out = Vec::new();
        for (path, item) in &doc.paths.paths {
            for (method, op) in [
                ("get", &item.get),
                ("post", &item.post),
                ("put", &item.put),
                ("delete", &item.delete),
            ] {
                if let Some(op) = op {
                    out.push((format!("{method} {path}"), op));
                }
            }
        }
        out
    }

    /// Each operation documents the refusals its extractors can make,
    /// every error with the JSON error body.
    #[tokio::test]
    async fn every_operation_documents_its_errors() {
        let dir = tempfile::tempdir().unwrap();
        let doc = document(&state(dir.path()));
        assert!(matches!(
            doc.openapi,
            utoipa::openapi::OpenApiVersion::Version31
        ));
        let ops = operations(&doc);
        assert!(
            ops.len() >= 14,
            "{:?}",
            ops.iter().map(|o| &o.0).collect::<Vec<_>>()
        );
        for (name, op) in ops {
            let statuses: Vec<&str> = op.responses.responses.keys().map(String::as_str).collect();
            if op.security.is_some() {
                assert!(statuses.contains(&"401"), "{name}: {statuses:?}");
            }
            let json_body = op
                .request_body
                .as_ref()
                .is_some_and(|b| b.content.contains_key("application/json"));
            if json_body {
                for s in ["400", "413", "415", "422"] {
                    assert!(statuses.contains(&s), "{name} lacks {s}: {statuses:?}");
                }
            }
            for (status, response) in &op.responses.responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    let json = response.content.get("application/json");
                    assert!(json.is_some(), "{name} {status} is not JSON");
                }
            }
        }
    }
}
