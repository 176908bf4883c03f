//! Data key caching: many small records, one key-service call per batch of messages.
//!
//! ```text
//! cargo run --example caching_cmm [RECORDS]
//! ```
//!
//! A caching CMM sits between the client and a keyring and reuses each data key for up to 100
//! messages or 5 minutes. The keyring here is a local AES key wrapped in a counter, standing in
//! for a remote key service such as AWS KMS, where every call costs time and money. The example
//! encrypts RECORDS (default 250) records, decrypts them all, checks each round trip, and prints
//! how often the keyring was called.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use esdk::cache::LocalMaterialsCache;
use esdk::{
    CachingCmm, Client, DecryptionMaterials, EncryptedDataKey, EncryptionMaterials, Keyring,
    MaterialsSource, RawAesKeyring,
};
use futures::future::BoxFuture;

/// A keyring that counts the calls made to the keyring it wraps.
#[derive(Debug)]
struct Counted {
    inner: RawAesKeyring,
    wraps: AtomicUsize,
    unwraps: AtomicUsize,
}

impl Keyring for Counted {
    fn on_encrypt<'a>(
        &'a self,
        materials: EncryptionMaterials,
    ) -> BoxFuture<'a, esdk::Result<EncryptionMaterials>> {
        self.wraps.fetch_add(1, Ordering::Relaxed);
        self.inner.on_encrypt(materials)
    }

    fn on_decrypt<'a>(
        &'a self,
        materials: DecryptionMaterials,
        encrypted_data_keys: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, esdk::Result<DecryptionMaterials>> {
        self.unwraps.fetch_add(1, Ordering::Relaxed);
        self.inner.on_decrypt(materials, encrypted_data_keys)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let records: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 250,
    };

    let mut key = [0u8; 32];
    esdk::crypto::default_provider().random.fill(&mut key)?;
    let keyring = Arc::new(Counted {
        inner: RawAesKeyring::new("caching-example", "records-key", &key)?,
        wraps: AtomicUsize::new(0),
        unwraps: AtomicUsize::new(0),
    });

    // The cache may be shared by several caching CMMs; each keeps to its own partition.
    let cache = Arc::new(LocalMaterialsCache::new(1000));
    let cmm = CachingCmm::builder_with_keyring(keyring.clone(), cache, Duration::from_secs(300))
        .limit_messages(100)
        .limit_bytes(100 * 1024 * 1024)
        .build()?;
    let source = MaterialsSource::from(cmm);
    let client = Client::new();

    let mut messages = Vec::with_capacity(records);
    for i in 0..records {
        let record = format!("record {i}: {}", "x".repeat(1000));
        let message = client
            .encrypt(&source, record.as_bytes())
            .encryption_context([("table", "orders")])
            .await?;
        messages.push((record, message.ciphertext));
    }
    let wraps = keyring.wraps.load(Ordering::Relaxed);

    for (record, ciphertext) in &messages {
        let out = client
            .decrypt(&source, ciphertext)
            .encryption_context([("table", "orders")])
            .await?;
        if out.plaintext != record.as_bytes() {
            return Err("round trip differs".into());
        }
    }
    let unwraps = keyring.unwraps.load(Ordering::Relaxed);

    println!(
        "{records} records encrypted with {wraps} keyring calls and decrypted with {unwraps} \
         (without the caching CMM: {records} and {records})"
    );
    let expected = records.div_ceil(100);
    if wraps != expected || unwraps != expected {
        return Err(format!("expected {expected} keyring calls each way").into());
    }
    Ok(())
}
