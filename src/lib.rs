//! # esdk: the AWS Encryption SDK message format, async and streaming
//!
//! `esdk` reads and writes the [AWS Encryption SDK] message format byte for byte like the other
//! ESDKs (Python, Java, C, JavaScript, .NET, Rust `aws-esdk`), and is built for tokio services.
//!
//! ```text
//!              ┌─────────────── async, once per message, at header time ───────────────┐
//!              │  Client ─► CMM ─► Keyring(s)       (materials: data key, EDKs, keys)  │
//!              └──────────┬─────────────────────────────────────────────┬──────────────┘
//!                         ▼                                             ▼
//! plaintext ─► Encryptor (sans-IO, sync) ─► message       message ─► HeaderDecoder (sans-IO, sync)
//!                                                  ParsedHeader ─► materials ─► BodyDecryptor
//!                                                                   ─► Plaintext… ─► Done
//! ```
//!
//! The [`proto`] core does no I/O and never awaits; keyrings and CMMs are async and run once per
//! message, when the header is written or read.
//!
//! For messages of any size, [`io`] streams them in constant memory: `AsyncRead`/`AsyncWrite`
//! adapters, `Stream` transforms (HTTP bodies) and a tokio-util codec (sockets, many messages
//! per connection), each with the release rules of the [`manual`]; [`io::RangeReader`] decrypts
//! byte ranges of unsigned messages; the `http` feature adds `esdk::http` (bodies for hyper and
//! axum, error statuses, `Range` requests).
//!
//! ## Streaming
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> esdk::Result<()> {
//! use esdk::io::{DecryptingReader, DecryptOptions, EncryptingWriter};
//! use esdk::{Client, MaterialsSource, RawAesKeyring};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let keys = MaterialsSource::from(RawAesKeyring::new("my-app", "key-1", &[0x42u8; 32])?);
//! let client = Client::new();
//! // Encrypt into any AsyncWrite (a file, a socket); memory stays at about a frame.
//! let mut writer = EncryptingWriter::new(&client, &keys, Vec::new(), &Default::default()).await?;
//! writer.write_all(&vec![7u8; 100_000]).await?;
//! writer.shutdown().await?; // writes the final frame and footer: required
//! let message = writer.into_inner();
//! // Decrypt from any AsyncRead; EOF comes only once the whole message has verified.
//! let mut reader = DecryptingReader::new(&client, &keys, &message[..], &DecryptOptions::new()).await?;
//! let mut plaintext = Vec::new();
//! reader.read_to_end(&mut plaintext).await?;
//! assert_eq!(plaintext, vec![7u8; 100_000]);
//! # Ok(()) }
//! ```
//!
//! ## Quick start (no AWS account needed)
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> esdk::Result<()> {
//! use esdk::{Client, MaterialsSource, RawAesKeyring};
//!
//! let key = [0x42u8; 32]; // in practice, 32 random bytes kept secret
//! let keys = MaterialsSource::from(RawAesKeyring::new("my-app", "key-1", &key)?);
//! let client = Client::new();
//!
//! let msg = client.encrypt(&keys, b"secret data").encryption_context([("tenant", "a")]).await?;
//! let out = client.decrypt(&keys, &msg.ciphertext).encryption_context([("tenant", "a")]).await?;
//! assert_eq!(out.plaintext, b"secret data");
//! # Ok(()) }
//! ```
//!
//! ## Options
//!
//! One style throughout: builders whose methods are named after the option, starting from the
//! defaults. The one-shot calls take the options as methods ([`EncryptCall`], [`DecryptCall`]);
//! the streaming adapters take an [`EncryptOptions`] or [`DecryptOptions`] value with the
//! same methods, which `.options(..)` also hands to a one-shot call. Unsigned-only decryption
//! is [`io::Release::UnsignedOnly`], on either. The crypto backend is set with
//! `crypto_provider`, grant tokens with `grant_tokens`. Getters carry no `get_` prefix, except
//! the adapters' `get_ref`/`get_mut` to their inner reader or writer (as in std and tokio).
//!
//! ```
//! # async fn demo(client: esdk::Client, keys: esdk::MaterialsSource, message: &[u8]) -> esdk::Result<()> {
//! use esdk::io::{DecryptOptions, DecryptingReader, Release};
//! let options = DecryptOptions::new()
//!     .encryption_context([("tenant", "a")])
//!     .release(Release::UnsignedOnly);
//! let out = client.decrypt(&keys, message).options(options.clone()).await?;
//! let reader = DecryptingReader::new(&client, &keys, message, &options).await?;
//! # let _ = (out, reader); Ok(()) }
//! ```
//!
//! ## Keyrings and CMMs
//!
//! | Type | Wraps data keys with | Spec |
//! |---|---|---|
//! | [`RawAesKeyring`] | a local AES-GCM key | `framework/raw-aes-keyring.md` |
//! | [`RawRsaKeyring`] | a local RSA key (PKCS#1 v1.5, OAEP-SHA1/256/384/512) | `framework/raw-rsa-keyring.md` |
//! | [`RawEcdhKeyring`] | an ECDH-agreed key (P-256/384/521; static, ephemeral, discovery) | `framework/raw-ecdh-keyring.md` |
//! | [`HierarchicalKeyring`] | a key derived from a branch key ([`BranchKeySource`]; cached with a TTL, from the DynamoDB key store `keyring::hierarchy::dynamodb` with feature `hierarchy`) | `framework/aws-kms/aws-kms-hierarchical-keyring.md`, `framework/branch-key-store.md` |
//! | `AwsKms*Keyring` (feature `kms`) | AWS KMS: symmetric keys (strict, MRK, discovery, multi), RSA keys (`AwsKmsRsaKeyring`), ECDH key agreement keys (`AwsKmsEcdhKeyring`) | `framework/aws-kms/*.md` |
//! | [`MultiKeyring`] | a generator and children (children run concurrently) | `framework/multi-keyring.md` |
//! | [`DefaultCmm`] | a keyring, plus signing keys | `framework/default-cmm.md` |
//! | [`RequiredEncryptionContextCmm`] | another CMM; required pairs are authenticated, not stored | `framework/required-encryption-context-cmm.md` |
//! | [`CachingCmm`] | another CMM, reusing its materials from a [`LocalMaterialsCache`] (TTL, message and byte limits) | `framework/caching-cmm.md` |
//!
//! ## Crypto backends
//!
//! All cryptography goes through a [`crypto::CryptoProvider`]. The default build uses the
//! RustCrypto crates ([`crypto::rustcrypto`]); the cargo feature `aws-lc` adds an aws-lc-rs
//! backend (`crypto::aws_lc`, roughly twice as fast at AES-GCM and ECDSA) and makes it
//! [`crypto::default_provider`]. Either can be chosen explicitly with
//! [`ClientBuilder::crypto_provider`], the `crypto_provider` methods of CMMs and keyring builders,
//! and the raw keyrings' `with_crypto_provider` constructors.
//!
//! [AWS Encryption SDK]: https://docs.aws.amazon.com/encryption-sdk/latest/developer-guide/

#![forbid(unsafe_code)]
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod cache;
pub mod client;
pub mod cmm;
pub use format::context;
pub mod crypto;
pub mod error;
pub mod format;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;

// The README's Rust blocks compile and run as doctests (its shell blocks are fenced `sh`).
#[cfg(all(doctest, feature = "http"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
pub mod io;
pub mod keyring;
pub mod limits;
pub mod manual;
pub mod materials;
mod oneshot;
pub mod parallel;
pub mod proto;
pub mod suite;

pub use cache::{CryptographicMaterialsCache, LocalMaterialsCache};
pub use client::{
    Client, ClientBuilder, DecryptOutput, EncryptOptions, EncryptOutput, MaterialsSource,
};
pub use cmm::{
    CachingCmm, CryptographicMaterialsManager, DefaultCmm, RequiredEncryptionContextCmm,
};
pub use context::EncryptionContext;
pub use error::{Error, ErrorKind, Result};
pub use format::{ContentType, FrameLength, MessageHeader};
/// The decryption options shared by the one-shot call (`.options(..)`) and every adapter.
pub use io::DecryptOptions;
#[cfg(feature = "kms")]
#[cfg_attr(docsrs, doc(cfg(feature = "kms")))]
pub use keyring::aws_kms::{
    AwsKmsDiscoveryKeyring, AwsKmsEcdhKeyring, AwsKmsKeyring, AwsKmsMrkDiscoveryKeyring,
    AwsKmsMrkKeyring, AwsKmsMultiKeyring, AwsKmsRsaKeyring, DiscoveryFilter, KmsClient,
};
pub use keyring::{
    BranchKeyMaterials, BranchKeySource, HierarchicalKeyring, Keyring, MultiKeyring, RawAesKeyring,
    RawEcdhKeyring, RawEcdhScheme, RawRsaKeyring, StaticBranchKeySource,
};
pub use limits::Limits;
pub use materials::{DataKey, DecryptionMaterials, EncryptedDataKey, EncryptionMaterials};
pub use oneshot::{DecryptCall, EncryptCall};
pub use proto::Release;
pub use suite::{AlgorithmSuite, CommitmentPolicy};
