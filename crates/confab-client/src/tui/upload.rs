//! `/upload FILE`: the file goes to `POST /api/v1/uploads?name=…` on the
//! server we are connected to (docs/rest.md), and the link it answers with
//! is what the app then sends. Uploads need an account's login token: a
//! token login has it, a password login gets one from `POST /api/v1/login`,
//! a guest is told to log in.
//!
//! A small HTTP/1.1 exchange over the same address as the WebSocket (every
//! confab listener speaks HTTP), one request per connection.

use std::path::Path;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::session::{ConnectOptions, Login};

/// Biggest answer read back (the JSON of an upload or a login is small).
const ANSWER_MAX: usize = 64 * 1024;

/// Uploads `path` and returns the link to post.
pub async fn upload(opts: &ConnectOptions, path: &Path) -> Result<String, String> {
    if opts.tls {
        return Err("/upload over TLS is not supported by this client yet".into());
    }
    let token = match &opts.login {
        Login::Token(t) => t.0.clone(),
        Login::Password { name, password } => {
            let body = serde_json::json!({"name": name, "password": password.0}).to_string();
            let (status, answer) = exchange(
                &opts.server,
                "POST",
                "/api/v1/login",
                None,
                "application/json",
                body.as_bytes(),
            )
            .await?;
            if status != 200 {
                return Err(format!(
                    "logging in for the upload failed: {}",
                    why(&answer)
                ));
            }
            answer
                .get("token")
                .and_then(|t| t.as_str())
                .ok_or("the login answer has no token")?
                .to_owned()
        }
        Login::Guest { .. } => {
            return Err("uploads need an account: log in with a password to share files".into());
        }
    };
    let owned = path.to_owned();
    let data = tokio::task::spawn_blocking(move || std::fs::read(owned))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let target = format!("/api/v1/uploads?name={}", percent_encode(&name));
    let (status, answer) = exchange(
        &opts.server,
        "POST",
        &target,
        Some(&token),
        "application/octet-stream",
        &data,
    )
    .await?;
    if status != 201 {
        return Err(format!("the upload was refused: {}", why(&answer)));
    }
    answer
        .get("url")
        .and_then(|u| u.as_str())
        .map(str::to_owned)
        .ok_or_else(|| "the upload answer has no url".into())
}

/// The server's `{"error": {"message"}}`, or what there is.
fn why(answer: &serde_json::Value) -> String {
    answer
        .pointer("/error/message")
        .and_then(|m| m.as_str())
        .map_or_else(|| answer.to_string(), str::to_owned)
}

/// Percent-encodes a query value (everything but unreserved characters).
fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One request, one answer: the status and the JSON body.
async fn exchange(
    server: &str,
    method: &str,
    target: &str,
    token: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Result<(u16, serde_json::Value), String> {
    let mut tcp = TcpStream::connect(server)
        .await
        .map_err(|e| format!("cannot connect to {server}: {e}"))?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {server}\r\n{auth}Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let io = |e: std::io::Error| format!("the upload failed: {e}");
    tcp.write_all(head.as_bytes()).await.map_err(io)?;
    tcp.write_all(body).await.map_err(io)?;
    let mut answer = Vec::new();
    tcp.take(ANSWER_MAX as u64)
        .read_to_end(&mut answer)
        .await
        .map_err(io)?;
    parse_answer(&answer)
}

/// Status and JSON body of an HTTP/1.1 answer (plain or chunked).
fn parse_answer(raw: &[u8]) -> Result<(u16, serde_json::Value), String> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("the server's answer was cut short")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or("the server's answer is not HTTP")?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    let json = serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body));
    Ok((status, json))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_plain_and_chunked() {
        let plain = b"HTTP/1.1 201 Created\r\ncontent-length: 12\r\n\r\n{\"url\":\"/u\"}";
        let (status, json) = parse_answer(plain).expect("parsed");
        assert_eq!(status, 201);
        assert_eq!(json["url"], "/u");
        let chunked =
            b"HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"err\r\n7\r\nor\":1}\r\n0\r\n\r\n";
        let (status, json) = parse_answer(chunked).expect("parsed");
        assert_eq!(status, 401);
        assert_eq!(json["error"], 1);
    }

    #[test]
    fn names_are_encoded() {
        assert_eq!(percent_encode("my photo&x=1.png"), "my%20photo%26x%3D1.png");
    }
}
