//! A keyring standing in for a remote key service (shared by the caching and record benches).

use std::time::Duration;

use esdk::{DecryptionMaterials, EncryptedDataKey, EncryptionMaterials, Keyring, RawAesKeyring};
use futures::future::BoxFuture;

/// The simulated round trip of a remote key service.
const LATENCY: Duration = Duration::from_millis(1);

/// A keyring that waits [`LATENCY`] before each call, like a network key service.
#[derive(Debug)]
pub struct Remote(pub RawAesKeyring);

impl Keyring for Remote {
    fn on_encrypt<'a>(
        &'a self,
        m: EncryptionMaterials,
    ) -> BoxFuture<'a, esdk::Result<EncryptionMaterials>> {
        Box::pin(async move {
            tokio::time::sleep(LATENCY).await;
            self.0.on_encrypt(m).await
        })
    }

    fn on_decrypt<'a>(
        &'a self,
        m: DecryptionMaterials,
        edks: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, esdk::Result<DecryptionMaterials>> {
        Box::pin(async move {
            tokio::time::sleep(LATENCY).await;
            self.0.on_decrypt(m, edks).await
        })
    }
}
