//! Runs every test-vector folder under `$ESDK_VECTORS` (default `../shared/vectors`) through the
//! `esdk-vectors` runner and requires zero failures and zero skips.
//!
//! The vectors stay outside the repository. When the folder is absent this test says so loudly
//! and passes without checking anything; CI always has it.

use std::path::PathBuf;
use std::process::Command;

fn vectors_root() -> PathBuf {
    std::env::var_os("ESDK_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"))
}

#[test]
fn every_vector_folder_passes() {
    let root = vectors_root();
    if !root.is_dir() {
        if std::env::var_os("CI").is_some() {
            panic!(
                "test vectors not found at {} (set ESDK_VECTORS)",
                root.display()
            );
        }
        eprintln!(
            "\n!!!!! TEST VECTORS NOT FOUND at {} — set ESDK_VECTORS; vector checks SKIPPED !!!!!\n",
            root.display()
        );
        return;
    }
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("readable vector root")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("manifest.json").is_file())
        .collect();
    folders.sort();
    assert!(
        !folders.is_empty(),
        "no vector folder with a manifest.json under {}",
        root.display()
    );
    for folder in folders {
        let out = Command::new(env!("CARGO_BIN_EXE_esdk-vectors"))
            .arg("decrypt")
            .arg(&folder)
            .output()
            .expect("runs esdk-vectors");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let summary = stdout.lines().last().unwrap_or("").to_owned();
        eprintln!("{}: {summary}", folder.display());
        let failures: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL ")).collect();
        assert!(
            failures.is_empty(),
            "{}: {} failures, first: {:?}",
            folder.display(),
            failures.len(),
            &failures[..failures.len().min(10)]
        );
        assert!(
            out.status.success(),
            "{}: runner failed: {}",
            folder.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let passed: usize = summary
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(
            passed > 0,
            "{}: no vector passed ({summary})",
            folder.display()
        );
        // Every keyring and CMM the vectors use is built: nothing may be skipped.
        let skips: Vec<&str> = stdout.lines().filter(|l| l.starts_with("SKIP ")).collect();
        assert!(
            skips.is_empty(),
            "{}: {} skipped, first: {:?}",
            folder.display(),
            skips.len(),
            &skips[..skips.len().min(10)]
        );
    }
}

/// `esdk-vectors encrypt` writes a set (raw AES, raw RSA with every padding, multi-keyrings,
/// required-encryption-context messages) that our own runner must decrypt completely, including
/// the negative required-context scenarios. Other ESDKs check the same set in `.ci/test.sh`.
#[test]
fn encrypt_set_decrypts_with_our_own_runner() {
    let dir = std::env::temp_dir().join(format!("esdk-encrypt-set-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bin = env!("CARGO_BIN_EXE_esdk-vectors");
    let out = Command::new(bin)
        .arg("encrypt")
        .arg(&dir)
        .output()
        .expect("runs esdk-vectors encrypt");
    assert!(
        out.status.success(),
        "encrypt failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (manifest, min_tests) in [("manifest.json", 600), ("manifest-required-ec.json", 200)] {
        let out = Command::new(bin)
            .arg("decrypt")
            .arg(&dir)
            .arg("--manifest")
            .arg(manifest)
            .output()
            .expect("runs esdk-vectors decrypt");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let summary = stdout.lines().last().unwrap_or("").to_owned();
        let passed: usize = summary
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(
            out.status.success()
                && passed >= min_tests
                && summary.ends_with(" 0 failed, 0 skipped"),
            "{manifest}: {summary}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
