//! AWS KMS key identifiers (`framework/aws-kms/aws-kms-key-arn.md`) and multi-Region key
//! matching (`aws-kms-mrk-match-for-decrypt.md`, `aws-kms-mrk-are-unique.md`).
//!
//! ```text
//! arn:<partition>:kms:<region>:<account>:<key|alias>/<resource id>
//! ```
//!
//! Multi-Region keys (MRKs) have a key id starting with `mrk-`; replicas of one MRK in other
//! Regions share that id, so an MRK-aware keyring accepts a data key wrapped by any replica.

use std::fmt;

use crate::error::{KeyringError, Result};

/// The resource type of a KMS ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResourceType {
    /// `key/<key id>`
    Key,
    /// `alias/<alias name>`
    Alias,
}

impl ResourceType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Key => "key",
            Self::Alias => "alias",
        }
    }
}

/// A parsed, valid AWS KMS ARN.
///
/// ```
/// use esdk::keyring::aws_kms::KmsArn;
/// let arn: KmsArn = "arn:aws:kms:us-east-1:111122223333:key/mrk-1234".parse()?;
/// assert_eq!(arn.region(), "us-east-1");
/// assert!(arn.is_multi_region_key());
/// # Ok::<(), esdk::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KmsArn {
    partition: String,
    region: String,
    account: String,
    resource_type: ResourceType,
    resource_id: String,
}

impl KmsArn {
    /// Parses `s` as an AWS KMS ARN: five `:` delimiting `arn`, a partition, `kms`, a region,
    /// an account and a resource `key/<id>` or `alias/<name>`, all non-empty.
    ///
    /// # Errors
    /// [`KeyringError::InvalidConfiguration`] naming what is wrong.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |why: &str| -> crate::Error {
            KeyringError::InvalidConfiguration(format!("{s:?} is not a valid AWS KMS ARN: {why}"))
                .into()
        };
        let parts: Vec<&str> = s.split(':').collect();
        let [arn, partition, service, region, account, resource] = parts[..] else {
            return Err(bad("it must have exactly six ':'-separated parts"));
        };
        if arn != "arn" {
            return Err(bad("it must start with \"arn\""));
        }
        if partition.is_empty() {
            return Err(bad("empty partition"));
        }
        if service != "kms" {
            return Err(bad("the service must be \"kms\""));
        }
        if region.is_empty() {
            return Err(bad("empty region"));
        }
        if account.is_empty() {
            return Err(bad("empty account"));
        }
        let Some((ty, id)) = resource.split_once('/') else {
            return Err(bad("the resource must be type/id"));
        };
        let resource_type = match ty {
            "key" => ResourceType::Key,
            "alias" => ResourceType::Alias,
            _ => return Err(bad("the resource type must be \"key\" or \"alias\"")),
        };
        if id.is_empty() {
            return Err(bad("empty resource id"));
        }
        Ok(Self {
            partition: partition.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            resource_type,
            resource_id: id.to_owned(),
        })
    }

    /// The partition (`aws`, `aws-cn`, `aws-us-gov`, …).
    pub fn partition(&self) -> &str {
        &self.partition
    }

    /// The Region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The account ID.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The resource type.
    pub fn resource_type(&self) -> ResourceType {
        self.resource_type
    }

    /// The resource id: the key id, or the alias name.
    pub fn resource_id(&self) -> &str {
        &self.resource_id
    }

    /// True for a multi-Region key: resource type `key` and an id starting with `mrk-`.
    /// An alias is never a multi-Region key, whatever its name.
    pub fn is_multi_region_key(&self) -> bool {
        self.resource_type == ResourceType::Key && self.resource_id.starts_with("mrk-")
    }

    /// The same ARN in another Region.
    #[must_use]
    pub fn with_region(&self, region: &str) -> Self {
        Self {
            region: region.to_owned(),
            ..self.clone()
        }
    }
}

impl std::str::FromStr for KmsArn {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl fmt::Display for KmsArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:kms:{}:{}:{}/{}",
            self.partition,
            self.region,
            self.account,
            self.resource_type.as_str(),
            self.resource_id
        )
    }
}

/// Checks that `id` is a valid AWS KMS identifier: a valid ARN (when it starts with `arn:`),
/// an alias `alias/<name>`, or a bare key id. Returns the parsed ARN when it is one.
pub(crate) fn validate_identifier(id: &str) -> Result<Option<KmsArn>> {
    if id.is_empty() {
        return Err(
            KeyringError::InvalidConfiguration("empty AWS KMS key identifier".into()).into(),
        );
    }
    if id.starts_with("arn:") {
        return KmsArn::parse(id).map(Some);
    }
    if let Some(name) = id.strip_prefix("alias/") {
        if name.is_empty() {
            return Err(
                KeyringError::InvalidConfiguration(format!("{id:?} is an empty alias")).into(),
            );
        }
        return Ok(None);
    }
    if id.contains(':') || id.contains('/') {
        return Err(KeyringError::InvalidConfiguration(format!(
            "{id:?} is not an AWS KMS key ARN, alias or key id"
        ))
        .into());
    }
    Ok(None)
}

/// True when the identifier names a multi-Region key: an ARN of type `key` whose id starts
/// with `mrk-`, or a bare key id starting with `mrk-`. Aliases never do.
///
/// # Errors
/// When `id` starts with `arn:` but is not a valid KMS ARN.
pub fn is_multi_region_identifier(id: &str) -> Result<bool> {
    if id.starts_with("arn:") {
        return Ok(KmsArn::parse(id)?.is_multi_region_key());
    }
    if id.starts_with("alias/") {
        return Ok(false);
    }
    Ok(id.starts_with("mrk-"))
}

/// MRK match for decrypt: identical identifiers match; otherwise both must be multi-Region key
/// ARNs equal in every part except the Region.
pub fn mrk_match(configured: &str, other: &str) -> bool {
    if configured == other {
        return true;
    }
    match (KmsArn::parse(configured), KmsArn::parse(other)) {
        (Ok(a), Ok(b)) => {
            a.is_multi_region_key()
                && b.is_multi_region_key()
                && a.partition == b.partition
                && a.account == b.account
                && a.resource_type == b.resource_type
                && a.resource_id == b.resource_id
        }
        _ => false,
    }
}

/// Fails when two or more multi-Region key identifiers share a resource id, listing every one.
pub(crate) fn check_mrks_unique<'a>(ids: impl IntoIterator<Item = &'a str>) -> Result<()> {
    let mut by_id: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
    for id in ids {
        if !is_multi_region_identifier(id)? {
            continue;
        }
        let resource = match KmsArn::parse(id) {
            Ok(arn) => arn.resource_id,
            Err(_) => id.to_owned(),
        };
        by_id.entry(resource).or_default().push(id);
    }
    let dups: Vec<&str> = by_id
        .values()
        .filter(|v| v.len() > 1)
        .flatten()
        .copied()
        .collect();
    if dups.is_empty() {
        Ok(())
    } else {
        Err(KeyringError::InvalidConfiguration(format!(
            "multi-Region keys with the same key id are ambiguous: {}",
            dups.join(", ")
        ))
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "arn:aws:kms:us-east-1:2222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const MRK_E1: &str =
        "arn:aws:kms:us-east-1:2222222222222:key/mrk-4321abcd12ab34cd56ef1234567890ab";
    const MRK_W2: &str =
        "arn:aws:kms:us-west-2:2222222222222:key/mrk-4321abcd12ab34cd56ef1234567890ab";

    #[test]
    fn parses_valid_arns() {
        let arn = KmsArn::parse(KEY).unwrap();
        assert_eq!(arn.partition(), "aws");
        assert_eq!(arn.region(), "us-east-1");
        assert_eq!(arn.account(), "2222222222222");
        assert_eq!(arn.resource_type(), ResourceType::Key);
        assert_eq!(arn.resource_id(), "1234abcd-12ab-34cd-56ef-1234567890ab");
        assert_eq!(arn.to_string(), KEY);
        let alias = KmsArn::parse("arn:aws-cn:kms:cn-north-1:111122223333:alias/a/b/c").unwrap();
        assert_eq!(alias.resource_type(), ResourceType::Alias);
        assert_eq!(
            alias.resource_id(),
            "a/b/c",
            "extra '/' belong to the resource id"
        );
        assert!(!alias.is_multi_region_key());
    }

    #[test]
    fn rejects_invalid_arns() {
        for bad in [
            "",
            "arn:aws:kms:us-east-1:2222:key",
            "arn:aws:kms:us-east-1:2222:key/",
            "arn:aws:kms:us-east-1:2222:grant/x",
            "arn::kms:us-east-1:2222:key/x",
            "arn:aws:s3:us-east-1:2222:key/x",
            "arn:aws:kms::2222:key/x",
            "arn:aws:kms:us-east-1::key/x",
            "arn:aws:kms:us-east-1:2222:key/x:extra",
            "nra:aws:kms:us-east-1:2222:key/x",
            "arn:aws:kms:us-east-1:2222:/x",
        ] {
            assert!(KmsArn::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn identifies_multi_region_keys() {
        assert!(is_multi_region_identifier(MRK_E1).unwrap());
        assert!(!is_multi_region_identifier(KEY).unwrap());
        assert!(is_multi_region_identifier("mrk-123").unwrap());
        assert!(!is_multi_region_identifier("alias/mrk-123").unwrap());
        assert!(!is_multi_region_identifier("arn:aws:kms:us-east-1:2222:alias/mrk-123").unwrap());
        assert!(!is_multi_region_identifier("1234abcd").unwrap());
        assert!(is_multi_region_identifier("arn:aws:kms:us-east-1:2222").is_err());
    }

    #[test]
    fn validates_identifiers() {
        assert!(validate_identifier(KEY).unwrap().is_some());
        assert!(validate_identifier("alias/x").unwrap().is_none());
        assert!(validate_identifier("mrk-123").unwrap().is_none());
        assert!(validate_identifier("").is_err());
        assert!(validate_identifier("alias/").is_err());
        assert!(validate_identifier("arn:aws:kms:us-east-1").is_err());
    }

    #[test]
    fn mrk_match_ignores_only_the_region() {
        assert!(mrk_match(MRK_E1, MRK_W2));
        assert!(mrk_match(KEY, KEY));
        let key_w2 = KEY.replace("us-east-1", "us-west-2");
        assert!(
            !mrk_match(KEY, &key_w2),
            "single-Region keys need identical ARNs"
        );
        let other_account = MRK_W2.replace("2222222222222", "3333333333333");
        assert!(!mrk_match(MRK_E1, &other_account));
        let other_partition = MRK_W2.replace("arn:aws:", "arn:aws-cn:");
        assert!(!mrk_match(MRK_E1, &other_partition));
        let other_id = MRK_W2.replace("mrk-4321", "mrk-9999");
        assert!(!mrk_match(MRK_E1, &other_id));
        assert!(!mrk_match("mrk-4321abcd12ab34cd56ef1234567890ab", MRK_E1));
        let alias =
            "arn:aws:kms:us-east-1:2222222222222:alias/mrk-4321abcd12ab34cd56ef1234567890ab";
        assert!(!mrk_match(alias, &alias.replace("us-east-1", "us-west-2")));
    }

    #[test]
    fn duplicate_mrks_are_all_listed() {
        assert!(check_mrks_unique([KEY, MRK_E1, "alias/x"]).is_ok());
        let third = "mrk-4321abcd12ab34cd56ef1234567890ab";
        let err = check_mrks_unique([MRK_E1, KEY, MRK_W2, third])
            .unwrap_err()
            .to_string();
        for id in [MRK_E1, MRK_W2, third] {
            assert!(err.contains(id), "{err} lacks {id}");
        }
        assert!(!err.contains(KEY));
    }
}
