//! The branch key store in Amazon DynamoDB (`framework/branch-key-store.md`, hierarchy
//! version 1; feature `hierarchy`): branch keys made and protected by AWS KMS, kept in a table
//! that the Java, Python, .NET and Rust Material Providers Libraries read and write alike.
//!
//! # Table
//!
//! Partition key `branch-key-id` (S), sort key `type` (S). One branch key is three items at
//! creation, and one more per rotation:
//!
//! | `type` | `enc` (B) holds | extra attribute |
//! |---|---|---|
//! | `branch:version:<uuid>` | that version, wrapped for DECRYPT_ONLY use | |
//! | `branch:ACTIVE` | the active version, wrapped again | `version` = `branch:version:<uuid>` |
//! | `beacon:ACTIVE` | the beacon key (searchable encryption) | |
//!
//! Every item also has `kms-arn` (S), `create-time` (S, ISO 8601 UTC with microseconds),
//! `hierarchy-version` (N, `1`) and one `aws-crypto-ec:<key>` (S) attribute per pair of the
//! branch key's custom encryption context.
//!
//! # KMS
//!
//! The `enc` blobs are KMS ciphertexts whose encryption context is the item itself: every
//! attribute except `enc` (`hierarchy-version` as the string `"1"`), plus `tablename` = the
//! logical key store name. So KMS authenticates every attribute, and an item copied to another
//! logical store does not decrypt.
//!
//! * [`create_key`](DynamoDbKeyStore::create_key): `GenerateDataKeyWithoutPlaintext` (32
//!   bytes) under the DECRYPT_ONLY context, `ReEncrypt` to the ACTIVE context,
//!   `GenerateDataKeyWithoutPlaintext` for the beacon key, then one `TransactWriteItems` of the
//!   three items, each conditioned on `attribute_not_exists(branch-key-id)`.
//! * [`version_key`](DynamoDbKeyStore::version_key): reads `branch:ACTIVE`, authenticates it
//!   with `ReEncrypt` (same context both sides), makes a new version as above, and writes the
//!   new version item (condition: not there yet) and the new ACTIVE item (condition: the ACTIVE
//!   item still has the `enc` that was read) in one transaction: a concurrent rotation makes
//!   one of the two fail instead of silently losing a version.
//! * [`get_active_branch_key`](DynamoDbKeyStore::get_active_branch_key),
//!   [`get_branch_key_version`](DynamoDbKeyStore::get_branch_key_version),
//!   [`get_beacon_key`](DynamoDbKeyStore::get_beacon_key): `GetItem` (consistent read), checks
//!   of the item's attributes, then `Decrypt` with the item's encryption context.
//!
//! The store is a [`BranchKeySource`], so a [`HierarchicalKeyring`](super::HierarchicalKeyring)
//! reads branch keys from it; [`HierarchicalKeyring::builder`](super::HierarchicalKeyring::builder)
//! adds the branch key cache.
//!
//! Failures: DynamoDB and KMS errors come back as [`KeyringError::Service`] with the SDK error
//! as source; a missing item as [`KeyringError::BranchKeyNotFound`]; a malformed item, a table
//! with another key schema or a lost write race as [`KeyringError::KeyStore`].

use std::collections::HashMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put,
    ScalarAttributeType, TransactWriteItem,
};
use futures::future::BoxFuture;
use zeroize::Zeroizing;

use super::source::BranchKeySource;
use crate::crypto::default_provider;
use crate::error::{Error, KeyringError, Result};
use crate::format::context::EncryptionContext;
use crate::keyring::aws_kms::{KmsArn, KmsClient, ResourceType, mrk_match};
use crate::materials::{BranchKeyMaterials, format_uuid, parse_uuid};

/// The partition key of the table.
pub(crate) const BRANCH_KEY_ID_FIELD: &str = "branch-key-id";
/// The sort key of the table.
pub(crate) const TYPE_FIELD: &str = "type";
/// The attribute holding the KMS ciphertext.
pub(crate) const ENC_FIELD: &str = "enc";
/// The active item's attribute naming its version (`branch:version:<uuid>`).
pub(crate) const VERSION_FIELD: &str = "version";
/// The attribute naming the KMS key.
pub(crate) const KMS_ARN_FIELD: &str = "kms-arn";
/// The creation time attribute.
pub(crate) const CREATE_TIME_FIELD: &str = "create-time";
/// The hierarchy version attribute (N).
pub(crate) const HIERARCHY_VERSION_FIELD: &str = "hierarchy-version";
/// The encryption context key carrying the logical key store name.
pub(crate) const TABLE_NAME_CONTEXT_KEY: &str = "tablename";
/// The prefix of custom encryption context attributes.
pub(crate) const CUSTOM_CONTEXT_PREFIX: &str = "aws-crypto-ec:";
/// The `type` of the active branch key item.
pub(crate) const BRANCH_KEY_ACTIVE_TYPE: &str = "branch:ACTIVE";
/// The `type` prefix of branch key version items.
pub(crate) const BRANCH_KEY_VERSION_PREFIX: &str = "branch:version:";
/// The `type` of the beacon key item.
pub(crate) const BEACON_KEY_ACTIVE_TYPE: &str = "beacon:ACTIVE";

const HIERARCHY_VERSION: &str = "1";
const KEY_LEN: usize = 32;

/// Which KMS keys a key store uses (`AWS KMS Configuration`). ARNs only, never aliases.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KmsConfiguration {
    /// One KMS key; items must name exactly this ARN.
    KmsKeyArn(String),
    /// One KMS key; items may name any Region's replica of this multi-Region key (calls go to
    /// the configured one).
    KmsMrKeyArn(String),
    /// Any KMS key the items name (read only: no `create_key` or `version_key`).
    Discovery,
    /// Any KMS key the items name, multi-Region keys called in this Region (read only).
    MrDiscovery {
        /// The Region multi-Region key ARNs are moved to.
        region: String,
    },
}

impl KmsConfiguration {
    fn configured_arn(&self) -> Option<&str> {
        match self {
            Self::KmsKeyArn(a) | Self::KmsMrKeyArn(a) => Some(a),
            Self::Discovery | Self::MrDiscovery { .. } => None,
        }
    }

    /// True when an item's `kms-arn` may be used under this configuration.
    fn compatible(&self, item_arn: &str) -> bool {
        match self {
            Self::KmsKeyArn(a) => a == item_arn,
            Self::KmsMrKeyArn(a) => mrk_match(a, item_arn),
            Self::Discovery | Self::MrDiscovery { .. } => true,
        }
    }

    /// The `KeyId` of KMS calls for an item naming `item_arn`.
    fn key_id_for(&self, item_arn: &KmsArn) -> String {
        match self {
            Self::KmsKeyArn(a) | Self::KmsMrKeyArn(a) => a.clone(),
            Self::Discovery => item_arn.to_string(),
            Self::MrDiscovery { region } if item_arn.is_multi_region_key() => {
                item_arn.with_region(region).to_string()
            }
            Self::MrDiscovery { .. } => item_arn.to_string(),
        }
    }
}

/// A beacon key (searchable encryption's root key) read from the key store. Zeroized on drop,
/// never printed.
#[derive(Clone)]
pub struct BeaconKeyMaterials {
    branch_key_id: String,
    key: Zeroizing<Vec<u8>>,
    encryption_context: EncryptionContext,
}

impl fmt::Debug for BeaconKeyMaterials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BeaconKeyMaterials")
            .field("branch_key_id", &self.branch_key_id)
            .field("encryption_context", &self.encryption_context)
            .finish_non_exhaustive()
    }
}

impl BeaconKeyMaterials {
    /// The branch key ID the beacon key belongs to.
    pub fn branch_key_id(&self) -> &str {
        &self.branch_key_id
    }

    /// The 32-byte beacon key.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The branch key's custom encryption context.
    pub fn encryption_context(&self) -> &EncryptionContext {
        &self.encryption_context
    }
}

/// The branch key store in DynamoDB. See the [module documentation](self).
#[derive(Clone)]
pub struct DynamoDbKeyStore {
    ddb: aws_sdk_dynamodb::Client,
    kms: KmsClient,
    table_name: String,
    logical_name: String,
    kms_configuration: KmsConfiguration,
    grant_tokens: Vec<String>,
    id: String,
}

impl fmt::Debug for DynamoDbKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoDbKeyStore")
            .field("id", &self.id)
            .field("table_name", &self.table_name)
            .field("logical_name", &self.logical_name)
            .field("kms_configuration", &self.kms_configuration)
            .field("grant_tokens", &self.grant_tokens.len())
            .finish_non_exhaustive()
    }
}

/// Settings for a [`DynamoDbKeyStore`].
#[derive(Debug)]
#[must_use = "a builder does nothing until built"]
pub struct DynamoDbKeyStoreBuilder {
    ddb: Option<aws_sdk_dynamodb::Client>,
    kms: Option<KmsClient>,
    table_name: Option<String>,
    logical_name: Option<String>,
    kms_configuration: Option<KmsConfiguration>,
    grant_tokens: Vec<String>,
    id: Option<String>,
}

impl DynamoDbKeyStoreBuilder {
    /// The DynamoDB client (required; configured by the caller: Region, endpoint, credentials).
    pub fn dynamodb_client(mut self, client: aws_sdk_dynamodb::Client) -> Self {
        self.ddb = Some(client);
        self
    }

    /// The KMS client (required). The store adds the user agent suffix `aws-kms-hierarchy`.
    pub fn kms_client(mut self, client: KmsClient) -> Self {
        self.kms = Some(client);
        self
    }

    /// The DynamoDB table name (required).
    pub fn table_name(mut self, name: impl Into<String>) -> Self {
        self.table_name = Some(name.into());
        self
    }

    /// The logical key store name (required), bound into every key's KMS encryption context.
    /// One per table; it may equal the table name, and must stay the same if the table is
    /// restored under another name.
    pub fn logical_key_store_name(mut self, name: impl Into<String>) -> Self {
        self.logical_name = Some(name.into());
        self
    }

    /// Which KMS keys the store uses (required).
    pub fn kms_configuration(mut self, configuration: KmsConfiguration) -> Self {
        self.kms_configuration = Some(configuration);
        self
    }

    /// Grant tokens to send with every KMS call.
    pub fn grant_tokens<S: Into<String>>(mut self, tokens: impl IntoIterator<Item = S>) -> Self {
        self.grant_tokens = tokens.into_iter().map(Into::into).collect();
        self
    }

    /// The key store's ID (default: a random UUID).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// The key store.
    ///
    /// # Errors
    /// [`KeyringError::InvalidConfiguration`] when a required setting is missing or empty, or
    /// the configured KMS key is not a key ARN (aliases are refused).
    pub fn build(self) -> Result<DynamoDbKeyStore> {
        let missing = |what: &str| -> Error {
            KeyringError::InvalidConfiguration(format!("a DynamoDB key store needs {what}")).into()
        };
        let ddb = self.ddb.ok_or_else(|| missing("a DynamoDB client"))?;
        let kms = self.kms.ok_or_else(|| missing("a KMS client"))?;
        let table_name = self
            .table_name
            .filter(|t| !t.is_empty())
            .ok_or_else(|| missing("a table name"))?;
        let logical_name = self
            .logical_name
            .filter(|t| !t.is_empty())
            .ok_or_else(|| missing("a logical key store name"))?;
        let kms_configuration = self
            .kms_configuration
            .ok_or_else(|| missing("a KMS configuration"))?;
        if let Some(arn) = kms_configuration.configured_arn() {
            match KmsArn::parse(arn) {
                Ok(a) if a.resource_type() == ResourceType::Key => {}
                _ => {
                    return Err(KeyringError::InvalidConfiguration(format!(
                        "the key store's KMS key must be a key ARN, not {arn:?}"
                    ))
                    .into());
                }
            }
        }
        if let KmsConfiguration::MrDiscovery { region } = &kms_configuration
            && region.is_empty()
        {
            return Err(missing("a Region for MRDiscovery"));
        }
        let id = match self.id {
            Some(id) => id,
            None => new_uuid()?,
        };
        Ok(DynamoDbKeyStore {
            ddb,
            kms: with_user_agent(kms),
            table_name,
            logical_name,
            kms_configuration,
            grant_tokens: self.grant_tokens,
            id,
        })
    }
}

/// The KMS client with the user agent suffix the spec asks for (`aws-kms-hierarchy`).
fn with_user_agent(kms: KmsClient) -> KmsClient {
    match aws_sdk_kms::config::AppName::new("aws-kms-hierarchy") {
        Ok(name) => {
            let conf = kms.sdk().config().to_builder().app_name(name).build();
            KmsClient::from_sdk_client(aws_sdk_kms::Client::from_conf(conf))
        }
        Err(_) => kms,
    }
}

/// A DynamoDB item.
type Item = HashMap<String, AttributeValue>;

/// What kind of item a read expects.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ItemKind {
    Active,
    Version,
    Beacon,
}

/// An item read from the table, checked, with its KMS encryption context.
struct CheckedItem {
    enc: Vec<u8>,
    kms_arn: KmsArn,
    context: HashMap<String, String>,
    item: Item,
}

impl DynamoDbKeyStore {
    /// A builder.
    pub fn builder() -> DynamoDbKeyStoreBuilder {
        DynamoDbKeyStoreBuilder {
            ddb: None,
            kms: None,
            table_name: None,
            logical_name: None,
            kms_configuration: None,
            grant_tokens: Vec::new(),
            id: None,
        }
    }

    /// The key store's ID.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The DynamoDB table name.
    pub fn table_name(&self) -> &str {
        &self.table_name
    }

    /// The logical key store name.
    pub fn logical_key_store_name(&self) -> &str {
        &self.logical_name
    }

    /// The KMS configuration.
    pub fn kms_configuration(&self) -> &KmsConfiguration {
        &self.kms_configuration
    }

    /// The grant tokens sent with every KMS call.
    pub fn grant_tokens(&self) -> &[String] {
        &self.grant_tokens
    }

    fn tokens(&self) -> Option<Vec<String>> {
        (!self.grant_tokens.is_empty()).then(|| self.grant_tokens.clone())
    }

    /// `CreateKeyStore`: checks that the table exists with the key store's key schema, or
    /// creates it (on-demand billing) when it does not exist. Returns the table ARN.
    ///
    /// # Errors
    /// [`KeyringError::KeyStore`] when the table exists with another key schema;
    /// [`KeyringError::Service`] for DynamoDB failures.
    pub async fn create_key_store(&self) -> Result<String> {
        match self
            .ddb
            .describe_table()
            .table_name(&self.table_name)
            .send()
            .await
        {
            Ok(out) => {
                let (schema, arn) = out
                    .table
                    .map(|t| (t.key_schema.unwrap_or_default(), t.table_arn))
                    .unwrap_or_default();
                let has = |name: &str, ty: KeyType| {
                    schema
                        .iter()
                        .any(|k| k.attribute_name == name && k.key_type == ty)
                };
                if schema.len() != 2
                    || !has(BRANCH_KEY_ID_FIELD, KeyType::Hash)
                    || !has(TYPE_FIELD, KeyType::Range)
                {
                    return Err(KeyringError::KeyStore(format!(
                        "table {:?} exists with another key schema",
                        self.table_name
                    ))
                    .into());
                }
                Ok(arn.unwrap_or_default())
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                let key = |name: &str, ty| {
                    KeySchemaElement::builder()
                        .attribute_name(name)
                        .key_type(ty)
                        .build()
                        .map_err(|e| ddb_build_error("CreateTable", &self.table_name, e))
                };
                let attr = |name: &str| {
                    AttributeDefinition::builder()
                        .attribute_name(name)
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .map_err(|e| ddb_build_error("CreateTable", &self.table_name, e))
                };
                let out = self
                    .ddb
                    .create_table()
                    .table_name(&self.table_name)
                    .key_schema(key(BRANCH_KEY_ID_FIELD, KeyType::Hash)?)
                    .key_schema(key(TYPE_FIELD, KeyType::Range)?)
                    .attribute_definitions(attr(BRANCH_KEY_ID_FIELD)?)
                    .attribute_definitions(attr(TYPE_FIELD)?)
                    .billing_mode(BillingMode::PayPerRequest)
                    .send()
                    .await
                    .map_err(|e| ddb_error("CreateTable", &self.table_name, e))?;
                Ok(out
                    .table_description
                    .and_then(|t| t.table_arn)
                    .unwrap_or_default())
            }
            Err(e) => Err(ddb_error("DescribeTable", &self.table_name, e)),
        }
    }

    /// `CreateKey`: a new branch key (first version and beacon key). Returns its ID.
    ///
    /// `branch_key_id`: `None` makes a random UUID; a chosen ID needs a non-empty
    /// `encryption_context` (the spec's rule). The custom encryption context is bound to every
    /// version of the key.
    ///
    /// # Errors
    /// [`KeyringError::Unsupported`] under a discovery configuration;
    /// [`KeyringError::InvalidConfiguration`] for a chosen ID without encryption context;
    /// [`KeyringError::Service`] for KMS or DynamoDB failures (an ID already in the table makes
    /// the transaction fail).
    pub async fn create_key(
        &self,
        branch_key_id: Option<&str>,
        encryption_context: &EncryptionContext,
    ) -> Result<String> {
        let kms_arn = self.writable_arn("CreateKey")?.to_owned();
        let branch_key_id = match branch_key_id {
            Some("") => {
                return Err(KeyringError::InvalidConfiguration(
                    "a branch key ID must not be empty".into(),
                )
                .into());
            }
            Some(_) if encryption_context.is_empty() => {
                return Err(KeyringError::InvalidConfiguration(
                    "a chosen branch key ID needs an encryption context".into(),
                )
                .into());
            }
            Some(id) => id.to_owned(),
            None => new_uuid()?,
        };
        let version = new_uuid()?;
        let timestamp = timestamp_now();
        let base = Base {
            branch_key_id: &branch_key_id,
            kms_arn: &kms_arn,
            timestamp: &timestamp,
            custom: encryption_context,
        };
        let (decrypt_only, active) = self.wrap_new_version(&base, &version).await?;
        let beacon_context = base.context(BEACON_KEY_ACTIVE_TYPE, None, &self.logical_name);
        let beacon = self.generate_wrapped(&kms_arn, beacon_context).await?;

        let not_exists = "attribute_not_exists(#bkid)";
        let items = [
            (
                base.item(&version_type(&version), None, decrypt_only),
                not_exists,
            ),
            (
                base.item(
                    BRANCH_KEY_ACTIVE_TYPE,
                    Some(&version_type(&version)),
                    active,
                ),
                not_exists,
            ),
            (base.item(BEACON_KEY_ACTIVE_TYPE, None, beacon), not_exists),
        ];
        self.transact("CreateKey", &branch_key_id, items, None)
            .await?;
        Ok(branch_key_id)
    }

    /// `VersionKey`: rotates a branch key. The new version becomes active; older versions stay
    /// readable for decryption. The item's `kms-arn` and custom encryption context carry over.
    ///
    /// # Errors
    /// [`KeyringError::Unsupported`] under a discovery configuration;
    /// [`KeyringError::BranchKeyNotFound`]; [`KeyringError::KeyStore`] for an active item
    /// naming another KMS key or malformed; [`KeyringError::Service`] for KMS failures (an
    /// active item that does not authenticate) and DynamoDB failures (a concurrent rotation).
    pub async fn version_key(&self, branch_key_id: &str) -> Result<()> {
        self.writable_arn("VersionKey")?;
        let item = self
            .get_item(branch_key_id, BRANCH_KEY_ACTIVE_TYPE, ItemKind::Active)
            .await?;
        // Authenticate the active item: KMS re-encrypts it only under its exact context.
        let key_id = self.kms_configuration.key_id_for(&item.kms_arn);
        self.kms
            .sdk()
            .re_encrypt()
            .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(item.enc.clone()))
            .source_key_id(&key_id)
            .set_source_encryption_context(Some(item.context.clone()))
            .destination_key_id(&key_id)
            .set_destination_encryption_context(Some(item.context.clone()))
            .set_grant_tokens(self.tokens())
            .send()
            .await
            .map_err(|e| kms_error("ReEncrypt", &key_id, e))?;

        let custom = custom_context(&item.item)?;
        let stored_arn = item.kms_arn.to_string();
        let version = new_uuid()?;
        let timestamp = timestamp_now();
        let base = Base {
            branch_key_id,
            kms_arn: &stored_arn,
            timestamp: &timestamp,
            custom: &custom,
        };
        let (decrypt_only, active) = self.wrap_new_version(&base, &version).await?;
        let items = [
            (
                base.item(&version_type(&version), None, decrypt_only),
                "attribute_not_exists(#bkid)",
            ),
            (
                base.item(
                    BRANCH_KEY_ACTIVE_TYPE,
                    Some(&version_type(&version)),
                    active,
                ),
                "attribute_exists(#bkid) AND #enc = :encOld",
            ),
        ];
        self.transact("VersionKey", branch_key_id, items, Some(item.enc))
            .await
    }

    /// `GetActiveBranchKey`: the active version of a branch key.
    ///
    /// # Errors
    /// [`KeyringError::BranchKeyNotFound`]; [`KeyringError::KeyStore`] for a malformed item or
    /// one naming a KMS key the configuration does not allow; [`KeyringError::Service`] for
    /// DynamoDB or KMS failures (an item whose attributes were changed does not decrypt).
    pub async fn get_active_branch_key(&self, branch_key_id: &str) -> Result<BranchKeyMaterials> {
        let (item, key) = self
            .read_item(branch_key_id, BRANCH_KEY_ACTIVE_TYPE, ItemKind::Active)
            .await?;
        let version = item
            .context
            .get(VERSION_FIELD)
            .and_then(|v| v.strip_prefix(BRANCH_KEY_VERSION_PREFIX))
            .unwrap_or_default()
            .to_owned();
        materials(branch_key_id, &version, &key, &item.item)
    }

    /// `GetBranchKeyVersion`: one version (UUID text) of a branch key.
    ///
    /// # Errors
    /// As [`get_active_branch_key`](Self::get_active_branch_key).
    pub async fn get_branch_key_version(
        &self,
        branch_key_id: &str,
        version: &str,
    ) -> Result<BranchKeyMaterials> {
        let (item, key) = self
            .read_item(branch_key_id, &version_type(version), ItemKind::Version)
            .await?;
        materials(branch_key_id, version, &key, &item.item)
    }

    /// `GetBeaconKey`: the beacon key of a branch key.
    ///
    /// # Errors
    /// As [`get_active_branch_key`](Self::get_active_branch_key).
    pub async fn get_beacon_key(&self, branch_key_id: &str) -> Result<BeaconKeyMaterials> {
        let (item, key) = self
            .read_item(branch_key_id, BEACON_KEY_ACTIVE_TYPE, ItemKind::Beacon)
            .await?;
        Ok(BeaconKeyMaterials {
            branch_key_id: branch_key_id.to_owned(),
            key,
            encryption_context: custom_context(&item.item)?,
        })
    }

    /// The configured ARN, for the operations discovery configurations forbid.
    fn writable_arn(&self, operation: &str) -> Result<&str> {
        self.kms_configuration.configured_arn().ok_or_else(|| {
            KeyringError::Unsupported(format!(
                "{operation} needs a key store configured with a KMS key ARN, not discovery"
            ))
            .into()
        })
    }

    /// The DECRYPT_ONLY and ACTIVE ciphertexts of a new version: GenerateDataKeyWithoutPlaintext
    /// under the DECRYPT_ONLY context, then ReEncrypt to the ACTIVE context.
    async fn wrap_new_version(&self, base: &Base<'_>, version: &str) -> Result<(Vec<u8>, Vec<u8>)> {
        let vtype = version_type(version);
        let decrypt_only_ctx = base.context(&vtype, None, &self.logical_name);
        let active_ctx = base.context(BRANCH_KEY_ACTIVE_TYPE, Some(&vtype), &self.logical_name);
        let decrypt_only = self
            .generate_wrapped(base.kms_arn, decrypt_only_ctx.clone())
            .await?;
        let out = self
            .kms
            .sdk()
            .re_encrypt()
            .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(decrypt_only.clone()))
            .source_key_id(base.kms_arn)
            .set_source_encryption_context(Some(decrypt_only_ctx))
            .destination_key_id(base.kms_arn)
            .set_destination_encryption_context(Some(active_ctx))
            .set_grant_tokens(self.tokens())
            .send()
            .await
            .map_err(|e| kms_error("ReEncrypt", base.kms_arn, e))?;
        let active = out
            .ciphertext_blob
            .map(|b| b.into_inner())
            .filter(|b| !b.is_empty())
            .ok_or_else(|| KeyringError::Service {
                key_id: base.kms_arn.to_owned(),
                message: "ReEncrypt returned no CiphertextBlob".into(),
                source: None,
            })?;
        Ok((decrypt_only, active))
    }

    async fn generate_wrapped(
        &self,
        kms_arn: &str,
        context: HashMap<String, String>,
    ) -> Result<Vec<u8>> {
        let out = self
            .kms
            .sdk()
            .generate_data_key_without_plaintext()
            .key_id(kms_arn)
            .number_of_bytes(KEY_LEN as i32)
            .set_encryption_context(Some(context))
            .set_grant_tokens(self.tokens())
            .send()
            .await
            .map_err(|e| kms_error("GenerateDataKeyWithoutPlaintext", kms_arn, e))?;
        out.ciphertext_blob
            .map(|b| b.into_inner())
            .filter(|b| !b.is_empty())
            .ok_or_else(|| {
                KeyringError::Service {
                    key_id: kms_arn.to_owned(),
                    message: "GenerateDataKeyWithoutPlaintext returned no CiphertextBlob".into(),
                    source: None,
                }
                .into()
            })
    }

    async fn transact<const N: usize>(
        &self,
        operation: &str,
        branch_key_id: &str,
        items: [(Item, &str); N],
        old_enc: Option<Vec<u8>>,
    ) -> Result<()> {
        let mut request = self.ddb.transact_write_items();
        for (item, condition) in items {
            let mut put = Put::builder()
                .table_name(&self.table_name)
                .set_item(Some(item))
                .condition_expression(condition)
                .expression_attribute_names("#bkid", BRANCH_KEY_ID_FIELD);
            if condition.contains(":encOld") {
                put = put
                    .expression_attribute_names("#enc", ENC_FIELD)
                    .expression_attribute_values(
                        ":encOld",
                        AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(
                            old_enc.clone().unwrap_or_default(),
                        )),
                    );
            }
            let put = put
                .build()
                .map_err(|e| ddb_build_error(operation, branch_key_id, e))?;
            request = request.transact_items(TransactWriteItem::builder().put(put).build());
        }
        request
            .send()
            .await
            .map_err(|e| ddb_error(operation, branch_key_id, e))?;
        Ok(())
    }

    /// GetItem (consistent read) and the checks of `branch-key-store.md` ("Record Format",
    /// "AWS KMS Branch Key Decryption"); no KMS call.
    async fn get_item(
        &self,
        branch_key_id: &str,
        item_type: &str,
        kind: ItemKind,
    ) -> Result<CheckedItem> {
        if branch_key_id.is_empty() {
            return Err(KeyringError::InvalidConfiguration(
                "a branch key ID must not be empty".into(),
            )
            .into());
        }
        let out = self
            .ddb
            .get_item()
            .table_name(&self.table_name)
            .key(BRANCH_KEY_ID_FIELD, AttributeValue::S(branch_key_id.into()))
            .key(TYPE_FIELD, AttributeValue::S(item_type.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| ddb_error("GetItem", branch_key_id, e))?;
        let item =
            out.item
                .filter(|i| !i.is_empty())
                .ok_or_else(|| KeyringError::BranchKeyNotFound {
                    branch_key_id: branch_key_id.to_owned(),
                    item_type: item_type.to_owned(),
                })?;
        self.check_item(item, branch_key_id, item_type, kind)
    }

    /// [`get_item`](Self::get_item), then KMS Decrypt of its `enc` under its encryption context.
    /// Returns the item and the 32-byte key.
    async fn read_item(
        &self,
        branch_key_id: &str,
        item_type: &str,
        kind: ItemKind,
    ) -> Result<(CheckedItem, Zeroizing<Vec<u8>>)> {
        let checked = self.get_item(branch_key_id, item_type, kind).await?;
        let key_id = self.kms_configuration.key_id_for(&checked.kms_arn);
        let mut out = self
            .kms
            .sdk()
            .decrypt()
            .key_id(&key_id)
            .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(checked.enc.clone()))
            .set_encryption_context(Some(checked.context.clone()))
            .set_grant_tokens(self.tokens())
            .send()
            .await
            .map_err(|e| kms_error("Decrypt", &key_id, e))?;
        let key = Zeroizing::new(
            out.plaintext
                .take()
                .map(|b| b.into_inner())
                .unwrap_or_default(),
        );
        // The response must name the key that was asked for (as the KMS keyrings check too): a
        // key store item is trusted only as far as that key protects it.
        if out.key_id.as_deref() != Some(key_id.as_str()) {
            return Err(KeyringError::Service {
                message: format!("Decrypt answered for KeyId {:?}, not this key", out.key_id),
                key_id,
                source: None,
            }
            .into());
        }
        if key.len() != KEY_LEN {
            return Err(KeyringError::Service {
                key_id,
                message: format!(
                    "Decrypt returned a key of {} bytes, expected {KEY_LEN}",
                    key.len()
                ),
                source: None,
            }
            .into());
        }
        Ok((checked, key))
    }

    /// The item's attributes checked, and its KMS encryption context built from them.
    fn check_item(
        &self,
        item: Item,
        branch_key_id: &str,
        item_type: &str,
        kind: ItemKind,
    ) -> Result<CheckedItem> {
        let bad = |why: String| -> Error { KeyringError::KeyStore(why).into() };
        let mut context = HashMap::with_capacity(item.len() + 1);
        let mut enc = None;
        for (name, value) in &item {
            match (name.as_str(), value) {
                (ENC_FIELD, AttributeValue::B(b)) => enc = Some(b.as_ref().to_vec()),
                (ENC_FIELD, _) => return Err(bad(format!("{ENC_FIELD:?} is not binary"))),
                (HIERARCHY_VERSION_FIELD, AttributeValue::N(n)) => {
                    context.insert(name.clone(), n.clone());
                }
                (_, AttributeValue::S(s)) => {
                    context.insert(name.clone(), s.clone());
                }
                _ => return Err(bad(format!("attribute {name:?} is not a string"))),
            }
        }
        let enc = enc
            .filter(|e| !e.is_empty())
            .ok_or_else(|| bad(format!("the item has no {ENC_FIELD:?}")))?;
        for field in [
            BRANCH_KEY_ID_FIELD,
            TYPE_FIELD,
            CREATE_TIME_FIELD,
            KMS_ARN_FIELD,
            HIERARCHY_VERSION_FIELD,
        ] {
            if context.get(field).is_none_or(|v| v.is_empty()) {
                return Err(bad(format!("the item has no {field:?}")));
            }
        }
        if context[BRANCH_KEY_ID_FIELD] != branch_key_id || context[TYPE_FIELD] != item_type {
            return Err(bad("the item is not the one asked for".into()));
        }
        if context[HIERARCHY_VERSION_FIELD] != HIERARCHY_VERSION {
            return Err(bad(format!(
                "hierarchy version {} is not supported (only 1)",
                context[HIERARCHY_VERSION_FIELD]
            )));
        }
        match (kind, context.get(VERSION_FIELD)) {
            (ItemKind::Active, Some(v))
                if v.strip_prefix(BRANCH_KEY_VERSION_PREFIX)
                    .is_some_and(|u| parse_uuid(u).is_some()) => {}
            (ItemKind::Active, _) => {
                return Err(bad(format!(
                    "the active item's {VERSION_FIELD:?} is not {BRANCH_KEY_VERSION_PREFIX}<uuid>"
                )));
            }
            (ItemKind::Version | ItemKind::Beacon, Some(_)) => {
                return Err(bad(format!(
                    "a {item_type} item must not have {VERSION_FIELD:?}"
                )));
            }
            _ => {}
        }
        if context.contains_key(TABLE_NAME_CONTEXT_KEY) {
            return Err(bad(format!(
                "the item has a {TABLE_NAME_CONTEXT_KEY:?} attribute"
            )));
        }
        let arn_text = &context[KMS_ARN_FIELD];
        let kms_arn = match KmsArn::parse(arn_text) {
            Ok(a) if a.resource_type() == ResourceType::Key => a,
            _ => {
                return Err(bad(format!(
                    "{KMS_ARN_FIELD} {arn_text:?} is not a key ARN"
                )));
            }
        };
        if !self.kms_configuration.compatible(arn_text) {
            return Err(bad(format!(
                "the item's KMS key {arn_text} is not the key store's"
            )));
        }
        context.insert(TABLE_NAME_CONTEXT_KEY.into(), self.logical_name.clone());
        Ok(CheckedItem {
            enc,
            kms_arn,
            context,
            item,
        })
    }
}

/// What every item of one branch key version shares.
struct Base<'a> {
    branch_key_id: &'a str,
    kms_arn: &'a str,
    timestamp: &'a str,
    custom: &'a EncryptionContext,
}

impl Base<'_> {
    /// The string attributes of an item (everything but `enc` and `hierarchy-version`).
    fn strings(&self, item_type: &str, version: Option<&str>) -> Vec<(String, String)> {
        let mut out = vec![
            (
                BRANCH_KEY_ID_FIELD.to_owned(),
                self.branch_key_id.to_owned(),
            ),
            (TYPE_FIELD.to_owned(), item_type.to_owned()),
            (CREATE_TIME_FIELD.to_owned(), self.timestamp.to_owned()),
            (KMS_ARN_FIELD.to_owned(), self.kms_arn.to_owned()),
        ];
        if let Some(v) = version {
            out.push((VERSION_FIELD.to_owned(), v.to_owned()));
        }
        for (k, v) in self.custom.iter() {
            out.push((format!("{CUSTOM_CONTEXT_PREFIX}{k}"), v.to_owned()));
        }
        out
    }

    /// The KMS encryption context of an item.
    fn context(
        &self,
        item_type: &str,
        version: Option<&str>,
        logical_name: &str,
    ) -> HashMap<String, String> {
        let mut ctx: HashMap<String, String> =
            self.strings(item_type, version).into_iter().collect();
        ctx.insert(HIERARCHY_VERSION_FIELD.into(), HIERARCHY_VERSION.into());
        ctx.insert(TABLE_NAME_CONTEXT_KEY.into(), logical_name.into());
        ctx
    }

    /// The DynamoDB item.
    fn item(&self, item_type: &str, version: Option<&str>, enc: Vec<u8>) -> Item {
        let mut item: Item = self
            .strings(item_type, version)
            .into_iter()
            .map(|(k, v)| (k, AttributeValue::S(v)))
            .collect();
        item.insert(
            HIERARCHY_VERSION_FIELD.into(),
            AttributeValue::N(HIERARCHY_VERSION.into()),
        );
        item.insert(
            ENC_FIELD.into(),
            AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(enc)),
        );
        item
    }
}

fn version_type(version: &str) -> String {
    format!("{BRANCH_KEY_VERSION_PREFIX}{version}")
}

/// The custom encryption context of an item (its `aws-crypto-ec:` attributes, unprefixed).
fn custom_context(item: &Item) -> Result<EncryptionContext> {
    let mut ec = EncryptionContext::new();
    for (name, value) in item {
        if let Some(key) = name.strip_prefix(CUSTOM_CONTEXT_PREFIX) {
            let value = value.as_s().map_err(|_| {
                KeyringError::KeyStore(format!("attribute {name:?} is not a string"))
            })?;
            ec.insert(key, value.as_str());
        }
    }
    Ok(ec)
}

fn materials(
    branch_key_id: &str,
    version: &str,
    key: &[u8],
    item: &Item,
) -> Result<BranchKeyMaterials> {
    Ok(BranchKeyMaterials::new(branch_key_id, version, key)
        .map_err(|_| {
            KeyringError::KeyStore(format!(
                "branch key version {version:?} is not a UUID or the key is not 32 bytes"
            ))
        })?
        .with_encryption_context(custom_context(item)?))
}

impl BranchKeySource for DynamoDbKeyStore {
    fn active_branch_key<'a>(
        &'a self,
        branch_key_id: &'a str,
    ) -> BoxFuture<'a, Result<BranchKeyMaterials>> {
        Box::pin(self.get_active_branch_key(branch_key_id))
    }

    fn branch_key_version<'a>(
        &'a self,
        branch_key_id: &'a str,
        version: &'a str,
    ) -> BoxFuture<'a, Result<BranchKeyMaterials>> {
        Box::pin(self.get_branch_key_version(branch_key_id, version))
    }

    fn logical_key_store_name(&self) -> &str {
        &self.logical_name
    }
}

/// A random (version 4) UUID, as text.
fn new_uuid() -> Result<String> {
    let mut b = [0u8; 16];
    default_provider().random.fill(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    Ok(format_uuid(&b))
}

/// The current time as ISO 8601 UTC with microseconds (`2024-05-01T12:34:56.123456Z`).
fn timestamp_now() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_timestamp(d.as_secs(), d.subsec_micros())
}

fn format_timestamp(secs: u64, micros: u32) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn ddb_error<E>(operation: &str, what: &str, err: E) -> Error
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    crate::keyring::aws_kms::service_failure(&format!("DynamoDB {operation}"), what, err)
}

/// A DynamoDB request that could not be built (a missing required field).
fn ddb_build_error(operation: &str, what: &str, err: aws_sdk_dynamodb::error::BuildError) -> Error {
    KeyringError::Service {
        key_id: what.to_owned(),
        message: format!("DynamoDB {operation} request invalid"),
        source: Some(std::sync::Arc::new(err)),
    }
    .into()
}

fn kms_error<E>(operation: &str, key_id: &str, err: E) -> Error
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    crate::keyring::aws_kms::service_failure(&format!("KMS {operation}"), key_id, err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_iso8601_utc_with_microseconds() {
        assert_eq!(format_timestamp(0, 0), "1970-01-01T00:00:00.000000Z");
        // 2024-02-29T23:59:59.123456Z (a leap day).
        assert_eq!(
            format_timestamp(1_709_251_199, 123_456),
            "2024-02-29T23:59:59.123456Z"
        );
        assert_eq!(
            format_timestamp(951_782_400, 7),
            "2000-02-29T00:00:00.000007Z"
        );
    }

    #[test]
    fn beacon_keys_never_print() {
        let b = BeaconKeyMaterials {
            branch_key_id: "bk".into(),
            key: Zeroizing::new(vec![0xAB; 32]),
            encryption_context: EncryptionContext::new(),
        };
        let printed = format!("{b:?}");
        assert!(printed.contains("bk") && !printed.contains("171") && !printed.contains("AB"));
    }

    #[test]
    fn new_uuids_are_version_4() {
        let u = new_uuid().unwrap();
        let b = parse_uuid(&u).unwrap();
        assert_eq!(b[6] >> 4, 4);
        assert_eq!(b[8] >> 6, 2);
        assert_ne!(u, new_uuid().unwrap());
    }

    #[test]
    fn contexts_and_items_use_the_spec_names() {
        let custom: EncryptionContext = [("tenant", "a")].into_iter().collect();
        let base = Base {
            branch_key_id: "bk",
            kms_arn: "arn:aws:kms:us-west-2:111122223333:key/k",
            timestamp: "2024-01-01T00:00:00.000000Z",
            custom: &custom,
        };
        let ctx = base.context(BRANCH_KEY_ACTIVE_TYPE, Some("branch:version:v"), "logical");
        let mut keys: Vec<&str> = ctx.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "aws-crypto-ec:tenant",
                "branch-key-id",
                "create-time",
                "hierarchy-version",
                "kms-arn",
                "tablename",
                "type",
                "version"
            ]
        );
        assert_eq!(ctx["hierarchy-version"], "1");
        assert_eq!(ctx["tablename"], "logical");
        let item = base.item(BEACON_KEY_ACTIVE_TYPE, None, vec![1]);
        assert_eq!(item["hierarchy-version"], AttributeValue::N("1".into()));
        assert!(!item.contains_key("tablename") && !item.contains_key("version"));
        assert_eq!(custom_context(&item).unwrap(), custom);
    }
}
