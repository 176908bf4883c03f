//! Mock I/O that hands out or takes a scripted number of bytes per call and returns `Pending`
//! (after waking the task) between every two calls.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How many bytes each call moves: cycles through `sizes` (each at least 1).
#[derive(Debug, Clone)]
pub struct Plan {
    sizes: Vec<usize>,
    at: usize,
}

impl Plan {
    /// One byte per call.
    pub fn one() -> Self {
        Self::sizes(vec![1])
    }

    /// Cycles through `sizes`; zeros count as one.
    pub fn sizes(sizes: Vec<usize>) -> Self {
        let sizes = if sizes.is_empty() { vec![1] } else { sizes };
        Self {
            sizes: sizes.into_iter().map(|s| s.max(1)).collect(),
            at: 0,
        }
    }

    pub fn next(&mut self) -> usize {
        let n = self.sizes[self.at % self.sizes.len()];
        self.at += 1;
        n
    }
}

/// Alternates `Pending` (with a wake-up) and `Ready`.
#[derive(Debug, Default)]
struct Toggle(bool);

impl Toggle {
    fn pending(&mut self, cx: &mut Context<'_>) -> bool {
        self.0 = !self.0;
        if self.0 {
            cx.waker().wake_by_ref();
        }
        self.0
    }
}

/// A reader of `data`, a few bytes at a time.
#[derive(Debug)]
pub struct MockReader {
    data: Bytes,
    plan: Plan,
    toggle: Toggle,
}

impl MockReader {
    pub fn new(data: impl Into<Bytes>, plan: Plan) -> Self {
        Self {
            data: data.into(),
            plan,
            toggle: Toggle::default(),
        }
    }
}

impl AsyncRead for MockReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.toggle.pending(cx) {
            return Poll::Pending;
        }
        let n = self.plan.next().min(self.data.len()).min(buf.remaining());
        let chunk = self.data.split_to(n);
        buf.put_slice(&chunk);
        Poll::Ready(Ok(()))
    }
}

/// A writer that collects what it is given, a few bytes at a time.
#[derive(Debug)]
pub struct MockWriter {
    pub data: Vec<u8>,
    pub shut_down: bool,
    plan: Plan,
    // One per operation: a shared one would let `poll_close` (flush, then shutdown) see
    // `Pending` from the shutdown forever.
    write: Toggle,
    flush: Toggle,
    shutdown: Toggle,
}

impl MockWriter {
    pub fn new(plan: Plan) -> Self {
        Self {
            data: Vec::new(),
            shut_down: false,
            plan,
            write: Toggle::default(),
            flush: Toggle::default(),
            shutdown: Toggle::default(),
        }
    }
}

impl AsyncWrite for MockWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        assert!(!self.shut_down, "write after shutdown");
        if self.write.pending(cx) {
            return Poll::Pending;
        }
        let n = self.plan.next().min(buf.len());
        self.data.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.flush.pending(cx) {
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.shutdown.pending(cx) {
            return Poll::Pending;
        }
        self.shut_down = true;
        Poll::Ready(Ok(()))
    }
}

/// A stream of `data` in chunks, `Pending` between items.
#[derive(Debug)]
pub struct MockStream {
    data: Bytes,
    plan: Plan,
    toggle: Toggle,
}

impl MockStream {
    pub fn new(data: impl Into<Bytes>, plan: Plan) -> Self {
        Self {
            data: data.into(),
            plan,
            toggle: Toggle::default(),
        }
    }
}

impl Stream for MockStream {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.toggle.pending(cx) {
            return Poll::Pending;
        }
        if self.data.is_empty() {
            return Poll::Ready(None);
        }
        let n = self.plan.next().min(self.data.len());
        Poll::Ready(Some(Ok(self.data.split_to(n))))
    }
}

/// Runs `f` to completion on the calling thread with a minimal executor (polling again at once
/// after every wake-up), inside a tokio runtime context so that `tokio::fs` (the verified
/// mode's spill file) finds its blocking pool. Tokio's own scheduler would consult its I/O and
/// time drivers at every `Pending` the mocks return, which costs more than the test itself.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::sync::OnceLock;
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let rt = RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime")
    });
    let _guard = rt.enter();
    futures::executor::block_on(f)
}
