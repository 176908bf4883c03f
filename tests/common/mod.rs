//! Helpers shared by the integration tests that need something outside the crate (local
//! servers started by `.ci/kms.sh`, the Python peers venv): what is missing is a loud SKIP on a
//! developer's machine and a failure under `CI=true`, where `.ci/test.sh` provides everything.
#![allow(dead_code)] // each test crate uses a part of this module

use std::sync::Mutex;

/// Prints a skip banner to the real stderr (not captured by the test harness), once per reason.
pub fn loud_skip(msg: &str) {
    use std::io::Write;
    static SHOWN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut shown = SHOWN.lock().unwrap_or_else(|e| e.into_inner());
    if !shown.iter().any(|m| m == msg) {
        shown.push(msg.to_owned());
        let _ = writeln!(
            std::io::stderr(),
            "\n**************** SKIPPED ****************\n{msg}\n*****************************************\n"
        );
    }
}

/// `None` after a loud skip, or a panic under `CI=true`.
pub fn unavailable<T>(msg: &str) -> Option<T> {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true and {msg}");
    }
    loud_skip(msg);
    None
}

/// The URL in environment variable `var` (set by `.ci/kms.sh`), or `None` (see
/// [`unavailable`]); `what` names what cannot run without it.
pub fn endpoint(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => unavailable(&format!(
            "{var} is not set: {what} cannot run. Start the local servers with \
             `source .ci/kms.sh start` (or `bash .ci/kms.sh run -- cargo test`)."
        )),
    }
}

/// The Python reference ESDK + MPL (`ESDK_PEERS_PYTHON`, default /tmp/esdk-peers-venv, made by
/// ../shared/peers/setup.sh), or `None` (see [`unavailable`]); `what` names the check.
pub fn peers_python(what: &str) -> Option<String> {
    let python = std::env::var("ESDK_PEERS_PYTHON")
        .unwrap_or_else(|_| "/tmp/esdk-peers-venv/bin/python".into());
    if std::path::Path::new(&python).exists() {
        return Some(python);
    }
    unavailable(&format!(
        "no Python reference SDK + MPL at {python} (run ../shared/peers/setup.sh, or set \
         ESDK_PEERS_PYTHON): {what} NOT CHECKED"
    ))
}

/// An AWS SDK KMS client for a local server, with static test credentials.
#[cfg(feature = "kms")]
pub fn kms_sdk_client(endpoint: &str, region: &str) -> aws_sdk_kms::Client {
    use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .build();
    aws_sdk_kms::Client::from_conf(conf)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of lower- or upper-case hex (test data only: panics on anything else).
pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}
