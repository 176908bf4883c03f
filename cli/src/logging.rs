//! `-v`…`-vvvv` and `-q`: log levels on stderr through `tracing`, and the detail of errors.
//!
//! | flags | esdk | AWS SDK crates |
//! |---|---|---|
//! | `-q` | errors | off |
//! | (none) | warnings | off |
//! | `-v` | info (+ the full cause of a failure) | off |
//! | `-vv` | debug | off |
//! | `-vvv` | debug | info |
//! | `-vvvv` | debug | debug |
//!
//! As the official CLI, the first two levels are esdk's own and the next two open the AWS SDK's
//! logs. Trace level is never enabled: it is where HTTP bodies (KMS data keys) could appear.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Installs the stderr logger for `verbosity` (`-v` count) and `quiet`.
pub fn init(verbosity: u8, quiet: bool) {
    let ours = match (quiet, verbosity) {
        (true, _) => LevelFilter::ERROR,
        (false, 0) => LevelFilter::WARN,
        (false, 1) => LevelFilter::INFO,
        _ => LevelFilter::DEBUG,
    };
    let others = match (quiet, verbosity) {
        (true, _) | (false, 0..=2) => LevelFilter::OFF,
        (false, 3) => LevelFilter::INFO,
        _ => LevelFilter::DEBUG,
    };
    let filter = Targets::new()
        .with_target("esdk", ours)
        .with_default(others);
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(filter)
        .try_init();
}

/// The first cause of `e` that is not esdk's own error (whose text the message already
/// shows), with that cause's own causes: with `-v`, a service error's full SDK error (HTTP
/// status, request id, headers).
pub fn detail(e: &esdk::Error) -> Option<String> {
    use esdk::error::{AuthError, FormatError, KeyringError, LimitError, PolicyError};
    let mut next = std::error::Error::source(e);
    while let Some(cause) = next {
        let ours = cause.is::<esdk::Error>()
            || cause.is::<KeyringError>()
            || cause.is::<FormatError>()
            || cause.is::<AuthError>()
            || cause.is::<PolicyError>()
            || cause.is::<LimitError>();
        if !ours {
            #[cfg(feature = "kms")]
            return Some(aws_sdk_kms::error::DisplayErrorContext(cause).to_string());
            #[cfg(not(feature = "kms"))]
            return Some(cause.to_string());
        }
        next = cause.source();
    }
    None
}
