//! [`Rewind`]: a stream whose first bytes were already read (to detect the
//! protocol) and are handed out again before the rest.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A byte stream a door can serve: TCP, TLS over TCP, or either with its
/// first bytes rewound.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// `inner`, with `prefix` read first.
pub struct Rewind<S> {
    /// Boxed, and none once read: every connection's task holds its
    /// stream, and the prefix is nearly always read before a door's loop
    /// begins (24 bytes less in each task, see `irc::conn::Conn::due`).
    prefix: Option<Box<Bytes>>,
    inner: S,
}

impl<S> Rewind<S> {
    pub fn new(prefix: Bytes, inner: S) -> Rewind<S> {
        let prefix = (!prefix.is_empty()).then(|| Box::new(prefix));
        Rewind { prefix, inner }
    }

    /// Nothing is left to rewind.
    pub fn is_plain(&self) -> bool {
        self.prefix.is_none()
    }

    /// The stream itself, if nothing is left to rewind (else it back).
    pub fn into_plain(self) -> Result<S, Self> {
        match self.prefix {
            None => Ok(self.inner),
            Some(_) => Err(self),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(prefix) = &mut self.prefix {
            let n = prefix.len().min(buf.remaining());
            buf.put_slice(&prefix[..n]);
            prefix.advance(n);
            if prefix.is_empty() {
                self.prefix = None;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// `prefix` rewound before a stream that says `rest` and ends.
    async fn rewound(prefix: &'static [u8], rest: &[u8]) -> Rewind<tokio::io::DuplexStream> {
        let (mut a, b) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut a, rest)
            .await
            .unwrap();
        drop(a);
        Rewind::new(Bytes::from_static(prefix), b)
    }

    #[tokio::test]
    async fn prefix_comes_first_then_the_stream() {
        let mut r = rewound(b"hello", b" world").await;
        let mut out = String::new();
        r.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "hello world");
    }

    #[tokio::test]
    async fn a_prefix_read_in_pieces_is_read_whole_and_in_order() {
        let mut r = rewound(b"hello", b"!").await;
        let mut got = Vec::new();
        let mut piece = [0u8; 2];
        loop {
            let n = r.read(&mut piece).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&piece[..n]);
        }
        assert_eq!(got, b"hello!");
        assert!(r.prefix.is_none(), "the prefix goes once read");
    }
}
