//! The client: policy and limits, the one-shot `encrypt` / `decrypt` calls and their options.
//!
//! The one-shot calls run drivers (in `oneshot.rs`) over the sans-IO [`Encryptor`] and
//! [`HeaderDecoder`]; the header-time steps they share with the streaming adapters
//! ([`Client::encryptor`], [`Client::decrypt_materials`]) are public so every adapter uses the
//! same code.

use std::sync::Arc;

use crate::cmm::{
    CachingCmm, CryptographicMaterialsManager, DecryptMaterialsRequest, DefaultCmm,
    EncryptionMaterialsRequest, RequiredEncryptionContextCmm,
};
use crate::crypto::{CryptoProvider, default_provider};
use crate::error::{KeyringError, PolicyError, Result};
use crate::format::context::EncryptionContext;
use crate::format::{FrameLength, MessageHeader};
use crate::keyring::{
    HierarchicalKeyring, Keyring, MultiKeyring, RawAesKeyring, RawEcdhKeyring, RawRsaKeyring,
};
use crate::limits::Limits;
use crate::materials::DecryptionMaterials;
use crate::parallel::Parallelism;
use crate::proto::{Encryptor, HeaderDecoder, Release};
use crate::suite::{AlgorithmSuite, CommitmentPolicy};

/// Where materials come from: a keyring (wrapped in a [`DefaultCmm`]) or a CMM.
#[derive(Debug, Clone)]
pub enum MaterialsSource {
    /// A keyring; a default CMM is put around it.
    Keyring(Arc<dyn Keyring>),
    /// A cryptographic materials manager.
    Cmm(Arc<dyn CryptographicMaterialsManager>),
}

impl MaterialsSource {
    /// A source from any keyring.
    pub fn keyring(keyring: impl Keyring + 'static) -> Self {
        Self::Keyring(Arc::new(keyring))
    }

    /// A source from any CMM.
    pub fn cmm(cmm: impl CryptographicMaterialsManager + 'static) -> Self {
        Self::Cmm(Arc::new(cmm))
    }

    fn to_cmm(&self, provider: &CryptoProvider) -> Arc<dyn CryptographicMaterialsManager> {
        match self {
            Self::Keyring(k) => Arc::new(DefaultCmm::new(k.clone()).crypto_provider(provider)),
            Self::Cmm(c) => c.clone(),
        }
    }
}

impl From<Arc<dyn Keyring>> for MaterialsSource {
    fn from(k: Arc<dyn Keyring>) -> Self {
        Self::Keyring(k)
    }
}

impl From<Arc<dyn CryptographicMaterialsManager>> for MaterialsSource {
    fn from(c: Arc<dyn CryptographicMaterialsManager>) -> Self {
        Self::Cmm(c)
    }
}

/// Any keyring already shared in an `Arc` (the same keyring can serve several sources).
impl<K: Keyring + 'static> From<Arc<K>> for MaterialsSource {
    fn from(k: Arc<K>) -> Self {
        Self::Keyring(k)
    }
}

/// A built-in CMM already shared in an `Arc`. For a CMM of your own in an `Arc`, use
/// `MaterialsSource::Cmm(arc)` (the `Arc` converts to `Arc<dyn CryptographicMaterialsManager>`).
macro_rules! shared_cmm_sources {
    ($($cmm:ty),* $(,)?) => {$(
        impl From<Arc<$cmm>> for MaterialsSource {
            fn from(c: Arc<$cmm>) -> Self {
                Self::Cmm(c)
            }
        }
    )*};
}

shared_cmm_sources!(DefaultCmm, RequiredEncryptionContextCmm, CachingCmm);

impl From<&MaterialsSource> for MaterialsSource {
    fn from(s: &MaterialsSource) -> Self {
        s.clone()
    }
}

/// `From<keyring> for MaterialsSource`: the keyring gets a default CMM around it.
macro_rules! keyring_sources {
    ($($keyring:ty),* $(,)?) => {$(
        impl From<$keyring> for MaterialsSource {
            fn from(k: $keyring) -> Self {
                Self::keyring(k)
            }
        }
    )*};
}

keyring_sources!(
    RawAesKeyring,
    RawRsaKeyring,
    RawEcdhKeyring,
    MultiKeyring,
    HierarchicalKeyring,
);

#[cfg(feature = "kms")]
macro_rules! kms_materials_source {
    ($($t:ident),*) => {$(
        #[cfg_attr(docsrs, doc(cfg(feature = "kms")))]
        impl From<crate::keyring::aws_kms::$t> for MaterialsSource {
            fn from(k: crate::keyring::aws_kms::$t) -> Self {
                Self::keyring(k)
            }
        }
    )*};
}

#[cfg(feature = "kms")]
kms_materials_source!(
    AwsKmsKeyring,
    AwsKmsMrkKeyring,
    AwsKmsDiscoveryKeyring,
    AwsKmsMrkDiscoveryKeyring,
    AwsKmsMultiKeyring,
    AwsKmsRsaKeyring,
    AwsKmsEcdhKeyring
);

impl From<DefaultCmm> for MaterialsSource {
    fn from(c: DefaultCmm) -> Self {
        Self::cmm(c)
    }
}

impl From<RequiredEncryptionContextCmm> for MaterialsSource {
    fn from(c: RequiredEncryptionContextCmm) -> Self {
        Self::cmm(c)
    }
}

impl From<CachingCmm> for MaterialsSource {
    fn from(c: CachingCmm) -> Self {
        Self::cmm(c)
    }
}

/// Holds the commitment policy, the limits and the crypto provider. Cheap to clone; immutable
/// once built.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    policy: CommitmentPolicy,
    limits: Limits,
    provider: &'static CryptoProvider,
    parallelism: Parallelism,
    suite: Option<AlgorithmSuite>,
    frame_length: FrameLength,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

/// Builds a [`Client`].
#[derive(Debug, Clone, Copy)]
#[must_use = "a builder does nothing until built"]
pub struct ClientBuilder(Client);

impl ClientBuilder {
    /// The commitment policy (default REQUIRE_ENCRYPT_REQUIRE_DECRYPT).
    pub fn commitment_policy(mut self, policy: CommitmentPolicy) -> Self {
        self.0.policy = policy;
        self
    }

    /// The most encrypted data keys a message may have, on encrypt and decrypt.
    pub fn max_encrypted_data_keys(mut self, n: u16) -> Self {
        self.0.limits = self.0.limits.max_encrypted_data_keys(n);
        self
    }

    /// Decryption limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.0.limits = limits;
        self
    }

    /// The crypto provider (default: [`default_provider`]).
    pub fn crypto_provider(mut self, provider: &'static CryptoProvider) -> Self {
        self.0.provider = provider;
        self
    }

    /// How large messages use several cores (default: [`Parallelism::default`]; see
    /// [`crate::parallel`]). Output bytes are the same either way.
    pub fn parallelism(mut self, parallelism: Parallelism) -> Self {
        self.0.parallelism = parallelism;
        self
    }

    /// The algorithm suite messages are encrypted with when the call does not choose one.
    /// Without it, the commitment policy's default applies: 0x0578 under the default policy,
    /// which is **signed** (ECDSA P-384). Signing costs about 60 times the work of a small
    /// unsigned message, and streaming decryption holds a signed message's final frame back
    /// until the signature verifies. Unsigned committing suite for services whose readers
    /// are trusted as much as the writers:
    /// `AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY` (0x0478), which also allows range
    /// reads ([`crate::io::RangeReader`]).
    pub fn algorithm_suite(mut self, suite: AlgorithmSuite) -> Self {
        self.0.suite = Some(suite);
        self
    }

    /// The frame length of the messages this client encrypts when the call does not choose
    /// one (default 4096 bytes). An [`EncryptOptions::frame_length`] left at its default
    /// ([`FrameLength::DEFAULT`]) means this one.
    pub fn frame_length(mut self, frame_length: FrameLength) -> Self {
        self.0.frame_length = frame_length;
        self
    }

    /// The client.
    pub fn build(self) -> Client {
        self.0
    }
}

/// Options for encrypting one message, for every encrypting adapter (and, through
/// [`EncryptCall::options`](crate::EncryptCall::options), the one-shot call): a builder
/// starting from the defaults, with the same method names as [`EncryptCall`](crate::EncryptCall).
///
/// ```
/// use esdk::{AlgorithmSuite, EncryptOptions, FrameLength};
/// let options = EncryptOptions::new()
///     .encryption_context([("purpose", "demo")])
///     .algorithm_suite(AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY)
///     .frame_length(FrameLength::new(64 * 1024).unwrap());
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
#[must_use = "options do nothing until passed to an encryption"]
pub struct EncryptOptions {
    pub(crate) encryption_context: EncryptionContext,
    pub(crate) algorithm_suite: Option<AlgorithmSuite>,
    /// [`FrameLength::DEFAULT`] stands for the client's frame length.
    pub(crate) frame_length: FrameLength,
    pub(crate) max_plaintext_length: Option<u64>,
}

impl EncryptOptions {
    /// The defaults: empty encryption context, the client's suite and frame length, no
    /// declared plaintext length.
    pub fn new() -> Self {
        Self::default()
    }

    /// The encryption context (no key may start with `aws-crypto-`).
    pub fn encryption_context<K: Into<String>, V: Into<String>>(
        mut self,
        context: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.encryption_context = context.into_iter().collect();
        self
    }

    /// The algorithm suite (default: the client's, see [`ClientBuilder::algorithm_suite`], or
    /// else the commitment policy's default).
    pub fn algorithm_suite(mut self, suite: AlgorithmSuite) -> Self {
        self.algorithm_suite = Some(suite);
        self
    }

    /// The frame length (default: the client's, see [`ClientBuilder::frame_length`], which is
    /// 4096 unless set). Setting [`FrameLength::DEFAULT`] (4096) also means the client's.
    pub fn frame_length(mut self, frame_length: FrameLength) -> Self {
        self.frame_length = frame_length;
        self
    }

    /// The most plaintext this message will hold, when known in advance (the spec's "max
    /// plaintext length": it lets caching CMMs account for it). Every encrypting adapter (and
    /// the [`Encryptor`] of [`Client::encryptor`]) fails with
    /// [`LimitError::PlaintextLengthExceeded`](crate::error::LimitError::PlaintextLengthExceeded)
    /// rather than encrypt more. The one-shot calls set it to the plaintext's length.
    pub fn max_plaintext_length(mut self, n: u64) -> Self {
        self.max_plaintext_length = Some(n);
        self
    }
}

/// The result of a one-shot encryption.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EncryptOutput {
    /// The whole message.
    pub ciphertext: Vec<u8>,
    /// Its header.
    pub header: MessageHeader,
    /// The full encryption context, required pairs and the signature public key included.
    pub encryption_context: EncryptionContext,
}

/// The result of a one-shot decryption.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DecryptOutput {
    /// The plaintext.
    pub plaintext: Vec<u8>,
    /// The message header.
    pub header: MessageHeader,
    /// The full encryption context: the header's plus reproduced required pairs.
    pub encryption_context: EncryptionContext,
}

impl Client {
    /// A client with the default policy (REQUIRE_ENCRYPT_REQUIRE_DECRYPT), default limits and
    /// the default crypto provider.
    pub fn new() -> Self {
        Self {
            policy: CommitmentPolicy::default(),
            limits: Limits::default(),
            provider: default_provider(),
            parallelism: Parallelism::default(),
            suite: None,
            frame_length: FrameLength::DEFAULT,
        }
    }

    /// A builder starting from the defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder(Self::new())
    }

    /// The commitment policy.
    pub fn commitment_policy(&self) -> CommitmentPolicy {
        self.policy
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The crypto provider.
    pub fn crypto_provider(&self) -> &'static CryptoProvider {
        self.provider
    }

    /// How large messages use several cores.
    pub fn parallelism(&self) -> &Parallelism {
        &self.parallelism
    }

    /// The algorithm suite set with [`ClientBuilder::algorithm_suite`], if any.
    pub fn algorithm_suite(&self) -> Option<AlgorithmSuite> {
        self.suite
    }

    /// The frame length used when a call does not choose one.
    pub fn frame_length(&self) -> FrameLength {
        self.frame_length
    }

    /// The header phase of encryption: gets materials from the source, checks them against the
    /// policy and limits, and returns an [`Encryptor`] with the header ready.
    ///
    /// # Errors
    /// A reserved encryption context key, a suite the policy forbids, too many encrypted data
    /// keys, or any keyring failure.
    pub async fn encryptor(
        &self,
        source: &MaterialsSource,
        options: &EncryptOptions,
    ) -> Result<Encryptor> {
        if let Some(k) = options.encryption_context.reserved_key() {
            return Err(PolicyError::ReservedEncryptionContextKey(k.to_owned()).into());
        }
        let requested = options.algorithm_suite.or(self.suite);
        if let Some(s) = requested {
            self.policy.check_encrypt(s)?;
        }
        let mut request =
            EncryptionMaterialsRequest::new(options.encryption_context.clone(), self.policy);
        request.algorithm_suite = requested;
        request.max_plaintext_length = options.max_plaintext_length;
        let materials = source
            .to_cmm(self.provider)
            .get_encryption_materials(request)
            .await?;
        let suite = materials.algorithm_suite();
        self.policy.check_encrypt(suite)?;
        if requested.is_some_and(|s| s != suite) {
            return Err(PolicyError::MaterialsMismatch(
                "materials use another algorithm suite than requested",
            )
            .into());
        }
        if let Some(limit) = self.limits.max_encrypted_data_keys {
            let got = materials.encrypted_data_keys().len();
            if got > usize::from(limit) {
                return Err(
                    crate::error::LimitError::TooManyEncryptedDataKeys { limit, got }.into(),
                );
            }
        }
        for key in materials.required_encryption_context_keys() {
            if !materials.encryption_context().contains_key(key) {
                return Err(PolicyError::MissingRequiredEncryptionContextKey(key.clone()).into());
            }
        }
        let frame_length = if options.frame_length == FrameLength::DEFAULT {
            self.frame_length
        } else {
            options.frame_length
        };
        let encryptor = Encryptor::new(&materials, frame_length, self.provider)?;
        Ok(match options.max_plaintext_length {
            Some(n) => encryptor.with_max_plaintext_length(n),
            None => encryptor,
        })
    }

    /// The sans-IO decryption of one message, configured with this client's policy, limits and
    /// crypto provider: its first step, the [`HeaderDecoder`]. Of the release modes only
    /// [`Release::UnsignedOnly`] changes what it accepts (a signed message then fails right
    /// after its header); holding plaintext back ([`Release::Verified`]) is a driver's choice.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use esdk::proto::DecryptEvent;
    /// use esdk::io::Release;
    /// use esdk::{Client, MaterialsSource, RawAesKeyring};
    ///
    /// # futures::executor::block_on(async {
    /// let client = Client::new();
    /// let keys = MaterialsSource::from(RawAesKeyring::new("ns", "key", &[7u8; 32])?);
    /// let message = client.encrypt(&keys, b"hello").await?.ciphertext;
    ///
    /// let mut input = BytesMut::from(&message[..]);
    /// let mut decoder = client.header_decoder(Release::Streaming);
    /// let parsed = decoder.decode(&mut input)?.expect("the whole message is in");
    /// let materials = client.decrypt_materials(&keys, parsed.header(), None).await?;
    /// let mut body = parsed.with_materials(&materials)?;
    /// let mut plaintext = Vec::new();
    /// while let Some(event) = body.decode(&mut input)? {
    ///     match event {
    ///         DecryptEvent::Plaintext(p) => plaintext.extend_from_slice(&p),
    ///         DecryptEvent::Done => break,
    ///         _ => {}
    ///     }
    /// }
    /// body.finish(&input)?;
    /// assert_eq!(plaintext, b"hello");
    /// # Ok::<(), esdk::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn header_decoder(&self, release: Release) -> HeaderDecoder {
        HeaderDecoder::new(self.policy, self.limits, release, self.provider)
    }

    /// The header phase of decryption: asks the source for materials for `header`, with the
    /// caller's reproduced encryption context, and checks them.
    ///
    /// # Errors
    /// A policy refusal, a context mismatch, or any keyring failure.
    pub async fn decrypt_materials(
        &self,
        source: &MaterialsSource,
        header: &MessageHeader,
        reproduced: Option<&EncryptionContext>,
    ) -> Result<DecryptionMaterials> {
        self.policy.check_decrypt(header.algorithm_suite())?;
        let mut request = DecryptMaterialsRequest::new(header, self.policy, reproduced.cloned());
        request.checks = crate::materials::DecryptChecks {
            candidate: crate::proto::keys::CandidateCheck::for_header(header, self.provider)
                .map(|check| Arc::new(check) as Arc<dyn crate::materials::CandidateCheck>),
            attempts: self
                .limits
                .max_encrypted_data_keys
                .map(crate::materials::AttemptBudget::new),
        };
        let materials = source
            .to_cmm(self.provider)
            .decrypt_materials(request)
            .await?;
        if materials.data_key().is_none() {
            return Err(KeyringError::InvalidMaterials("no plaintext data key").into());
        }
        if let Some(reproduced) = reproduced {
            for (k, v) in reproduced.iter() {
                if materials.encryption_context().get(k) != Some(v) {
                    return Err(PolicyError::EncryptionContextMismatch(k.to_owned()).into());
                }
            }
        }
        Ok(materials)
    }
}
