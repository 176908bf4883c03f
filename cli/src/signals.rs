//! The signals that end a run early: SIGINT (Ctrl-C), SIGTERM (`kill`, `timeout`, systemd,
//! Kubernetes) and SIGHUP (the terminal went away).
//!
//! Their handlers are installed before any output is created, so none of them can kill the
//! process with its default action while a temporary output exists. When one arrives, the work
//! future is dropped (which removes every temporary output) and the process exits with
//! 128 + the signal number, as shells report a process killed by that signal.

/// The signals being watched, installed by [`Signals::install`].
#[cfg(unix)]
pub struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    /// Installs the handlers now (not on first poll). Call inside the runtime.
    pub fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// Waits for the first of the watched signals; returns its number and name.
    pub async fn recv(&mut self) -> (i32, &'static str) {
        tokio::select! {
            _ = self.interrupt.recv() => (libc::SIGINT, "SIGINT"),
            _ = self.terminate.recv() => (libc::SIGTERM, "SIGTERM"),
            _ = self.hangup.recv() => (libc::SIGHUP, "SIGHUP"),
        }
    }
}

/// Ctrl-C only, on platforms without Unix signals.
#[cfg(not(unix))]
pub struct Signals {
    ctrl_c: std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>>>>,
}

#[cfg(not(unix))]
impl Signals {
    /// Installs the Ctrl-C handler now (it is installed on first poll).
    pub fn install() -> std::io::Result<Self> {
        let mut ctrl_c: std::pin::Pin<Box<dyn std::future::Future<Output = _>>> =
            Box::pin(tokio::signal::ctrl_c());
        let waker = std::task::Waker::noop();
        let _ = ctrl_c
            .as_mut()
            .poll(&mut std::task::Context::from_waker(waker));
        Ok(Self { ctrl_c })
    }

    /// Waits for Ctrl-C; returns the number shells use for SIGINT and its name.
    pub async fn recv(&mut self) -> (i32, &'static str) {
        let _ = (&mut self.ctrl_c).await;
        (2, "SIGINT")
    }
}
