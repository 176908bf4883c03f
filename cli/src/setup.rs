//! What `encrypt` and `decrypt` set up before touching any file: the encryption context
//! (`-c`), the keyring (`--wrapping-keys`) behind an optional caching CMM (`--caching`), and the
//! client with its policy and limits (`--commitment-policy`, `--max-encrypted-data-keys`,
//! `--max-length` on decrypt).

use std::sync::Arc;

use esdk::{CachingCmm, Client, EncryptionContext, Keyring, LocalMaterialsCache, MaterialsSource};

use crate::compat::Caching;
use crate::keys::{self, Purpose};
use crate::run::Mode;
use crate::{Common, Failure};

pub struct Setup {
    pub client: Client,
    pub source: MaterialsSource,
    pub context: EncryptionContext,
    /// `-c KEY` on decrypt: keys the message's context must have, with any value.
    pub required_keys: Vec<String>,
}

pub async fn setup(common: &Common, purpose: Purpose, mode: Mode) -> Result<Setup, Failure> {
    let mut context = EncryptionContext::new();
    let mut required_keys = Vec::new();
    for (k, v) in &common.encryption_context {
        match (v, purpose) {
            (Some(v), _) => {
                context.insert(k.clone(), v.clone());
            }
            (None, Purpose::Decrypt) => required_keys.push(k.clone()),
            (None, Purpose::Encrypt) => {
                return Err(Failure::usage(format!(
                    "-c {k}: encrypting needs key=value (a bare key only works to decrypt)"
                )));
            }
        }
    }
    tracing::debug!(
        groups = ?common.key_groups,
        recursive = common.recursive,
        suppress_metadata = common.suppress_metadata,
        "settings"
    );
    let endpoints = keys::Endpoints {
        kms: common.kms_endpoint.as_deref(),
        dynamodb: common.dynamodb_endpoint.as_deref(),
    };
    let keyring: Arc<dyn Keyring> = keys::keyring(&common.key_groups, purpose, endpoints).await?;
    let source = match &common.caching {
        None => MaterialsSource::from(keyring),
        Some(settings) => {
            let c = Caching::parse(settings)?;
            let cache = Arc::new(LocalMaterialsCache::new(c.capacity));
            let mut b = CachingCmm::builder_with_keyring(keyring, cache, c.max_age)
                .crypto_provider(&crate::crypto::PROVIDER);
            if let Some(n) = c.max_messages {
                b = b.limit_messages(n);
            }
            if let Some(n) = c.max_bytes {
                b = b.limit_bytes(n);
            }
            let cmm = b
                .build()
                .map_err(|e| Failure::usage(format!("--caching: {e}")))?;
            tracing::debug!(?c, "caching CMM");
            MaterialsSource::from(cmm)
        }
    };
    let max_keys = common
        .max_encrypted_data_keys
        .unwrap_or(crate::run::DEFAULT_MAX_ENCRYPTED_DATA_KEYS);
    if max_keys == 0 {
        return Err(Failure::usage(
            "--max-encrypted-data-keys must be at least 1",
        ));
    }
    let mut limits = esdk::Limits::new().max_encrypted_data_keys(max_keys);
    if let Mode::Decrypt {
        max_frame_length,
        max_body_length,
        ..
    } = mode
    {
        if max_frame_length == 0 {
            return Err(Failure::usage("--max-frame-length must be at least 1"));
        }
        limits = limits
            .max_frame_length(max_frame_length)
            .max_body_len(max_body_length);
    }
    // The official CLI's --max-length on decrypt: a bound on the frame length or the
    // non-framed body, on top of the limits above.
    if let (
        Some(n),
        Mode::Decrypt {
            max_frame_length,
            max_body_length,
            ..
        },
    ) = (common.max_length, mode)
    {
        limits = limits
            .max_frame_length(u32::try_from(n).unwrap_or(u32::MAX).min(max_frame_length))
            .max_body_len(n.min(max_body_length));
    }
    let builder = Client::builder()
        .crypto_provider(&crate::crypto::PROVIDER)
        .parallelism(esdk::parallel::Parallelism::default().threads(common.threads))
        .commitment_policy(common.commitment_policy.into())
        .limits(limits);
    Ok(Setup {
        client: builder.build(),
        source,
        context,
        required_keys,
    })
}
