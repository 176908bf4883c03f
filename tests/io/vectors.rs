//! Every vector of `$ESDK_VECTORS` (default `../shared/vectors`: its `official` and `python`
//! folders) through every adapter, with mock I/O that moves one byte per call and returns
//! `Pending` between calls.
//!
//! Decryption: the one-shot call, both readers' decrypting side (`DecryptingReader`), the
//! decrypting writer, the stream and the codec must all agree with the vector, and a
//! `Release::Verified` reader must release nothing for a negative vector. Encryption: the
//! vector's plaintext goes through every encrypting adapter with the vector's keyring, suite
//! and frame length, and must decrypt back. Keyrings this build lacks are skipped the way the
//! `esdk-vectors` runner skips them.

use std::path::{Path, PathBuf};

use esdk::io::{DecryptOptions, Release};
use esdk::{AlgorithmSuite, Client, CommitmentPolicy, EncryptOptions, FrameLength};
use esdk_test_vectors::{Build, Case, cases_in};

use crate::drive::{self, Chunking, Dec, Enc};
use crate::mock::block_on;

fn vectors_root() -> Option<PathBuf> {
    let root = std::env::var_os("ESDK_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors"));
    if root.is_dir() {
        return Some(root);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "test vectors not found at {} (set ESDK_VECTORS)",
            root.display()
        );
    }
    eprintln!(
        "\n!!!!! TEST VECTORS NOT FOUND at {}: set ESDK_VECTORS; adapter vector checks SKIPPED !!!!!\n",
        root.display()
    );
    None
}

#[derive(Debug, Default)]
struct Tally {
    decrypt_runs: usize,
    encrypt_runs: usize,
    skipped: usize,
    encrypt_skipped: usize,
    failures: Vec<String>,
}

fn client_for(case: &Case) -> Client {
    let mut b = Client::builder().commitment_policy(case.policy);
    if let Some(n) = case.max_edks {
        b = b.max_encrypted_data_keys(n);
    }
    b.build()
}

async fn run_case(name: &str, case: &Case, tally: &mut Tally) {
    let source = match &case.source {
        Build::Ready(s) => s,
        Build::Skip(_) => {
            tally.skipped += 1;
            return;
        }
    };
    let client = client_for(case);
    let mut options = DecryptOptions::new();
    if let Some(ec) = &case.reproduced {
        options = options.encryption_context(ec);
    }
    if case.unsigned_only {
        options = options.release(Release::UnsignedOnly);
    }
    let one_byte = Chunking::one_byte();
    let trace = std::env::var_os("ESDK_TRACE").is_some();
    for how in Dec::ALL {
        if trace {
            eprintln!("{name} {how:?}");
        }
        let out = drive::decrypt(how, &client, source, &case.ciphertext, &options, &one_byte).await;
        tally.decrypt_runs += 1;
        match (&case.expected, &out.result) {
            (Some(pt), Ok(())) if &out.released == pt => {}
            (Some(pt), Ok(())) => tally.failures.push(format!(
                "{name} {how:?}: plaintext differs ({} bytes, expected {})",
                out.released.len(),
                pt.len()
            )),
            (Some(_), Err(e)) => tally.failures.push(format!("{name} {how:?}: failed: {e}")),
            (None, Ok(())) => tally
                .failures
                .push(format!("{name} {how:?}: succeeded but must fail")),
            (None, Err(_)) => {}
        }
    }
    // Fully verified mode: a small memory limit so that larger vectors spill to disk.
    if !case.unsigned_only {
        if trace {
            eprintln!("{name} verified");
        }
        let verified = options.clone().release(Release::verified(1024));
        let out = drive::decrypt(
            Dec::Reader,
            &client,
            source,
            &case.ciphertext,
            &verified,
            &one_byte,
        )
        .await;
        tally.decrypt_runs += 1;
        match (&case.expected, &out.result) {
            (Some(pt), Ok(())) if &out.released == pt => {}
            (None, Err(_)) if out.released.is_empty() => {}
            _ => tally.failures.push(format!(
                "{name} verified: released {} bytes, result {:?}",
                out.released.len(),
                out.result.as_ref().err().map(ToString::to_string)
            )),
        }
    }
    let Some(plaintext) = &case.expected else {
        return;
    };
    // Encrypt the same plaintext with the same keyring, suite and frame length.
    let reference = drive::decrypt(
        Dec::OneShot,
        &client,
        source,
        &case.ciphertext,
        &options,
        &one_byte,
    )
    .await;
    if reference.result.is_err() {
        return;
    }
    let header = {
        let mut d = client.header_decoder(esdk::io::Release::Streaming);
        let mut buf = bytes::BytesMut::from(&case.ciphertext[..]);
        match d.decode(&mut buf) {
            Ok(Some(parsed)) => parsed.header().clone(),
            other => {
                tally.failures.push(format!("{name}: no header: {other:?}"));
                return;
            }
        }
    };
    let suite: AlgorithmSuite = header.algorithm_suite();
    let policy = if suite.is_committing() {
        CommitmentPolicy::REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    } else {
        CommitmentPolicy::FORBID_ENCRYPT_ALLOW_DECRYPT
    };
    let enc_client = Client::builder().commitment_policy(policy).build();
    let mut enc_options = EncryptOptions::new()
        // The signing suites' public key is the CMM's to add, not the caller's; pairs a
        // required-context CMM kept out of the header come from the reproduced context.
        .encryption_context(
            header
                .encryption_context()
                .iter()
                .chain(case.reproduced.iter().flat_map(|ec| ec.iter()))
                .filter(|(k, _)| !k.starts_with("aws-crypto-")),
        )
        .algorithm_suite(suite);
    if let Some(f) = FrameLength::new(header.frame_length()) {
        enc_options = enc_options.frame_length(f);
    }
    for how in Enc::ALL {
        if trace {
            eprintln!("{name} encrypt {how:?}");
        }
        match drive::encrypt(how, &enc_client, source, plaintext, &enc_options, &one_byte).await {
            Ok(ct) => {
                tally.encrypt_runs += 1;
                let mut back_options = DecryptOptions::new();
                if let Some(ec) = &case.reproduced {
                    back_options = back_options.encryption_context(ec);
                }
                let back = drive::decrypt(
                    Dec::OneShot,
                    &enc_client,
                    source,
                    &ct,
                    &back_options,
                    &one_byte,
                )
                .await;
                if back.result.is_err() || &back.released != plaintext {
                    tally.failures.push(format!(
                        "{name} encrypt {how:?}: does not decrypt back: {:?}",
                        back.result
                    ));
                }
            }
            // Decrypt-only keyrings (a static data key, a multi-keyring without generator, a
            // discovery keyring) cannot encrypt: then there is nothing to compare the adapters
            // with. Once the one-shot call encrypts, every adapter must.
            Err(esdk::Error::ApiMisuse(_) | esdk::Error::Keyring(_)) if how == Enc::OneShot => {
                tally.encrypt_skipped += 1;
                return;
            }
            Err(e) => tally.failures.push(format!("{name} encrypt {how:?}: {e}")),
        }
    }
}

async fn run_folder(folder: &Path, shard: usize, shards: usize) {
    let cases = cases_in(folder).unwrap_or_else(|e| panic!("{}: {e}", folder.display()));
    let mut tally = Tally::default();
    let mut ran = 0;
    for (i, (name, case)) in cases.iter().enumerate() {
        if i % shards != shard {
            continue;
        }
        match case {
            Ok(case) => {
                run_case(name, case, &mut tally).await;
                ran += 1;
            }
            Err(e) => tally.failures.push(format!("{name}: cannot load: {e}")),
        }
    }
    eprintln!(
        "{} (shard {shard}/{shards}): {ran} vectors; {} decryptions and {} encryptions through the adapters; \
         {} vectors skipped (keyring not built), {} not encryptable (decrypt-only keyring)",
        folder.display(),
        tally.decrypt_runs,
        tally.encrypt_runs,
        tally.skipped,
        tally.encrypt_skipped
    );
    assert!(
        tally.decrypt_runs > 0,
        "no vector ran in {}",
        folder.display()
    );
    assert!(
        tally.failures.is_empty(),
        "{} failures:\n{}",
        tally.failures.len(),
        tally.failures.join("\n")
    );
}

fn folder(name: &str) -> Option<PathBuf> {
    let dir = vectors_root()?.join(name);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "\n!!! SKIPPING vector folder {}: not found !!!\n",
            dir.display()
        );
        None
    }
}

#[test]
fn official_vectors_through_every_adapter() {
    if let Some(dir) = folder("official") {
        block_on(run_folder(&dir, 0, 1));
    }
}

#[test]
fn python_vectors_through_every_adapter_shard_0() {
    if let Some(dir) = folder("python") {
        block_on(run_folder(&dir, 0, 2));
    }
}

#[test]
fn python_vectors_through_every_adapter_shard_1() {
    if let Some(dir) = folder("python") {
        block_on(run_folder(&dir, 1, 2));
    }
}
