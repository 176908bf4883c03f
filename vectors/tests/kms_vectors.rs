//! The `esdk-vectors` runner over the KMS vectors that the Python reference wrote through AWS KMS,
//! against the fixed local KMS server (`.ci/kms.sh` exports `ESDK_KMS_MRK_ENDPOINT`).
#![cfg(feature = "kms")]

#[path = "../../tests/common/mod.rs"]
mod common;

const ACCOUNT: &str = "123456789012";
const EAST: &str = "us-east-1";

fn fixed() -> Option<String> {
    common::endpoint(
        "ESDK_KMS_MRK_ENDPOINT",
        "the tests that need ../shared/kms/moto_kms_esdk.py (multi-Region keys, disabled keys, KMS vectors)",
    )
}

// ---------------------------------------------------------------------------------------------
// KMS vectors written by the Python reference SDK

#[test]
fn python_kms_vectors_decrypt() {
    let Some(ep) = fixed() else { return };
    let dir = std::env::var("ESDK_KMS_VECTORS_DIR").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/kms/vectors").to_owned()
    });
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!("{dir}/manifest.json")).expect("KMS vectors manifest"),
    )
    .unwrap();
    let total = manifest["vectors"].as_array().expect("vectors").len();
    assert!(total > 0);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_esdk-vectors"))
        .args(["decrypt", &dir])
        .env("ESDK_VECTORS_KMS_ENDPOINT", &ep)
        .output()
        .expect("run esdk-vectors");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        format!("{total} passed, 0 failed, 0 skipped"),
        "esdk-vectors output:\n{stdout}\n{}\n(was {ep} started with --state on a copy of kms_state.json?)",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success());
}

/// The same KMS vectors through the runner's `awses-decrypt` path: a version 2 manifest whose
/// `master-keys` are `aws-kms`, `aws-kms-mrk-aware` and `aws-kms-mrk-aware-discovery` entries,
/// built here from the vector set (absolute `file://` URIs into it).
#[test]
fn awses_manifest_with_kms_master_keys_decrypts() {
    use serde_json::json;
    let Some(ep) = fixed() else { return };
    let dir = std::env::var("ESDK_KMS_VECTORS_DIR").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/kms/vectors").to_owned()
    });
    let dir = std::fs::canonicalize(dir).expect("KMS vectors directory");
    let set: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let mut keys = serde_json::Map::new();
    for (name, k) in set["keys"].as_object().unwrap() {
        keys.insert(
            name.clone(),
            json!({"type": "aws-kms", "key-id": k["arn"], "encrypt": true, "decrypt": true}),
        );
    }
    let file =
        |rel: &serde_json::Value| format!("file://{}", dir.join(rel.as_str().unwrap()).display());
    let mut tests = serde_json::Map::new();
    for v in set["vectors"].as_array().unwrap() {
        let id = v["id"].as_str().unwrap();
        let lists = match v["scenario"].as_str().unwrap() {
            "single" => vec![("strict", json!([{"type": "aws-kms", "key": "single"}]))],
            "multi" => vec![
                ("east", json!([{"type": "aws-kms", "key": "multi-child-2"}])),
                (
                    "mrk-aware",
                    json!([{"type": "aws-kms-mrk-aware", "key": "multi-child-1"}]),
                ),
            ],
            "mrk" => vec![
                (
                    "replica",
                    json!([{"type": "aws-kms-mrk-aware", "key": "mrk-replica"}]),
                ),
                (
                    "discovery",
                    json!([{"type": "aws-kms-mrk-aware-discovery", "default-mrk-region": EAST,
                    "aws-kms-discovery-filter": {"partition": "aws", "account-ids": [ACCOUNT]}}]),
                ),
            ],
            other => panic!("unknown scenario {other}"),
        };
        for (how, master_keys) in lists {
            tests.insert(
                format!("{id}/{how}"),
                json!({
                    "ciphertext": file(&v["ciphertext"]),
                    "master-keys": master_keys,
                    "result": {"output": {"plaintext": file(&v["plaintext"])}},
                    "encryption-context": v["encryption_context"],
                    "commitment-policy": "REQUIRE_ENCRYPT_ALLOW_DECRYPT",
                }),
            );
        }
    }
    let work = std::env::temp_dir().join(format!("esdk-kms-awses-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let keys_doc = json!({"manifest": {"type": "keys", "version": 3}, "keys": keys});
    std::fs::write(
        work.join("keys.json"),
        serde_json::to_vec(&keys_doc).unwrap(),
    )
    .unwrap();
    let manifest = json!({
        "manifest": {"type": "awses-decrypt", "version": 2},
        "client": {"name": "esdk tests", "version": "0"},
        "keys": "file://keys.json",
        "tests": tests,
    });
    std::fs::write(
        work.join("manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    let total = tests.len();
    let run = |endpoint: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_esdk-vectors"));
        cmd.arg("decrypt")
            .arg(&work)
            .env_remove("ESDK_VECTORS_KMS_ENDPOINT");
        if let Some(ep) = endpoint {
            cmd.env("ESDK_VECTORS_KMS_ENDPOINT", ep);
        }
        let out = cmd.output().expect("run esdk-vectors");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let with_kms = run(Some(&ep));
    let without = run(None);
    let _ = std::fs::remove_dir_all(&work);
    assert_eq!(
        with_kms.lines().last().unwrap_or_default(),
        format!("{total} passed, 0 failed, 0 skipped"),
        "{with_kms}"
    );
    // Without an endpoint each test is skipped, naming the reason.
    assert_eq!(
        without.lines().last().unwrap_or_default(),
        format!("0 passed, 0 failed, {total} skipped")
    );
    assert!(without.contains("ESDK_VECTORS_KMS_ENDPOINT"), "{without}");
}
