//! Uploads: images and files people share, kept in `<data dir>/uploads`.
//!
//! `POST /api/v1/uploads` takes the raw file as the body (its type in
//! `Content-Type`, its name in `?name=`), at most `http.max_upload_bytes`.
//! The body is streamed to a temporary file (`uploads/<id>.tmp`, mode
//! 0600, in a 0700 directory) as it arrives, never held whole in memory;
//! the limits are checked before reading and again while streaming: the
//! size, the uploader's quota (`http.upload_quota_bytes`, counting bytes
//! still in flight), uploads per hour (`http.uploads_per_hour`), and the
//! free-disk floor (`http.upload_min_free_bytes`). Only a complete body is
//! renamed into place; a refused, failed or abandoned upload (the client
//! went away and the request was dropped) leaves nothing behind.
//! [`crate::uploads::Index`] keeps every upload's owner and size in
//! memory for those checks.
//!
//! The server picks the id (32 random hex digits) and stores the bytes as
//! `uploads/<id>` with a JSON sidecar `uploads/<id>.json` written last, so
//! an upload exists once its sidecar does. The client's file name is only
//! ever shown in `Content-Disposition`, reduced to a safe base name; paths
//! are built from the id alone, and an id that is not exactly 32 lowercase
//! hex digits is not found, so no request can reach another file.
//! `DELETE` removes an upload, for its uploader or the admin.
//!
//! The type served is what the first bytes are (sniffed with `infer`), not
//! what the client claimed; only when nothing is recognised does the claim
//! count. Nothing is ever served as HTML, SVG, XML or script (those become
//! `application/octet-stream`), every answer carries
//! `X-Content-Type-Options: nosniff` and a sandboxing CSP, and only images
//! sniffed as PNG, JPEG, GIF or WebP are `inline`: everything else is an
//! `attachment`. Files are streamed from disk, whole or one byte range.

use std::path::PathBuf;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, State};
use axum::http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_RANGE,
    CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_RANGE, RANGE, RETRY_AFTER,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use confab_core::NickKey;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use utoipa::{IntoParams, ToSchema};

use super::errors::ErrorResponse;
use super::extract::{Admin, ApiPath, ApiQuery, AuthUser, check_length, too_large};
use super::{ApiError, Shared};
use crate::uploads::{DIR, Refusal, Rule, Sidecar, Take, free_space, url, valid_id};

/// Longest file name kept, in characters.
pub const MAX_NAME_CHARS: usize = 100;

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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// The file's name (only its last path component is kept, made safe).
    pub name: Option<String>,
}

/// Bytes of the start of a file kept to sniff its type.
const SNIFF_BYTES: usize = 8192;
/// How often, in bytes received, the free-disk floor is checked again
/// while an upload streams in.
const DISK_CHECK_BYTES: u64 = 1024 * 1024;
/// Size of the chunks a file is served in.
const READ_CHUNK: usize = 64 * 1024;

/// The limits of `state`'s config.
fn rule(state: &Shared) -> Rule {
    Rule {
        quota_bytes: state.config.http.upload_quota_bytes,
        per_hour: state.config.http.uploads_per_hour,
    }
}

/// A refusal of the upload index as the API answers it.
fn refused(refusal: Refusal) -> Response {
    match refusal {
        Refusal::Rate(wait) => {
            let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
            (
                [(RETRY_AFTER, secs.to_string())],
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_uploads",
                    format!("too many uploads in the last hour; try again in {secs} s"),
                ),
            )
                .into_response()
        }
        Refusal::Quota { used, quota } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "quota_exceeded",
            format!(
                "your uploads would take more than your quota of {quota} bytes \
                 ({used} in use): delete some first"
            ),
        )
        .into_response(),
    }
}

fn disk_full() -> ApiError {
    ApiError::new(
        StatusCode::INSUFFICIENT_STORAGE,
        "disk_full",
        "the server is short of disk space: uploads are refused for now",
    )
}

fn storage(e: &std::io::Error) -> ApiError {
    if e.kind() == std::io::ErrorKind::StorageFull {
        return disk_full();
    }
    tracing::error!(error = %e, "cannot store an upload");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "storage",
        "cannot store the upload now",
    )
}

/// Refuses when `incoming` more bytes would leave less than
/// `http.upload_min_free_bytes` free where uploads are kept.
fn check_disk(state: &Shared, incoming: u64) -> Result<(), ApiError> {
    let floor = state.config.http.upload_min_free_bytes;
    if floor == 0 {
        return Ok(());
    }
    match free_space(state.uploads.dir()) {
        Ok(free) if free.saturating_sub(incoming) >= floor => Ok(()),
        Ok(free) => {
            tracing::warn!(
                free,
                floor,
                incoming,
                "upload refused: disk space below the floor"
            );
            Err(disk_full())
        }
        Err(e) => Err(storage(&e)),
    }
}

/// An upload in progress: its temporary file, and the bytes it holds of
/// its uploader's quota. Dropped before [`Incoming::finish`] (refused,
/// failed, or the client went away and the request was dropped), it
/// removes the file and gives the bytes back: nothing is left behind.
struct Incoming {
    state: Shared,
    user: String,
    id: String,
    reserved: u64,
    done: bool,
}

impl Incoming {
    fn tmp(&self) -> PathBuf {
        self.state.uploads.dir().join(format!("{}.tmp", self.id))
    }

    /// Puts the file in place and writes its sidecar (each through a
    /// rename, the sidecar last: an upload exists once its sidecar does),
    /// then counts it. Blocking.
    fn finish(mut self, sidecar: &Sidecar) -> std::io::Result<()> {
        let dir = self.state.uploads.dir().to_owned();
        let file = dir.join(&self.id);
        std::fs::rename(self.tmp(), &file)?;
        let meta = serde_json::to_vec(sidecar).map_err(std::io::Error::other)?;
        let tmp = dir.join(format!("{}.json.tmp", self.id));
        let written = crate::files::write_private(&tmp, &meta)
            .and_then(|()| std::fs::rename(&tmp, dir.join(format!("{}.json", self.id))));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            let _ = std::fs::remove_file(&file);
            return Err(e);
        }
        self.state
            .uploads
            .commit(&self.id, &self.user, self.reserved);
        self.done = true;
        Ok(())
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(self.tmp());
            self.state.uploads.release(&self.user, self.reserved);
        }
    }
}

/// Creates a new file only its owner may read or write.
async fn create_private(path: &std::path::Path) -> std::io::Result<tokio::fs::File> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path).await
}

/// Stores a file. The body is the file itself, streamed to disk as it
/// arrives.
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
        (status = 400, description = "Empty body, bad query parameters or a body that could not be read", body = ErrorResponse),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 403, description = "The account is suspended or banned from the server", body = ErrorResponse),
        (status = 413, description = "Larger than http.max_upload_bytes (too_large), or over the \
            account's http.upload_quota_bytes (quota_exceeded)", body = ErrorResponse),
        (status = 429, description = "Over the flood limit (too_many_requests) or \
            http.uploads_per_hour (too_many_uploads): wait Retry-After seconds", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
        (status = 503, description = "Cannot store it now", body = ErrorResponse),
        (status = 507, description = "Free disk space below http.upload_min_free_bytes (disk_full)", body = ErrorResponse),
    )
)]
pub async fn create(
    State(state): State<Shared>,
    AuthUser(user): AuthUser,
    ApiQuery(params): ApiQuery<UploadParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<UploadInfo>), Response> {
    // A suspended or K-lined account stores nothing.
    super::session::standing(&state, &user).await?;
    let limit = state.config.http.max_upload_bytes;
    check_length(&headers, limit).map_err(IntoResponse::into_response)?;
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared == Some(0) {
        return Err(empty().into_response());
    }
    check_disk(&state, declared.unwrap_or(0)).map_err(IntoResponse::into_response)?;
    let owner = user.as_str().to_owned();
    let rule = rule(&state);
    // From here the upload counts against the hour, finished or not.
    state
        .uploads
        .admit(&owner, crate::time::now().0, declared, rule)
        .map_err(refused)?;

    let mut incoming = Incoming {
        state: state.clone(),
        user: owner.clone(),
        id: new_id(),
        reserved: 0,
        done: false,
    };
    let mut file = create_private(&incoming.tmp())
        .await
        .map_err(|e| storage(&e).into_response())?;
    let mut head = Vec::new();
    let mut since_check = 0u64;
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_body",
                format!("could not read the request body: {e}"),
            )
            .into_response()
        })?;
        let n = chunk.len() as u64;
        if incoming.reserved + n > limit as u64 {
            return Err(too_large(limit).into_response());
        }
        state.uploads.reserve(&owner, n, rule).map_err(refused)?;
        incoming.reserved += n;
        if head.len() < SNIFF_BYTES {
            let take = chunk.len().min(SNIFF_BYTES - head.len());
            head.extend_from_slice(&chunk[..take]);
        }
        since_check += n;
        if since_check >= DISK_CHECK_BYTES {
            since_check = 0;
            check_disk(&state, 0).map_err(IntoResponse::into_response)?;
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| storage(&e).into_response())?;
    }
    if incoming.reserved == 0 {
        return Err(empty().into_response());
    }
    let synced = match file.flush().await {
        Ok(()) => file.sync_data().await,
        Err(e) => Err(e),
    };
    synced.map_err(|e| storage(&e).into_response())?;
    drop(file);

    let claimed = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let (content_type, inline) = classify(&head, claimed);
    let name = sanitize_name(params.name.as_deref().unwrap_or(""));
    let size = incoming.reserved;
    let sidecar = Sidecar {
        name: name.clone(),
        content_type: content_type.clone(),
        inline,
        size,
        uploader: owner,
        time: crate::time::rfc3339(crate::time::now()),
    };
    let id = incoming.id.clone();
    // On the blocking pool, whole: once every byte is in, the upload
    // completes (or is cleaned up) even if the client goes away now.
    tokio::task::spawn_blocking(move || incoming.finish(&sidecar))
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r)
        .map_err(|e| storage(&e).into_response())?;
    let info = UploadInfo {
        url: url(&state.config, &id),
        id,
        name,
        content_type,
        size,
    };
    Ok((StatusCode::CREATED, Json(info)))
}

fn empty() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "empty_upload",
        "the body is empty: send the file's bytes",
    )
}

/// Serves an upload with headers that keep browsers from running it,
/// streamed from disk.
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
                ("Accept-Ranges" = String, description = "bytes"),
                ("ETag" = String, description = "The id, quoted: uploads never change"),
            )),
        (status = 206, description = "The part of the file asked for by a single `Range: bytes=…` \
            (with `If-Range`, only when it matches the ETag)",
            content_type = "application/octet-stream", body = Vec<u8>,
            headers(
                ("Content-Range" = String, description = "bytes first-last/length"),
                ("X-Content-Type-Options" = String, description = "nosniff"),
                ("Content-Security-Policy" = String, description = "default-src 'none'; sandbox"),
            )),
        (status = 404, description = "No such upload", body = ErrorResponse),
        (status = 416, description = "The range is outside the file (range_not_satisfiable)",
            body = ErrorResponse,
            headers(("Content-Range" = String, description = "bytes */length"))),
        (status = 503, description = "Cannot read it now", body = ErrorResponse),
    )
)]
pub async fn get(
    State(state): State<Shared>,
    ApiPath(id): ApiPath<String>,
    request: HeaderMap,
) -> Response {
    match serve(&state, &id, &request).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// What a `Range` header asks of a file of some length.
#[derive(Debug, PartialEq, Eq)]
pub enum Ranged {
    /// The whole file: no `Range`, one that is malformed or asks for
    /// several ranges (which confab does not serve), or an `If-Range`
    /// that does not match.
    Full,
    /// The bytes `start..=end`.
    Part(u64, u64),
    /// Nothing of the file (416).
    Unsatisfiable,
}

/// Reads one `bytes=` range (`a-b`, `a-` or `-n`, RFC 9110) against a
/// file of `len` bytes.
pub fn parse_range(header: &str, len: u64) -> Ranged {
    let Some((unit, spec)) = header.trim().split_once('=') else {
        return Ranged::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return Ranged::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ranged::Full;
    };
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match number(suffix) {
            Some(0) => Ranged::Unsatisfiable,
            Some(_) if len == 0 => Ranged::Unsatisfiable,
            Some(n) => Ranged::Part(len.saturating_sub(n), len - 1),
            None => Ranged::Full,
        },
        (first, "") => match number(first) {
            Some(a) if a < len => Ranged::Part(a, len - 1),
            Some(_) => Ranged::Unsatisfiable,
            None => Ranged::Full,
        },
        (first, last) => match (number(first), number(last)) {
            (Some(a), Some(b)) if a <= b && a < len => Ranged::Part(a, b.min(len - 1)),
            (Some(a), Some(b)) if a <= b => Ranged::Unsatisfiable,
            _ => Ranged::Full,
        },
    }
}

async fn serve(state: &Shared, id: &str, request: &HeaderMap) -> Result<Response, ApiError> {
    let sidecar = read_sidecar(state, id).await?;
    let path = dir(state).join(id);
    let cannot_read = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::NotFound {
            return missing(id);
        }
        tracing::error!(path = %path.display(), error = %e, "cannot read an upload");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage",
            "cannot read the upload now",
        )
    };
    let mut file = tokio::fs::File::open(&path).await.map_err(cannot_read)?;
    let len = file.metadata().await.map_err(cannot_read)?.len();
    // Uploads never change, so the id is a strong validator.
    let etag = format!("\"{id}\"");
    let if_range_ok = request
        .get(IF_RANGE)
        .is_none_or(|v| v.to_str().is_ok_and(|v| v.trim() == etag));
    let ranged = match request.get(RANGE).and_then(|v| v.to_str().ok()) {
        Some(range) if if_range_ok => parse_range(range, len),
        _ => Ranged::Full,
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
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(ETAG, v);
    }
    let (status, start, end) = match ranged {
        Ranged::Full => (StatusCode::OK, 0, len),
        Ranged::Part(start, last) => {
            let range = format!("bytes {start}-{last}/{len}");
            if let Ok(v) = HeaderValue::from_str(&range) {
                headers.insert(CONTENT_RANGE, v);
            }
            (StatusCode::PARTIAL_CONTENT, start, last + 1)
        }
        Ranged::Unsatisfiable => {
            let range = format!("bytes */{len}");
            let refusal = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("the range is outside the file's {len} bytes"),
            );
            return Ok(([(CONTENT_RANGE, range)], refusal).into_response());
        }
    };
    headers.insert(CONTENT_LENGTH, HeaderValue::from(end - start));
    if start > 0 {
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(cannot_read)?;
    }
    let body = Body::from_stream(chunks_of(file.take(end - start)));
    Ok((status, headers, body).into_response())
}

/// A file as a stream of chunks of at most [`READ_CHUNK`] bytes, ending at
/// the first error.
fn chunks_of<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
    file: R,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        match file.read_buf(&mut buf).await {
            Ok(0) => None,
            Ok(_) => Some((Ok(buf.freeze()), Some(file))),
            Err(e) => Some((Err(e), None)),
        }
    })
}

/// Who may delete an upload: its uploader (login token) or the admin
/// (admin token).
pub enum Deleter {
    Admin,
    User(NickKey),
}

impl FromRequestParts<Shared> for Deleter {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Response> {
        if Admin::from_request_parts(parts, state).await.is_ok() {
            return Ok(Deleter::Admin);
        }
        let AuthUser(user) = AuthUser::from_request_parts(parts, state).await?;
        Ok(Deleter::User(user))
    }
}

/// Deletes an upload: its file, its sidecar, and its bytes from its
/// uploader's quota. Links to it in messages then lead to 404.
#[utoipa::path(
    delete, path = "/api/v1/uploads/{id}", tag = "uploads",
    security(("token" = []), ("admin" = [])),
    params(("id" = String, Path, description = "The upload's id (32 lowercase hex digits)",
        example = "0123456789abcdef0123456789abcdef")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid login or admin token", body = ErrorResponse),
        (status = 403, description = "Neither its uploader nor the admin", body = ErrorResponse),
        (status = 404, description = "No such upload", body = ErrorResponse),
        (status = 503, description = "Cannot delete it now", body = ErrorResponse),
    )
)]
pub async fn delete(
    State(state): State<Shared>,
    who: Deleter,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    if !valid_id(&id) {
        return Err(missing(&id));
    }
    // Taken out of the index first, so two deletes cannot both succeed.
    let may = |owner: &str| match &who {
        Deleter::Admin => true,
        Deleter::User(user) => user.as_str() == owner,
    };
    let (owner, size) = match state.uploads.take(&id, may) {
        Ok(taken) => taken,
        Err(Take::Missing) => return Err(missing(&id)),
        Err(Take::Forbidden) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "only its uploader or the admin may delete an upload",
            ));
        }
    };
    let dir = dir(&state);
    let file_id = id.clone();
    let gone = |r: std::io::Result<()>| match r {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    };
    // The sidecar first: the upload is gone once it is. Should the file
    // itself stay behind, the next start removes it.
    let removed = tokio::task::spawn_blocking(move || {
        gone(std::fs::remove_file(dir.join(format!("{file_id}.json"))))?;
        if let Err(e) = gone(std::fs::remove_file(dir.join(&file_id))) {
            tracing::warn!(id = %file_id, error = %e, "cannot remove a deleted upload's file");
        }
        Ok::<(), std::io::Error>(())
    })
    .await
    .map_err(std::io::Error::other)
    .and_then(|r| r);
    if let Err(e) = removed {
        state.uploads.restore(&id, &owner, size);
        tracing::error!(%id, error = %e, "cannot delete an upload");
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage",
            "cannot delete the upload now",
        ));
    }
    let by = match who {
        Deleter::Admin => "the admin",
        Deleter::User(_) => "its uploader",
    };
    tracing::info!(%id, uploader = %owner, by, "upload deleted");
    Ok(StatusCode::NO_CONTENT)
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

fn new_id() -> String {
    let mut raw = [0u8; 16];
    OsRng.fill_bytes(&mut raw);
    crate::tokens::hex(&raw)
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
    fn ranges() {
        use Ranged::*;
        assert_eq!(parse_range("bytes=0-9", 100), Part(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), Part(90, 99));
        assert_eq!(parse_range("bytes=90-1000", 100), Part(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), Part(90, 99));
        assert_eq!(parse_range("bytes=-1000", 100), Part(0, 99));
        assert_eq!(parse_range("Bytes = 5-5", 100), Part(5, 5));
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=100-200", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-5", 0), Unsatisfiable);
        for ignored in [
            "bytes=0-1,5-6",
            "bytes=9-2",
            "bytes=x-",
            "bytes=+1-2",
            "lines=0-1",
            "bytes",
            "bytes=-",
            "",
        ] {
            assert_eq!(parse_range(ignored, 100), Full, "{ignored}");
        }
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
