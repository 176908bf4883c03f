//! Encrypt and decrypt with an AWS KMS key.
//!
//! ```text
//! ESDK_KMS_KEY_ARN=arn:aws:kms:us-west-2:111122223333:key/… cargo run --example kms
//! ```
//!
//! Credentials come from the standard AWS chain (environment, profile, web identity, container
//! or instance role); the Region is the key ARN's.
//!
//! Against a local KMS such as moto (see `.ci/kms.sh`), also set `ESDK_KMS_ENDPOINT` and test
//! credentials, and create a key first:
//!
//! ```text
//! source .ci/kms.sh start
//! export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
//! export ESDK_KMS_KEY_ARN=$(python3 -c "import boto3; print(boto3.client('kms', region_name='us-west-2',
//!     endpoint_url='$ESDK_KMS_ENDPOINT').create_key()['KeyMetadata']['Arn'])")
//! cargo run --example kms
//! ```

use std::sync::Arc;

use esdk::keyring::aws_kms::{AwsKmsMultiKeyring, ClientSupplier, DefaultClientSupplier};
use esdk::{AwsKmsKeyring, Client};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key_arn =
        std::env::var("ESDK_KMS_KEY_ARN").map_err(|_| "set ESDK_KMS_KEY_ARN to a KMS key ARN")?;
    let region = esdk::keyring::aws_kms::KmsArn::parse(&key_arn)?
        .region()
        .to_owned();

    // One client per Region, from the standard chain; an endpoint override for local servers.
    let mut supplier = DefaultClientSupplier::builder();
    if let Ok(url) = std::env::var("ESDK_KMS_ENDPOINT") {
        supplier = supplier.endpoint_url(url);
    }
    let supplier: Arc<dyn ClientSupplier> = Arc::new(supplier.build());

    let keyring = AwsKmsKeyring::new(&key_arn, supplier.client(Some(&region)).await?)?;
    let client = Client::new();
    let context = [("purpose", "esdk kms example"), ("tenant", "example")];

    let message = client
        .encrypt(keyring.clone(), b"hello, KMS")
        .encryption_context(context)
        .await?;
    println!(
        "encrypted 10 bytes into a {}-byte message",
        message.ciphertext.len()
    );
    for edk in message.header.encrypted_data_keys() {
        println!(
            "  data key wrapped by {}",
            String::from_utf8_lossy(edk.provider_info())
        );
    }

    let decrypted = client
        .decrypt(keyring, &message.ciphertext)
        .encryption_context(context)
        .await?;
    assert_eq!(decrypted.plaintext, b"hello, KMS");
    println!(
        "decrypted: {}",
        String::from_utf8_lossy(&decrypted.plaintext)
    );

    // The same message, decrypted by discovery: any key of this account in this Region.
    let arn = esdk::keyring::aws_kms::KmsArn::parse(&key_arn)?;
    let discovery = AwsKmsMultiKeyring::discovery([region.as_str()])
        .filter(esdk::DiscoveryFilter::new(
            arn.partition(),
            [arn.account()],
        )?)
        .client_supplier(supplier)
        .build()
        .await?;
    let again = client.decrypt(discovery, &message.ciphertext).await?;
    assert_eq!(again.plaintext, b"hello, KMS");
    println!("decrypted again with a discovery keyring");
    Ok(())
}
