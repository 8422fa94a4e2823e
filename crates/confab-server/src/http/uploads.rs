//! Uploads: images and files people share, kept in `<data dir>/uploads`.
//!
//! `POST /api/v1/uploads` takes the raw file as the body (its type in
//! `Content-Type`, its name in `?name=`), at most `http.max_upload_bytes`.
//! The server picks the id (32 random hex digits) and stores the bytes as
//! `uploads/<id>` with a JSON sidecar `uploads/<id>.json` written last, so
//! an upload exists once its sidecar does. The client's file name is only
//! ever shown in `Content-Disposition`, reduced to a safe base name; paths
//! are built from the id alone, and an id that is not exactly 32 lowercase
//! hex digits is not found, so no request can reach another file.
//!
//! The type served is what the bytes are (sniffed with `infer`), not what
//! the client claimed; only when nothing is recognised does the claim
//! count. Nothing is ever served as HTML, SVG, XML or script (those become
//! `application/octet-stream`), every answer carries
//! `X-Content-Type-Options: nosniff` and a sandboxing CSP, and only images
//! sniffed as PNG, JPEG, GIF or WebP are `inline`: everything else is an
//! `attachment`.

use std::path::PathBuf;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY, CONTENT_TYPE,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{ApiPath, ApiQuery, AuthUser, check_length, too_large};
use super::openapi::ErrorResponse;
use super::{ApiError, Shared};

/// The uploads' directory, inside the data dir.
pub const DIR: &str = "uploads";
/// Longest file name kept, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Where uploads are served.
pub const PATH: &str = "/api/v1/uploads";

const OCTET: &str = "application/octet-stream";
const INLINE_IMAGES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];
/// The policy of every served upload: load nothing, run nothing.
pub const CSP: &str = "default-src 'none'; sandbox";

/// An upload as the API describes it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UploadInfo {
    /// 32 lowercase hex digits.
    pub id: String,
    /// The file name, made safe.
    pub name: String,
    /// The type it is served as.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Where it is served (`http.public_url` + path, or the path alone).
    pub url: String,
}

/// What is kept beside the bytes.
#[derive(Debug, Serialize, Deserialize)]
struct Sidecar {
    name: String,
    content_type: String,
    inline: bool,
    size: u64,
    uploader: String,
    time: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// The file's name (only its last path component is kept, made safe).
    pub name: Option<String>,
}

/// The request body of an upload, refused with 413 past
/// `http.max_upload_bytes`.
pub struct UploadBody(pub Bytes);

impl FromRequest<Shared> for UploadBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Shared) -> Result<Self, ApiError> {
        let limit = state.config.http.max_upload_bytes;
        check_length(req.headers(), limit)?;
        // Read past any smaller default limit, up to ours.
        let body = req.into_body();
        match axum::body::to_bytes(body, limit).await {
            Ok(bytes) => Ok(UploadBody(bytes)),
            // Over the limit (or the client went away mid-body, when
            // nobody reads the answer).
            Err(_) => Err(too_large(limit)),
        }
    }
}

/// Stores a file. The body is the file itself.
#[utoipa::path(
    post, path = "/api/v1/uploads", tag = "uploads",
    security(("token" = [])),
    params(UploadParams),
    request_body(
        content = Vec<u8>,
        content_type = "application/octet-stream",
        description = "The file's bytes; any Content-Type (the bytes decide what it is served as)"
    ),
    responses(
        (status = 201, description = "Stored", body = UploadInfo),
        (status = 400, description = "Empty body or bad query parameters", body = ErrorResponse),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 413, description = "Larger than http.max_upload_bytes", body = ErrorResponse),
        (status = 503, description = "Cannot store it now", body = ErrorResponse),
    )
)]
pub async fn create(
    State(state): State<Shared>,
    AuthUser(user): AuthUser,
    ApiQuery(params): ApiQuery<UploadParams>,
    headers: HeaderMap,
    UploadBody(bytes): UploadBody,
) -> Result<(StatusCode, Json<UploadInfo>), ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "empty_upload",
            "the body is empty: send the file's bytes",
        ));
    }
    let claimed = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let (content_type, inline) = classify(&bytes, claimed);
    let name = sanitize_name(params.name.as_deref().unwrap_or(""));
    let id = new_id();
    let size = bytes.len() as u64;
    let sidecar = Sidecar {
        name: name.clone(),
        content_type: content_type.clone(),
        inline,
        size,
        uploader: user.as_str().to_owned(),
        time: crate::hub_task::rfc3339(crate::hub_task::now()),
    };
    let dir = dir(&state);
    let file_id = id.clone();
    let stored = tokio::task::spawn_blocking(move || store(&dir, &file_id, &bytes, &sidecar))
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r);
    if let Err(e) = stored {
        tracing::error!(error = %e, "cannot store an upload");
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage",
            "cannot store the upload now",
        ));
    }
    let info = UploadInfo {
        url: url(&state, &id),
        id,
        name,
        content_type,
        size,
    };
    Ok((StatusCode::CREATED, Json(info)))
}

/// Serves an upload with headers that keep browsers from running it.
#[utoipa::path(
    get, path = "/api/v1/uploads/{id}", tag = "uploads",
    params(("id" = String, Path, description = "The upload's id (32 lowercase hex digits)",
        example = "0123456789abcdef0123456789abcdef")),
    responses(
        (status = 200, description = "The file",
            content_type = "application/octet-stream", body = Vec<u8>,
            headers(
                ("Content-Disposition" = String, description = "inline for PNG/JPEG/GIF/WebP, else attachment"),
                ("X-Content-Type-Options" = String, description = "nosniff"),
                ("Content-Security-Policy" = String, description = "default-src 'none'; sandbox"),
            )),
        (status = 404, description = "No such upload", body = ErrorResponse),
        (status = 503, description = "Cannot read it now", body = ErrorResponse),
    )
)]
pub async fn get(State(state): State<Shared>, ApiPath(id): ApiPath<String>) -> Response {
    match serve(&state, &id).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn serve(state: &Shared, id: &str) -> Result<Response, ApiError> {
    let sidecar = read_sidecar(state, id).await?;
    let path = dir(state).join(id);
    let bytes = match read(path.clone()).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing(id)),
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "cannot read an upload");
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage",
                "cannot read the upload now",
            ));
        }
    };
    // Checked again on the way out, whatever the sidecar says.
    let content_type = safe_type(&sidecar.content_type);
    let inline = sidecar.inline && INLINE_IMAGES.contains(&content_type.as_str());
    let disposition = disposition(inline, &sidecar.name);
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_str(&content_type).unwrap_or(HeaderValue::from_static(OCTET)),
    );
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(
        CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment")),
    );
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400, immutable"),
    );
    Ok((headers, bytes).into_response())
}

/// The link to upload `id` for a message, if it exists (else 404
/// `unknown_upload`): what the REST API and the WebSocket door append to
/// a message's text.
pub async fn link(state: &Shared, id: &str) -> Result<String, ApiError> {
    match read_sidecar(state, id).await {
        Ok(_) => Ok(url(state, id)),
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_upload",
            format!("there is no upload with the id {id:?}"),
        )),
        Err(e) => Err(e),
    }
}

/// Why a message could not take an upload's link.
pub enum AttachError {
    /// No such upload (or it cannot be read).
    Upload(ApiError),
    /// The text with the link is too long.
    Text(confab_core::TextError),
}

/// `text` with the link of upload `id` appended: how a message on any
/// door references a file (REST and WebSocket sends take an `upload`).
pub async fn attach(
    state: &Shared,
    text: &confab_core::Text,
    id: &str,
) -> Result<confab_core::Text, AttachError> {
    let link = link(state, id).await.map_err(AttachError::Upload)?;
    let with_link = format!("{} {link}", text.as_str());
    confab_core::Text::parse(&with_link, state.config.limits.max_message_bytes)
        .map_err(AttachError::Text)
}

/// Where upload `id` is served.
pub fn url(state: &Shared, id: &str) -> String {
    let base = state.config.http.public_url.trim_end_matches('/');
    format!("{base}{PATH}/{id}")
}

/// Reads a file on the blocking pool.
async fn read(path: PathBuf) -> std::io::Result<Vec<u8>> {
    tokio::task::spawn_blocking(move || std::fs::read(path))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

fn dir(state: &Shared) -> PathBuf {
    state.config.data_dir.join(DIR)
}

/// Whether `id` is one this server could have made.
pub fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn new_id() -> String {
    let mut raw = [0u8; 16];
    OsRng.fill_bytes(&mut raw);
    super::tokens::hex(&raw)
}

fn missing(id: &str) -> ApiError {
    let shown: String = id.chars().take(40).collect();
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_such_upload",
        format!("there is no upload {shown:?}"),
    )
}

async fn read_sidecar(state: &Shared, id: &str) -> Result<Sidecar, ApiError> {
    if !valid_id(id) {
        return Err(missing(id));
    }
    let path = dir(state).join(format!("{id}.json"));
    match read(path.clone()).await {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            tracing::error!(path = %path.display(), error = %e, "bad upload sidecar");
            missing(id)
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(missing(id)),
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "cannot read an upload");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage",
                "cannot read the upload now",
            ))
        }
    }
}

/// Writes the bytes, then the sidecar, each through a temporary file and
/// a rename, so a crash leaves no half upload that looks whole.
fn store(dir: &std::path::Path, id: &str, bytes: &[u8], sidecar: &Sidecar) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let write = |name: String, data: &[u8]| -> std::io::Result<()> {
        let tmp = dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, data)?;
        std::fs::rename(&tmp, dir.join(name))
    };
    write(id.to_owned(), bytes)?;
    let meta = serde_json::to_vec(sidecar).map_err(std::io::Error::other)?;
    write(format!("{id}.json"), &meta)
}

/// The type to serve `bytes` as, and whether it may show inline.
pub fn classify(bytes: &[u8], claimed: Option<&str>) -> (String, bool) {
    match infer::get(bytes) {
        Some(kind) => {
            let sniffed = kind.mime_type();
            let inline = INLINE_IMAGES.contains(&sniffed);
            (safe_type(sniffed), inline)
        }
        None => (claimed.map_or_else(|| OCTET.to_owned(), safe_type), false),
    }
}

/// `mime` reduced to `type/subtype`, or `application/octet-stream` when
/// it is malformed or something a browser could run or render as a page.
pub fn safe_type(mime: &str) -> String {
    let essence = mime
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    let well_formed = match essence.split_once('/') {
        Some((t, s)) => token(t) && token(s),
        None => false,
    };
    let dangerous = ["html", "xml", "svg", "script", "xsl"]
        .iter()
        .any(|w| essence.contains(w))
        || essence.starts_with("multipart/")
        || essence.starts_with("message/")
        || (essence.starts_with("text/") && essence != "text/plain" && essence != "text/csv");
    if well_formed && !dangerous {
        essence
    } else {
        OCTET.to_owned()
    }
}

/// A client's file name reduced to a safe base name: the last component
/// of any path, no control characters, quotes or leading dots, at most
/// [`MAX_NAME_CHARS`] characters; `upload` when nothing is left.
pub fn sanitize_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '\u{2028}' | '\u{2029}'))
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    let name: String = cleaned.chars().take(MAX_NAME_CHARS).collect();
    let name = name.trim_end().to_owned();
    if name.is_empty() || name.chars().all(|c| c == '.') {
        "upload".to_owned()
    } else {
        name
    }
}

/// `inline` or `attachment`, with the file name as ASCII and as UTF-8
/// (RFC 6266).
fn disposition(inline: bool, name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " .-_()+,".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b".-_".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let kind = if inline { "inline" } else { "attachment" };
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_safe_base_names() {
        assert_eq!(sanitize_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_name("..\\..\\boot.ini"), "boot.ini");
        assert_eq!(sanitize_name(".."), "upload");
        assert_eq!(sanitize_name(""), "upload");
        assert_eq!(sanitize_name("a/"), "upload");
        assert_eq!(sanitize_name(".hidden"), "hidden");
        assert_eq!(sanitize_name("we\"ird\r\nname.png"), "weirdname.png");
        assert_eq!(sanitize_name(&"x".repeat(300)).len(), MAX_NAME_CHARS);
        assert_eq!(sanitize_name("café.jpg"), "café.jpg");
    }

    #[test]
    fn ids() {
        let id = new_id();
        assert!(valid_id(&id), "{id}");
        assert_ne!(id, new_id());
        assert!(!valid_id("../../etc/passwd"));
        assert!(!valid_id(&id.to_uppercase()));
        assert!(!valid_id(&id[1..]));
    }

    #[test]
    fn types() {
        const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(classify(PNG, Some("text/html")), ("image/png".into(), true));
        assert_eq!(
            classify(b"<html><script>x</script></html>", Some("image/png")).0,
            OCTET
        );
        assert_eq!(
            classify(b"<svg xmlns=\"x\"/>", Some("image/svg+xml")),
            (OCTET.into(), false)
        );
        assert_eq!(
            classify(b"hello", Some("text/plain; charset=utf-8")),
            ("text/plain".into(), false)
        );
        assert_eq!(classify(b"hello", None), (OCTET.into(), false));
        assert_eq!(classify(b"hello", Some("TEXT/HTML")), (OCTET.into(), false));
        assert_eq!(classify(b"hello", Some("garbage")), (OCTET.into(), false));
        assert_eq!(safe_type("application/pdf"), "application/pdf");
        assert_eq!(safe_type("application/xhtml+xml"), OCTET);
        assert_eq!(safe_type("text/javascript"), OCTET);
    }

    #[test]
    fn dispositions() {
        assert_eq!(
            disposition(false, "a b\"é.txt"),
            "attachment; filename=\"a b__.txt\"; filename*=UTF-8''a%20b%22%C3%A9.txt"
        );
        assert!(disposition(true, "x.png").starts_with("inline; "));
    }
}
