//! The multi-keyring (`framework/multi-keyring.md`): one generator and any number of children.
//!
//! ```text
//! on_encrypt:  generator.on_encrypt(materials)            → data key + its EDK
//!              ┌ child[0].on_encrypt(copy) ┐
//!              ├ child[1].on_encrypt(copy) ┤  run concurrently (joined futures)
//!              └ child[n].on_encrypt(copy) ┘
//!              EDKs appended: generator's, then child[0]'s, child[1]'s, … (configured order)
//! on_decrypt:  generator, then children, one at a time, each with the original materials;
//!              the first success wins; otherwise every keyring's error is reported
//!              (materials that already hold a data key are returned unchanged)
//! ```
//!
//! Running the children concurrently matters when they call key services (several KMS regions,
//! say): the encrypt latency is the slowest child's, not the sum. The result does not depend on
//! which child finishes first.

use std::sync::Arc;

use futures::future::{BoxFuture, try_join_all};
use subtle::ConstantTimeEq;

use crate::error::{Error, KeyringAttempt, KeyringError, Result};
use crate::keyring::Keyring;
use crate::materials::{DecryptionMaterials, EncryptedDataKey, EncryptionMaterials};

/// A keyring made of other keyrings.
#[derive(Debug, Clone)]
pub struct MultiKeyring {
    generator: Option<Arc<dyn Keyring>>,
    children: Vec<Arc<dyn Keyring>>,
}

impl MultiKeyring {
    /// A multi-keyring. With a generator, encryption makes the data key with it; without one,
    /// the materials must already hold a data key (for example when this multi-keyring is itself
    /// a child).
    ///
    /// # Errors
    /// [`KeyringError::InvalidConfiguration`] when there is neither a generator nor a child.
    pub fn new(
        generator: Option<Arc<dyn Keyring>>,
        children: Vec<Arc<dyn Keyring>>,
    ) -> Result<Self> {
        if generator.is_none() && children.is_empty() {
            return Err(KeyringError::InvalidConfiguration(
                "a multi-keyring needs a generator or at least one child".into(),
            )
            .into());
        }
        Ok(Self {
            generator,
            children,
        })
    }

    /// The generator keyring, if any.
    pub fn generator(&self) -> Option<&Arc<dyn Keyring>> {
        self.generator.as_ref()
    }

    /// The child keyrings, in order.
    pub fn children(&self) -> &[Arc<dyn Keyring>] {
        &self.children
    }

    /// The keyrings in decrypt order, each with a label for error reports.
    fn in_order(&self) -> impl Iterator<Item = (String, &Arc<dyn Keyring>)> {
        self.generator
            .iter()
            .map(|g| ("multi-keyring generator".to_owned(), g))
            .chain(
                self.children
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (format!("multi-keyring child {i}"), c)),
            )
    }
}

/// Adds a failed keyring's reasons to `attempts`, flattening nested "no decryptable key" lists.
fn collect(attempts: &mut Vec<KeyringAttempt>, label: String, error: Error) {
    match error {
        Error::Keyring(KeyringError::NoDecryptableKey { attempts: inner }) if !inner.is_empty() => {
            attempts.extend(inner);
        }
        other => attempts.push(KeyringAttempt::failed(label, other)),
    }
}

impl Keyring for MultiKeyring {
    fn on_encrypt<'a>(
        &'a self,
        materials: EncryptionMaterials,
    ) -> BoxFuture<'a, Result<EncryptionMaterials>> {
        Box::pin(async move {
            let mut materials = match &self.generator {
                Some(generator) => {
                    if materials.data_key().is_some() {
                        return Err(KeyringError::InvalidMaterials(
                            "a multi-keyring with a generator needs materials without a data key",
                        )
                        .into());
                    }
                    let out = generator.on_encrypt(materials).await?;
                    if out.data_key().is_none() {
                        return Err(KeyringError::InvalidMaterials(
                            "the generator keyring returned no data key",
                        )
                        .into());
                    }
                    out
                }
                None => {
                    if materials.data_key().is_none() {
                        return Err(KeyringError::InvalidMaterials(
                            "a multi-keyring without a generator needs materials that hold a data key",
                        )
                        .into());
                    }
                    materials
                }
            };
            // Every child wraps the same data key, from its own copy of the materials; the copies
            // differ only in the EDKs each child appends after the `base` ones.
            let base = materials.encrypted_data_keys().len();
            let results = try_join_all(
                self.children
                    .iter()
                    .map(|c| c.on_encrypt(materials.clone())),
            )
            .await?;
            for out in results {
                let same_key = match (out.data_key(), materials.data_key()) {
                    (Some(a), Some(b)) => bool::from(a.expose().ct_eq(b.expose())),
                    _ => false,
                };
                if !same_key {
                    return Err(KeyringError::InvalidMaterials(
                        "a child keyring changed the data key",
                    )
                    .into());
                }
                let new: Vec<EncryptedDataKey> = out
                    .encrypted_data_keys()
                    .get(base..)
                    .unwrap_or_default()
                    .to_vec();
                for edk in new {
                    materials.add_encrypted_data_key(edk);
                }
            }
            Ok(materials)
        })
    }

    fn on_decrypt<'a>(
        &'a self,
        materials: DecryptionMaterials,
        encrypted_data_keys: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, Result<DecryptionMaterials>> {
        Box::pin(async move {
            // The specification has a multi-keyring hand back materials that already hold a
            // data key unchanged (where the other keyrings fail).
            if materials.data_key().is_some() {
                return Ok(materials);
            }
            let mut attempts = Vec::new();
            for (label, keyring) in self.in_order() {
                match keyring
                    .on_decrypt(materials.clone(), encrypted_data_keys)
                    .await
                {
                    Ok(out) if out.data_key().is_some() => return Ok(out),
                    Ok(_) => attempts.push(KeyringAttempt::new(label, "returned no data key")),
                    Err(e) => collect(&mut attempts, label, e),
                }
            }
            Err(KeyringError::NoDecryptableKey { attempts }.into())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Poll;

    use futures::executor::block_on;

    use super::*;
    use crate::format::context::EncryptionContext;
    use crate::keyring::RawAesKeyring;
    use crate::suite::AlgorithmSuite;

    const SUITE: AlgorithmSuite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;

    fn aes(name: &str, byte: u8) -> Arc<dyn Keyring> {
        Arc::new(RawAesKeyring::new("ns", name, &[byte; 32]).unwrap())
    }

    fn context() -> EncryptionContext {
        [("purpose", "multi")].into_iter().collect()
    }

    fn enc_materials() -> EncryptionMaterials {
        EncryptionMaterials::new(SUITE, context(), vec![], None)
    }

    fn dec_materials() -> DecryptionMaterials {
        DecryptionMaterials::new(SUITE, context(), vec![], None)
    }

    /// Yields to the executor once, then completes.
    async fn yield_now() {
        let mut yielded = false;
        futures::future::poll_fn(|cx| {
            if yielded {
                Poll::Ready(())
            } else {
                yielded = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
        .await
    }

    /// Wraps a keyring; on encrypt it counts itself as started, yields, and records how many
    /// siblings had started by the time it resumed.
    #[derive(Debug)]
    struct Probe {
        inner: Arc<dyn Keyring>,
        started: Arc<AtomicUsize>,
        seen: Arc<AtomicUsize>,
    }

    impl Keyring for Probe {
        fn on_encrypt<'a>(
            &'a self,
            m: EncryptionMaterials,
        ) -> BoxFuture<'a, Result<EncryptionMaterials>> {
            Box::pin(async move {
                self.started.fetch_add(1, Ordering::SeqCst);
                yield_now().await;
                self.seen
                    .store(self.started.load(Ordering::SeqCst), Ordering::SeqCst);
                self.inner.on_encrypt(m).await
            })
        }

        fn on_decrypt<'a>(
            &'a self,
            m: DecryptionMaterials,
            edks: &'a [EncryptedDataKey],
        ) -> BoxFuture<'a, Result<DecryptionMaterials>> {
            self.inner.on_decrypt(m, edks)
        }
    }

    #[test]
    fn children_run_concurrently_and_edks_keep_the_configured_order() {
        let started = Arc::new(AtomicUsize::new(0));
        let names = ["c0", "c1", "c2", "c3"];
        let seen: Vec<Arc<AtomicUsize>> = names
            .iter()
            .map(|_| Arc::new(AtomicUsize::new(0)))
            .collect();
        let children: Vec<Arc<dyn Keyring>> = names
            .iter()
            .zip(&seen)
            .enumerate()
            .map(|(i, (name, seen))| {
                Arc::new(Probe {
                    inner: aes(name, i as u8 + 1),
                    started: started.clone(),
                    seen: seen.clone(),
                }) as Arc<dyn Keyring>
            })
            .collect();
        let multi = MultiKeyring::new(Some(aes("gen", 0xEE)), children).unwrap();
        let out = block_on(multi.on_encrypt(enc_materials())).unwrap();
        // Every child had started before any of them resumed: they were polled together.
        for s in &seen {
            assert_eq!(s.load(Ordering::SeqCst), names.len());
        }
        let order: Vec<&[u8]> = out
            .encrypted_data_keys()
            .iter()
            .map(|e| &e.provider_info()[..e.provider_info().len() - 20])
            .collect();
        assert_eq!(order, [&b"gen"[..], b"c0", b"c1", b"c2", b"c3"]);
        // Each EDK unwraps to the generator's data key, with its own keyring alone.
        for (i, name) in ["gen", "c0", "c1", "c2", "c3"].iter().enumerate() {
            let byte = if i == 0 { 0xEE } else { i as u8 };
            let got =
                block_on(aes(name, byte).on_decrypt(dec_materials(), out.encrypted_data_keys()))
                    .unwrap();
            assert_eq!(
                got.data_key().unwrap().expose(),
                out.data_key().unwrap().expose()
            );
        }
    }

    #[test]
    fn decrypt_tries_in_order_and_reports_every_failure() {
        let multi = MultiKeyring::new(Some(aes("gen", 1)), vec![aes("child", 2)]).unwrap();
        let out = block_on(multi.on_encrypt(enc_materials())).unwrap();

        // Only the child's EDK present: the generator fails, the child succeeds.
        let child_only = &out.encrypted_data_keys()[1..];
        let got = block_on(multi.on_decrypt(dec_materials(), child_only)).unwrap();
        assert_eq!(
            got.data_key().unwrap().expose(),
            out.data_key().unwrap().expose()
        );

        // A multi-keyring of wrong keys: one attempt per keyring, in order.
        let wrong =
            MultiKeyring::new(Some(aes("gen", 9)), vec![aes("child", 9), aes("other", 9)]).unwrap();
        match block_on(wrong.on_decrypt(dec_materials(), out.encrypted_data_keys())) {
            Err(Error::Keyring(KeyringError::NoDecryptableKey { attempts })) => {
                let who: Vec<&str> = attempts.iter().map(|a| a.keyring.as_str()).collect();
                assert_eq!(
                    who,
                    ["raw-aes(ns/gen)", "raw-aes(ns/child)", "raw-aes(ns/other)"]
                );
                assert!(attempts[0].reason.contains("unwrapping failed"));
                assert!(
                    attempts[2]
                        .reason
                        .contains("no encrypted data key names this key")
                );
            }
            other => panic!("expected NoDecryptableKey, got {other:?}"),
        }

        // Tampered EDKs fail the same way.
        let tampered: Vec<EncryptedDataKey> = out
            .encrypted_data_keys()
            .iter()
            .map(|e| {
                let mut ct = e.ciphertext().to_vec();
                ct[0] ^= 0x80;
                EncryptedDataKey::new(e.provider_id(), e.provider_info().to_vec(), ct)
            })
            .collect();
        assert!(matches!(
            block_on(multi.on_decrypt(dec_materials(), &tampered)),
            Err(Error::Keyring(KeyringError::NoDecryptableKey { .. }))
        ));
    }

    #[test]
    fn configuration_and_materials_rules() {
        assert!(matches!(
            MultiKeyring::new(None, vec![]),
            Err(Error::Keyring(KeyringError::InvalidConfiguration(_)))
        ));
        // Without a generator the materials must bring a data key.
        let children_only = MultiKeyring::new(None, vec![aes("a", 1), aes("b", 2)]).unwrap();
        assert!(matches!(
            block_on(children_only.on_encrypt(enc_materials())),
            Err(Error::Keyring(KeyringError::InvalidMaterials(_)))
        ));
        let mut m = enc_materials();
        m.set_data_key(crate::DataKey::new(vec![5; 32])).unwrap();
        let out = block_on(children_only.on_encrypt(m.clone())).unwrap();
        assert_eq!(out.encrypted_data_keys().len(), 2);
        // On decrypt, materials that already hold a data key come back unchanged.
        let mut held = dec_materials();
        held.set_data_key(crate::DataKey::new(vec![6; 32])).unwrap();
        let back = block_on(children_only.on_decrypt(held, &[])).unwrap();
        assert_eq!(back.data_key().unwrap().expose(), &[6; 32]);
        // With a generator the materials must not hold one.
        let with_gen = MultiKeyring::new(Some(aes("g", 3)), vec![]).unwrap();
        assert!(matches!(
            block_on(with_gen.on_encrypt(m)),
            Err(Error::Keyring(KeyringError::InvalidMaterials(_)))
        ));
        // A failing child (here: one that insists on generating) fails the whole encryption.
        let failing =
            MultiKeyring::new(Some(aes("g2", 4)), vec![aes("ok", 1), Arc::new(with_gen)]).unwrap();
        assert!(matches!(
            block_on(failing.on_encrypt(enc_materials())),
            Err(Error::Keyring(KeyringError::InvalidMaterials(_)))
        ));
    }
}
