//! Guest stdout/stderr, as `spin up` shows them: both go to the host's stderr unchanged, with no
//! prefix (Spin's `ComponentStdioWriter` in `crates/trigger/src/cli/stdio.rs` forwards the
//! bytes as written, for every followed component, which is all of them by default; a line that
//! names its component has to say so itself, as the components' JSON log lines do). Spin also
//! appends them to `.spin/logs/<component-id>_stdout.txt` / `_stderr.txt`; this host does not
//! keep log files. Output is forwarded line by line, so that lines of concurrent instances
//! never interleave (Spin gets the same from guests that write a line with one `write`), and
//! synchronously: a guest's `blocking-write-and-flush` of a line is one host `write`, with no
//! background task per stream (wasmtime's default adapter spawns one for every instance that
//! touches stdout, which cost a request that logs a line ~0.1 ms of host CPU).

use std::io::Write as _;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// The permit `check-write` grants (what wasmtime's own stdio streams grant).
const WRITE_PERMIT: usize = 64 * 1024;

#[derive(Clone, Default)]
pub struct LogStream;

impl LogStream {
    pub fn new() -> Self {
        Self
    }
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            pending: Vec::new(),
        })
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(LineWriter {
            pending: Vec::new(),
        })
    }
}

/// Buffers a partial line until its newline arrives (or the stream is dropped).
struct LineWriter {
    pending: Vec<u8>,
}

impl LineWriter {
    /// Writes `bytes` (whole lines, or the unterminated rest at the end) in one piece.
    fn emit(bytes: &[u8]) {
        // Logging must never fail the guest: ignore a closed stderr.
        let _ = std::io::stderr().lock().write_all(bytes);
    }

    fn emit_complete_lines(&mut self) {
        if let Some(last) = self.pending.iter().rposition(|b| *b == b'\n') {
            let lines: Vec<u8> = self.pending.drain(..=last).collect();
            Self::emit(&lines);
        }
    }
}

impl OutputStream for LineWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.pending.extend_from_slice(&bytes);
        self.emit_complete_lines();
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LineWriter {
    async fn ready(&mut self) {}
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.pending.extend_from_slice(buf);
        self.emit_complete_lines();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let mut rest = std::mem::take(&mut self.pending);
            rest.push(b'\n');
            Self::emit(&rest);
        }
    }
}
