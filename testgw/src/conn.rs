//! Per-connection state and the socket wrapper that lets a response reset its connection.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::throttle::Pacer;

/// Shared by the requests of one TCP connection.
#[derive(Debug)]
pub(crate) struct ConnState {
    pub pacer: Option<Pacer>,
    reset: AtomicBool,
}

impl ConnState {
    pub fn new(bandwidth: Option<u64>) -> Self {
        ConnState {
            pacer: bandwidth.map(Pacer::new),
            reset: AtomicBool::new(false),
        }
    }

    /// Makes the coming close of this connection an RST instead of a FIN.
    pub fn reset_on_close(&self) {
        self.reset.store(true, Ordering::Relaxed);
    }
}

/// The accepted socket as hyper sees it. hyper owns and drops it; when a fault asked for a
/// reset, dropping it with SO_LINGER 0 makes the kernel send RST.
pub(crate) struct ConnIo {
    pub stream: TcpStream,
    pub state: std::sync::Arc<ConnState>,
}

impl Drop for ConnIo {
    fn drop(&mut self) {
        if self.state.reset.load(Ordering::Relaxed) {
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
