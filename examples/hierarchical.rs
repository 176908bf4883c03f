//! The hierarchical keyring with its branch key store in DynamoDB: one KMS call per branch key
//! per cache TTL instead of one per message.
//!
//! ```text
//! ESDK_KMS_KEY_ARN=arn:aws:kms:us-west-2:111122223333:key/… \
//! ESDK_BRANCH_KEY_TABLE=my-branch-keys cargo run --example hierarchical
//! ```
//!
//! It creates the table if needed (partition key `branch-key-id`, sort key `type`), creates a
//! branch key, encrypts and decrypts through a keyring with a 10-minute branch key cache,
//! rotates the branch key, and shows that the old message still decrypts while new ones use
//! the new version. Credentials come from the standard AWS chain; the Region is the key ARN's.
//!
//! Against a local server such as moto (`source .ci/kms.sh start`: it serves KMS and DynamoDB
//! on one port), set `ESDK_KMS_ENDPOINT`; the example then uses test credentials and, without
//! `ESDK_KMS_KEY_ARN`, creates a KMS key there:
//!
//! ```text
//! source .ci/kms.sh start
//! cargo run --example hierarchical
//! ```

use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use esdk::Client;
use esdk::context::EncryptionContext;
use esdk::keyring::HierarchicalKeyring;
use esdk::keyring::aws_kms::{KmsArn, KmsClient};
use esdk::keyring::{DynamoDbKeyStore, KmsConfiguration};

type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// Where the example runs.
pub struct Settings {
    /// An endpoint for both KMS and DynamoDB (a local test server), or `None` for AWS.
    pub endpoint: Option<String>,
    /// The KMS key protecting the branch keys; created on the local server when `None`.
    pub kms_key_arn: Option<String>,
    /// The DynamoDB table.
    pub table: String,
}

impl Settings {
    /// From `ESDK_KMS_ENDPOINT`, `ESDK_KMS_KEY_ARN` and `ESDK_BRANCH_KEY_TABLE`.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Self {
            endpoint: var("ESDK_KMS_ENDPOINT"),
            kms_key_arn: var("ESDK_KMS_KEY_ARN"),
            table: var("ESDK_BRANCH_KEY_TABLE").unwrap_or_else(|| "esdk-branch-keys".into()),
        }
    }
}

/// Runs the example and returns what it did, line by line.
pub async fn demo(settings: Settings) -> Result<String, AnyError> {
    let region = match &settings.kms_key_arn {
        Some(arn) => KmsArn::parse(arn)?.region().to_owned(),
        None => "us-west-2".to_owned(),
    };
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(region.clone()));
    if let Some(url) = &settings.endpoint {
        // A local test server: it accepts any signature, so no real credentials are needed.
        loader =
            loader
                .endpoint_url(url)
                .credentials_provider(aws_sdk_kms::config::Credentials::new(
                    "test", "test", None, None, "example",
                ));
    }
    let sdk_config = loader.load().await;
    let kms = aws_sdk_kms::Client::new(&sdk_config);
    let kms_key_arn = match (settings.kms_key_arn, &settings.endpoint) {
        (Some(arn), _) => arn,
        (None, Some(_)) => kms
            .create_key()
            .description("esdk hierarchical example")
            .send()
            .await?
            .key_metadata()
            .and_then(|m| m.arn())
            .ok_or("CreateKey returned no ARN")?
            .to_owned(),
        (None, None) => return Err("set ESDK_KMS_KEY_ARN to a KMS key ARN".into()),
    };

    let store = Arc::new(
        DynamoDbKeyStore::builder()
            .dynamodb_client(aws_sdk_dynamodb::Client::new(&sdk_config))
            .kms_client(KmsClient::from_sdk_client(kms))
            .table_name(&settings.table)
            .logical_key_store_name(&settings.table)
            .kms_configuration(KmsConfiguration::KmsKeyArn(kms_key_arn.clone()))
            .build()?,
    );
    let mut out = String::new();
    let table_arn = store.create_key_store().await?;
    out += &format!("key store table: {table_arn}\n");

    // A branch key with custom encryption context (bound to every version of it).
    let tenant: EncryptionContext = [("tenant", "example")].into_iter().collect();
    let branch_key_id = store.create_key(None, &tenant).await?;
    let v1 = store.get_active_branch_key(&branch_key_id).await?.version();
    out += &format!("created branch key {branch_key_id}, version {v1}\n");

    let keyring = HierarchicalKeyring::builder(store.clone())
        .branch_key_id(&branch_key_id)
        .ttl(Duration::from_secs(600))
        .build()?;
    let client = Client::new();
    let context = [("purpose", "esdk hierarchical example")];
    let first = client
        .encrypt(keyring.clone(), b"hello, branch key")
        .encryption_context(context)
        .await?;
    let back = client.decrypt(keyring.clone(), &first.ciphertext).await?;
    if back.plaintext != b"hello, branch key" {
        return Err("round trip gave other bytes".into());
    }
    out += &format!(
        "encrypted and decrypted a {}-byte message under version {v1}\n",
        first.ciphertext.len()
    );

    // Rotate. Keyrings pick the new version up when their cached copy expires; a new keyring
    // (empty cache) uses it at once, and reads both versions.
    store.version_key(&branch_key_id).await?;
    let v2 = store.get_active_branch_key(&branch_key_id).await?.version();
    let fresh = HierarchicalKeyring::builder(store.clone())
        .branch_key_id(&branch_key_id)
        .ttl(Duration::from_secs(600))
        .build()?;
    let second = client
        .encrypt(fresh.clone(), b"after rotation")
        .encryption_context(context)
        .await?;
    let old = client.decrypt(fresh.clone(), &first.ciphertext).await?;
    let new = client.decrypt(fresh, &second.ciphertext).await?;
    if old.plaintext != b"hello, branch key" || new.plaintext != b"after rotation" {
        return Err("decryption after rotation gave other bytes".into());
    }
    out += &format!(
        "rotated to version {v2}; the version {v1} message still decrypts, new messages use {v2}\n"
    );
    Ok(out)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), AnyError> {
    print!("{}", demo(Settings::from_env()).await?);
    Ok(())
}
