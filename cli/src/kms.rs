//! AWS keyrings from `--wrapping-keys` groups: KMS keys (strict, or MRK-aware for `mrk-` keys,
//! as the official CLI's providers are), KMS discovery, KMS RSA, KMS ECDH and the hierarchical
//! keyring over a DynamoDB branch key store.
//!
//! Clients come from aws-config's standard chain, with a group's `profile=` (a named profile:
//! its credentials and Region) and `region=` (the Region of key IDs and aliases, which carry
//! none), and the endpoints of `--kms-endpoint`/`--dynamodb-endpoint` or `AWS_ENDPOINT_URL`.

/// The AWS settings of one `--wrapping-keys` group and of the command line.
#[cfg_attr(not(feature = "kms"), allow(dead_code))]
#[derive(Debug, Clone, Default)]
pub struct Aws {
    pub kms_endpoint: Option<String>,
    pub dynamodb_endpoint: Option<String>,
    pub profile: Option<String>,
    pub region: Option<String>,
    pub grant_tokens: Vec<String>,
}

/// `key=kms-ecdh:ARN` (static, with the recipient's public key) or `kms-ecdh-discovery:ARN`.
#[cfg_attr(not(feature = "kms"), allow(dead_code))]
pub struct KmsEcdh<'a> {
    pub key_id: &'a str,
    pub recipient_public_der: Option<&'a [u8]>,
    pub curve: Option<esdk::crypto::EcdhCurve>,
}

/// The OAEP digest of a KMS RSA key (`padding=oaep-sha1|oaep-sha256`).
#[cfg_attr(not(feature = "kms"), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KmsRsa {
    OaepSha1,
    OaepSha256,
}

/// `key=hierarchy:BRANCH_KEY_ID` with its key store.
#[cfg_attr(not(feature = "kms"), allow(dead_code))]
pub struct Hierarchy<'a> {
    pub branch_key_id: &'a str,
    pub table: &'a str,
    pub logical_name: Option<&'a str>,
    pub kms_key: &'a str,
    pub ttl: std::time::Duration,
}

#[cfg(feature = "kms")]
pub use imp::*;

#[cfg(feature = "kms")]
mod imp {
    use std::collections::HashMap;
    use std::sync::Arc;

    use aws_config::BehaviorVersion;
    use aws_sdk_kms::config::Region;
    use esdk::Keyring;
    use esdk::crypto::EcdhCurve;
    use esdk::error::KeyringError;
    use esdk::keyring::aws_kms::client::{
        DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_OPERATION_TIMEOUT,
    };
    use esdk::keyring::aws_kms::{
        AwsKmsEcdhKeyring, AwsKmsKeyring, AwsKmsMrkKeyring, AwsKmsMultiKeyring, AwsKmsRsaKeyring,
        ClientSupplier, DiscoveryFilter, KmsArn, KmsClient, KmsEcdhScheme, KmsRsaAlgorithm,
        is_multi_region_identifier,
    };
    use futures::future::BoxFuture;
    use tokio::sync::Mutex;

    use super::{Aws, Hierarchy, KmsEcdh};
    use crate::Failure;

    /// A keyring setup failure: the service's refusal is a key failure (exit 1), anything
    /// else a usage error (exit 2).
    pub fn setup_failure(what: &str, e: esdk::Error) -> Failure {
        match e {
            esdk::Error::Keyring(KeyringError::Service { .. }) => Failure::from(e).context(what),
            other => Failure::usage(format!("{what}: {other}")),
        }
    }

    async fn shared_config(
        aws: &Aws,
        region: Option<&str>,
        endpoint: Option<&str>,
    ) -> aws_config::SdkConfig {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
            .operation_attempt_timeout(DEFAULT_ATTEMPT_TIMEOUT)
            .operation_timeout(DEFAULT_OPERATION_TIMEOUT)
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts);
        if let Some(p) = &aws.profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = region.or(aws.region.as_deref()) {
            loader = loader.region(Region::new(r.to_owned()));
        }
        if let Some(url) = endpoint {
            loader = loader.endpoint_url(url);
        }
        loader.load().await
    }

    /// KMS clients for one group: per Region, made once, with the group's profile.
    #[derive(Debug)]
    pub struct Supplier {
        aws: Aws,
        clients: Mutex<HashMap<Option<String>, KmsClient>>,
    }

    impl Supplier {
        pub fn new(aws: &Aws) -> Arc<Self> {
            Arc::new(Self {
                aws: aws.clone(),
                clients: Mutex::default(),
            })
        }
    }

    impl ClientSupplier for Supplier {
        fn client<'a>(&'a self, region: Option<&'a str>) -> BoxFuture<'a, esdk::Result<KmsClient>> {
            Box::pin(async move {
                let mut clients = self.clients.lock().await;
                let key = region.map(str::to_owned);
                if let Some(c) = clients.get(&key) {
                    return Ok(c.clone());
                }
                let shared =
                    shared_config(&self.aws, region, self.aws.kms_endpoint.as_deref()).await;
                if shared.region().is_none() {
                    return Err(KeyringError::InvalidConfiguration(
                        "no AWS Region: give region=R in the --wrapping-keys group, a profile \
                         with a Region, or AWS_REGION"
                            .into(),
                    )
                    .into());
                }
                let client = KmsClient::from_sdk_client(aws_sdk_kms::Client::new(&shared));
                tracing::debug!(region = ?client.region(), profile = ?self.aws.profile, "KMS client");
                clients.insert(key, client.clone());
                Ok(client)
            })
        }
    }

    /// The Region a key identifier's client is for: its ARN's, else the group's (or the
    /// default chain's).
    fn region_of(id: &str) -> Result<Option<String>, Failure> {
        if id.starts_with("arn:") {
            let arn = KmsArn::parse(id).map_err(|e| Failure::usage(format!("{id}: {e}")))?;
            return Ok(Some(arn.region().to_owned()));
        }
        Ok(None)
    }

    async fn client_for(supplier: &Supplier, id: &str) -> Result<KmsClient, Failure> {
        let region = region_of(id)?;
        supplier
            .client(region.as_deref())
            .await
            .map_err(|e| setup_failure(id, e))
    }

    /// One keyring per KMS key: MRK-aware for multi-Region keys (`mrk-…`), strict otherwise.
    pub async fn keys(ids: &[String], aws: &Aws) -> Result<Vec<Arc<dyn Keyring>>, Failure> {
        let supplier = Supplier::new(aws);
        let mut out: Vec<Arc<dyn Keyring>> = Vec::with_capacity(ids.len());
        for id in ids {
            let mrk = is_multi_region_identifier(id)
                .map_err(|e| Failure::usage(format!("KMS key {id}: {e}")))?;
            let client = client_for(&supplier, id).await?;
            let tokens = aws.grant_tokens.iter().cloned();
            let keyring: Arc<dyn Keyring> = if mrk {
                Arc::new(
                    AwsKmsMrkKeyring::new(id.clone(), client)
                        .map_err(|e| setup_failure(id, e))?
                        .grant_tokens(tokens),
                )
            } else {
                Arc::new(
                    AwsKmsKeyring::new(id.clone(), client)
                        .map_err(|e| setup_failure(id, e))?
                        .grant_tokens(tokens),
                )
            };
            tracing::debug!(key = %id, mrk, "KMS keyring");
            out.push(keyring);
        }
        Ok(out)
    }

    /// `discovery=true`: MRK-aware discovery in each Region (as the official CLI's
    /// discovery provider), optionally filtered by partition and accounts.
    pub async fn discovery(
        regions: &[String],
        partition: Option<&str>,
        accounts: &[String],
        aws: &Aws,
    ) -> Result<Arc<dyn Keyring>, Failure> {
        let supplier = Supplier::new(aws);
        let mut regions = regions.to_vec();
        if regions.is_empty() {
            let client = supplier
                .client(None)
                .await
                .map_err(|e| setup_failure("KMS discovery", e))?;
            regions.push(client.region().unwrap_or_default().to_owned());
        }
        let mut b = AwsKmsMultiKeyring::mrk_discovery(regions)
            .client_supplier(supplier)
            .grant_tokens(aws.grant_tokens.iter().cloned());
        if partition.is_some() || !accounts.is_empty() {
            let filter = DiscoveryFilter::new(
                partition.unwrap_or("aws").to_owned(),
                accounts.iter().cloned(),
            )
            .map_err(|e| Failure::usage(format!("discovery filter: {e}")))?;
            b = b.filter(filter);
        }
        let k = b
            .build()
            .await
            .map_err(|e| setup_failure("KMS discovery", e))?;
        Ok(Arc::new(k))
    }

    /// `key=kms-rsa:ARN`: data keys encrypted locally with the key's public key (`public-key=`,
    /// else read once with GetPublicKey when encrypting), decrypted by KMS.
    pub async fn rsa(
        id: &str,
        padding: super::KmsRsa,
        public_pem: Option<&str>,
        encrypting: bool,
        aws: &Aws,
    ) -> Result<Arc<dyn Keyring>, Failure> {
        let algorithm = match padding {
            super::KmsRsa::OaepSha1 => KmsRsaAlgorithm::RsaesOaepSha1,
            super::KmsRsa::OaepSha256 => KmsRsaAlgorithm::RsaesOaepSha256,
        };
        let supplier = Supplier::new(aws);
        let client = client_for(&supplier, id).await?;
        let mut k = AwsKmsRsaKeyring::new(id, algorithm)
            .map_err(|e| setup_failure(id, e))?
            .crypto_provider(&crate::crypto::PROVIDER)
            .grant_tokens(aws.grant_tokens.iter().cloned());
        let pem = match public_pem {
            Some(p) => Some(p.to_owned()),
            None if encrypting => {
                let region = region_of(id)?;
                let sdk = aws_sdk_kms::Client::new(
                    &shared_config(aws, region.as_deref(), aws.kms_endpoint.as_deref()).await,
                );
                let mut call = sdk.get_public_key().key_id(id);
                for t in &aws.grant_tokens {
                    call = call.grant_tokens(t);
                }
                let out = call.send().await.map_err(|e| {
                    Failure::from(esdk::Error::from(KeyringError::Service {
                        key_id: id.to_owned(),
                        message: format!(
                            "GetPublicKey failed: {}",
                            esdk::keyring::aws_kms::sdk_error_summary(&e)
                        ),
                        source: Some(Arc::new(e)),
                    }))
                })?;
                let der = out.public_key.map(|b| b.into_inner()).unwrap_or_default();
                Some(crate::ecdh::der_to_pem(&der))
            }
            None => None,
        };
        if let Some(pem) = pem {
            k = k.public_key_pem(&pem).map_err(|e| setup_failure(id, e))?;
        }
        Ok(Arc::new(k.client(client)))
    }

    /// `key=kms-ecdh:ARN recipient=PEM` or `key=kms-ecdh-discovery:ARN`.
    pub async fn ecdh(spec: KmsEcdh<'_>, aws: &Aws) -> Result<Arc<dyn Keyring>, Failure> {
        let supplier = Supplier::new(aws);
        let client = client_for(&supplier, spec.key_id).await?;
        let curves: Vec<EcdhCurve> = match (spec.curve, spec.recipient_public_der) {
            (Some(c), _) => vec![c],
            (None, Some(der)) => vec![crate::ecdh::curve_of_public_der(der)?],
            (None, None) => vec![EcdhCurve::P256, EcdhCurve::P384, EcdhCurve::P521],
        };
        let mut first_error = None;
        for curve in curves {
            let scheme = match spec.recipient_public_der {
                Some(der) => KmsEcdhScheme::KmsPrivateKeyToStaticPublicKey {
                    sender_kms_key_id: spec.key_id,
                    sender_public_key_der: None,
                    recipient_public_key_der: der,
                },
                None => KmsEcdhScheme::KmsPublicKeyDiscovery {
                    recipient_kms_key_id: spec.key_id,
                },
            };
            match AwsKmsEcdhKeyring::builder(curve, scheme, client.clone())
                .grant_tokens(aws.grant_tokens.iter().cloned())
                .crypto_provider(&crate::crypto::PROVIDER)
                .build()
                .await
            {
                Ok(k) => return Ok(Arc::new(k)),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(setup_failure(
            spec.key_id,
            first_error.unwrap_or_else(|| esdk::Error::ApiMisuse("no curve".into())),
        ))
    }

    /// `key=hierarchy:BRANCH_KEY_ID key-store-table=T key-store-kms-key=ARN`.
    #[cfg(feature = "hierarchy")]
    pub async fn hierarchy(h: Hierarchy<'_>, aws: &Aws) -> Result<Arc<dyn Keyring>, Failure> {
        use esdk::HierarchicalKeyring;
        use esdk::keyring::{DynamoDbKeyStore, KmsConfiguration};

        let supplier = Supplier::new(aws);
        let kms_client = client_for(&supplier, h.kms_key).await?;
        let kms_region = region_of(h.kms_key)?;
        let ddb_config = shared_config(
            aws,
            aws.region.as_deref().or(kms_region.as_deref()),
            aws.dynamodb_endpoint.as_deref(),
        )
        .await;
        let ddb = aws_sdk_dynamodb::Client::new(&ddb_config);
        let mrk = is_multi_region_identifier(h.kms_key)
            .map_err(|e| Failure::usage(format!("key-store-kms-key: {e}")))?;
        let config = if mrk {
            KmsConfiguration::KmsMrKeyArn(h.kms_key.to_owned())
        } else {
            KmsConfiguration::KmsKeyArn(h.kms_key.to_owned())
        };
        let store = DynamoDbKeyStore::builder()
            .dynamodb_client(ddb)
            .kms_client(kms_client)
            .table_name(h.table)
            .logical_key_store_name(h.logical_name.unwrap_or(h.table))
            .kms_configuration(config)
            .grant_tokens(aws.grant_tokens.iter().cloned())
            .build()
            .map_err(|e| setup_failure("branch key store", e))?;
        let k = HierarchicalKeyring::builder(Arc::new(store))
            .branch_key_id(h.branch_key_id)
            .ttl(h.ttl)
            .crypto_provider(&crate::crypto::PROVIDER)
            .build()
            .map_err(|e| setup_failure("hierarchical keyring", e))?;
        Ok(Arc::new(k))
    }

    #[cfg(not(feature = "hierarchy"))]
    pub async fn hierarchy(_: Hierarchy<'_>, _: &Aws) -> Result<Arc<dyn Keyring>, Failure> {
        Err(Failure::usage(
            "this esdk was built without the `hierarchy` feature: key=hierarchy: is unavailable",
        ))
    }
}

#[cfg(not(feature = "kms"))]
pub use off::*;

#[cfg(not(feature = "kms"))]
mod off {
    use std::sync::Arc;

    use esdk::Keyring;

    use super::{Aws, Hierarchy, KmsEcdh};
    use crate::Failure;

    const OFF: &str = "this esdk was built without the `kms` feature: AWS keys are unavailable";

    pub async fn keys(_: &[String], _: &Aws) -> Result<Vec<Arc<dyn Keyring>>, Failure> {
        Err(Failure::usage(OFF))
    }

    pub async fn discovery(
        _: &[String],
        _: Option<&str>,
        _: &[String],
        _: &Aws,
    ) -> Result<Arc<dyn Keyring>, Failure> {
        Err(Failure::usage(OFF))
    }

    pub async fn rsa(
        _: &str,
        _: super::KmsRsa,
        _: Option<&str>,
        _: bool,
        _: &Aws,
    ) -> Result<Arc<dyn Keyring>, Failure> {
        Err(Failure::usage(OFF))
    }

    pub async fn ecdh(_: KmsEcdh<'_>, _: &Aws) -> Result<Arc<dyn Keyring>, Failure> {
        Err(Failure::usage(OFF))
    }

    pub async fn hierarchy(_: Hierarchy<'_>, _: &Aws) -> Result<Arc<dyn Keyring>, Failure> {
        Err(Failure::usage(OFF))
    }
}
