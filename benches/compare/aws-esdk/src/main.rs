//! The published Rust `aws-esdk` crate under the same workloads as `esdk-compare measure`:
//! one-shot encrypt and decrypt (raw AES-256 keyring, no encryption context) and 1 KiB round
//! trips. Prints JSON lines for `esdk-compare report`.
//!
//! Inputs are handed over as owned `Blob`s made before the clock starts, so the figures do not
//! charge aws-esdk for a copy its API would let a caller avoid.

#[path = "../../src/measure.rs"]
mod measure;

use aws_esdk::client::Client;
use aws_esdk::material_providers::client::Client as MplClient;
use aws_esdk::material_providers::types::keyring::KeyringRef;
use aws_esdk::material_providers::types::material_providers_config::MaterialProvidersConfig;
use aws_esdk::material_providers::types::{
    AesWrappingAlg, EsdkAlgorithmSuiteId, EsdkCommitmentPolicy,
};
use aws_esdk::types::aws_encryption_sdk_config::AwsEncryptionSdkConfig;
use aws_smithy_types::Blob;
use measure::{
    Opts, filler, oneshot_record, peak_extra, peak_ratio, peak_record, rate, repeat, small_record,
    small_suites,
};

const IMPL: &str = "aws-esdk 1.2.4";

fn suite_id(id: u16) -> EsdkAlgorithmSuiteId {
    match id {
        0x0078 => EsdkAlgorithmSuiteId::AlgAes256GcmIv12Tag16NoKdf,
        0x0178 => EsdkAlgorithmSuiteId::AlgAes256GcmIv12Tag16HkdfSha256,
        0x0378 => EsdkAlgorithmSuiteId::AlgAes256GcmIv12Tag16HkdfSha384EcdsaP384,
        0x0478 => EsdkAlgorithmSuiteId::AlgAes256GcmHkdfSha512CommitKey,
        0x0578 => EsdkAlgorithmSuiteId::AlgAes256GcmHkdfSha512CommitKeyEcdsaP384,
        _ => panic!("suite 0x{id:04X} is not measured"),
    }
}

fn client(committing: bool) -> Client {
    let policy = if committing {
        EsdkCommitmentPolicy::RequireEncryptRequireDecrypt
    } else {
        EsdkCommitmentPolicy::ForbidEncryptAllowDecrypt
    };
    let config = AwsEncryptionSdkConfig::builder()
        .commitment_policy(policy)
        .build()
        .expect("aws-esdk config");
    Client::from_conf(config).expect("aws-esdk client")
}

struct Sdk {
    rt: tokio::runtime::Runtime,
    keyring: KeyringRef,
}

impl Sdk {
    fn encrypt(&self, client: &Client, suite: u16, frame: u32, plaintext: Blob) -> Blob {
        self.rt
            .block_on(
                client
                    .encrypt()
                    .plaintext(plaintext)
                    .keyring(self.keyring.clone())
                    .algorithm_suite_id(suite_id(suite))
                    .frame_length(i64::from(frame))
                    .send(),
            )
            .expect("aws-esdk encrypt")
            .ciphertext
            .expect("ciphertext")
    }

    fn decrypt(&self, client: &Client, ciphertext: Blob) -> Blob {
        self.rt
            .block_on(
                client
                    .decrypt()
                    .ciphertext(ciphertext)
                    .keyring(self.keyring.clone())
                    .send(),
            )
            .expect("aws-esdk decrypt")
            .plaintext
            .expect("plaintext")
    }
}

fn main() {
    let o = Opts::parse_from(std::env::args().skip(1));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mpl = MplClient::from_conf(
        MaterialProvidersConfig::builder()
            .build()
            .expect("mpl config"),
    )
    .expect("mpl client");
    let keyring = rt
        .block_on(
            mpl.create_raw_aes_keyring()
                .key_namespace("bench")
                .key_name("aes-256")
                .wrapping_key(vec![7u8; 32])
                .wrapping_alg(AesWrappingAlg::AlgAes256GcmIv12Tag16)
                .send(),
        )
        .expect("raw AES keyring");
    let sdk = Sdk { rt, keyring };

    let plaintext = filler(o.mib << 20);
    for &suite in &o.suites {
        let client = client(suite >= 0x0478);
        for &frame in &o.frames {
            let (t, ct) = repeat(
                o.runs,
                || Blob::new(plaintext.clone()),
                |pt| sdk.encrypt(&client, suite, frame, pt),
            );
            println!(
                "{}",
                oneshot_record(IMPL, suite, frame, "encrypt", o.mib, t)
            );
            let ct = ct.into_inner();
            let (t, pt) = repeat(
                o.runs,
                || Blob::new(ct.clone()),
                |c| sdk.decrypt(&client, c),
            );
            assert!(pt.as_ref() == &plaintext[..], "round trip");
            println!(
                "{}",
                oneshot_record(IMPL, suite, frame, "decrypt", o.mib, t)
            );
            drop(pt);
            let input = Blob::new(plaintext.clone());
            let (extra, out) = peak_extra(|| sdk.encrypt(&client, suite, frame, input));
            if let Some(e) = extra {
                let ratio = peak_ratio(plaintext.len(), e, out.as_ref().len());
                println!("{}", peak_record(IMPL, suite, frame, "encrypt", ratio));
            }
            drop(out);
            let input = Blob::new(ct.clone());
            let (extra, out) = peak_extra(|| sdk.decrypt(&client, input));
            if let Some(e) = extra {
                let ratio = peak_ratio(ct.len(), e, out.as_ref().len());
                println!("{}", peak_record(IMPL, suite, frame, "decrypt", ratio));
            }
        }
    }
    let small = filler(1024);
    for suite in small_suites(&o) {
        let client = client(true);
        let (per_cpu, per_wall) = rate(o.small_secs, || {
            let ct = sdk.encrypt(&client, suite, 4096, Blob::new(small.clone()));
            let pt = sdk.decrypt(&client, ct);
            assert_eq!(pt.as_ref().len(), 1024);
        });
        println!("{}", small_record(IMPL, suite, per_cpu, per_wall));
    }
}
