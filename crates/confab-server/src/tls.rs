//! TLS with rustls (ring, no OpenSSL): the server's certificate, from PEM
//! files named in the config or self-signed for development, and a
//! [`Tls`] handle that hands out acceptors and reloads the files (on
//! SIGHUP) without dropping open connections.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;
use tracing::{error, info};

use crate::config::Config;

/// The self-signed certificate, written to the data dir so clients can
/// trust it (`curl --cacert`).
pub const SELF_SIGNED_CERT: &str = "tls-self-signed.pem";
/// Its private key, kept next to it (mode 0600) so restarts reuse it.
pub const SELF_SIGNED_KEY: &str = "tls-self-signed-key.pem";

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read TLS {what} {path}: {error}")]
    Read {
        what: &'static str,
        path: PathBuf,
        error: String,
    },
    #[error("TLS {what} {path} holds no {what}")]
    Empty { what: &'static str, path: PathBuf },
    #[error("TLS certificate and key do not work together: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("cannot write {path}: {error}")]
    Write { path: PathBuf, error: io::Error },
}

/// Where the certificate comes from.
#[derive(Debug, Clone)]
enum Source {
    Files { cert: PathBuf, key: PathBuf },
    SelfSigned { cert: PathBuf },
}

/// The server's TLS settings, swappable while the server runs. Cheap to
/// clone; every clone sees reloads.
#[derive(Clone)]
pub struct Tls {
    source: Source,
    current: Arc<RwLock<Arc<ServerConfig>>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("source", &self.source).finish()
    }
}

impl Tls {
    /// TLS as `config.tls` asks: `None` when it is off.
    pub fn from_config(config: &Config) -> Result<Option<Tls>, TlsError> {
        let tls = &config.tls;
        let (source, server_config) = match (&tls.cert, &tls.key) {
            (Some(cert), Some(key)) => {
                let source = Source::Files {
                    cert: cert.clone(),
                    key: key.clone(),
                };
                (source, load_files(cert, key)?)
            }
            _ if tls.self_signed => {
                let (cert, server_config) = self_signed(config)?;
                (Source::SelfSigned { cert }, server_config)
            }
            // `Config::validate` refuses a cert without a key and the like.
            _ => return Ok(None),
        };
        Ok(Some(Tls {
            source,
            current: Arc::new(RwLock::new(Arc::new(server_config))),
        }))
    }

    /// An acceptor with the current certificate.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.read().expect("not poisoned").clone())
    }

    /// The certificate in use: the PEM file it was read from (or written
    /// to, when self-signed).
    pub fn cert_path(&self) -> &Path {
        match &self.source {
            Source::Files { cert, .. } | Source::SelfSigned { cert } => cert,
        }
    }

    /// Reads the certificate and key files again. New connections get
    /// the new certificate; open ones keep theirs. On error (a missing,
    /// broken or mismatched file) the old certificate stays in use and the
    /// error is logged and returned. A self-signed certificate is kept as
    /// it is.
    pub fn reload(&self) -> Result<(), TlsError> {
        let Source::Files { cert, key } = &self.source else {
            info!("TLS: self-signed certificate kept");
            return Ok(());
        };
        match load_files(cert, key) {
            Ok(server_config) => {
                *self.current.write().expect("not poisoned") = Arc::new(server_config);
                info!(cert = %cert.display(), "TLS certificate reloaded");
                Ok(())
            }
            Err(e) => {
                error!(error = %e, "TLS reload failed; keeping the current certificate");
                Err(e)
            }
        }
    }
}

/// A rustls server config with one certificate chain, on the ring
/// provider (no process-wide default needed).
pub fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(config)
}

fn load_files(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    let read = |what, path: &Path, error: rustls_pki_types::pem::Error| TlsError::Read {
        what,
        path: path.to_owned(),
        error: error.to_string(),
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| read("certificate", cert, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read("certificate", cert, e))?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            what: "certificate",
            path: cert.to_owned(),
        });
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::Empty {
            what: "key",
            path: key.to_owned(),
        },
        e => read("key", key, e),
    })?;
    server_config(certs, key_der)
}

/// The names a self-signed certificate is good for: this machine, and the
/// configured IRC server name.
fn self_signed_names(config: &Config) -> Vec<String> {
    let mut names: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(str::to_owned).into();
    if !names.contains(&config.irc.server_name) {
        names.push(config.irc.server_name.clone());
    }
    names
}

/// The data dir's self-signed certificate: reused if both files are there
/// and work, else generated and written. Returns the certificate's path.
fn self_signed(config: &Config) -> Result<(PathBuf, ServerConfig), TlsError> {
    let cert_path = config.data_dir.join(SELF_SIGNED_CERT);
    let key_path = config.data_dir.join(SELF_SIGNED_KEY);
    if cert_path.is_file() && key_path.is_file() {
        match load_files(&cert_path, &key_path) {
            Ok(c) => return Ok((cert_path, c)),
            Err(e) => info!(error = %e, "generating a new self-signed certificate"),
        }
    }
    let generated = rcgen::generate_simple_self_signed(self_signed_names(config))?;
    let key_pem = generated.key_pair.serialize_pem();
    write_private(&key_path, key_pem.as_bytes())?;
    std::fs::write(&cert_path, generated.cert.pem()).map_err(|error| TlsError::Write {
        path: cert_path.clone(),
        error,
    })?;
    info!(cert = %cert_path.display(), "generated a self-signed TLS certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(generated.key_pair.serialize_der()));
    let server = server_config(vec![generated.cert.der().clone()], key)?;
    Ok((cert_path, server))
}

/// Writes a file only its owner may read.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    crate::files::write_private(path, bytes).map_err(|error| TlsError::Write {
        path: path.to_owned(),
        error,
    })
}

/// Whether a connection's first bytes open a TLS handshake: a handshake
/// record (22) of TLS 1.x (major version 3).
pub fn looks_like_tls(first: &[u8]) -> bool {
    matches!(first, [0x16] | [0x16, 0x03, ..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_hello_is_tls_and_text_is_not() {
        assert!(looks_like_tls(&[0x16, 0x03, 0x01, 0x02, 0x00]));
        assert!(looks_like_tls(&[0x16]));
        for no in [&b"GET / HTTP/1.1"[..], b"NICK a", b"", b"\x16\x01"] {
            assert!(!looks_like_tls(no), "{no:?}");
        }
    }

    #[test]
    fn self_signed_is_written_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_owned(),
            tls: crate::config::TlsConfig {
                self_signed: true,
                ..Default::default()
            },
            ..Config::default()
        };
        let tls = Tls::from_config(&config).unwrap().unwrap();
        let pem = std::fs::read(tls.cert_path()).unwrap();
        assert!(pem.starts_with(b"-----BEGIN CERTIFICATE-----"));
        let again = Tls::from_config(&config).unwrap().unwrap();
        assert_eq!(std::fs::read(again.cert_path()).unwrap(), pem);
        tls.reload().unwrap();
    }

    #[test]
    fn missing_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            tls: crate::config::TlsConfig {
                cert: Some(dir.path().join("nope.pem")),
                key: Some(dir.path().join("nope.key")),
                self_signed: false,
                ..Default::default()
            },
            ..Config::default()
        };
        let e = Tls::from_config(&config).unwrap_err().to_string();
        assert!(e.contains("nope.pem"), "{e}");
    }
}
