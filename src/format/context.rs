//! The encryption context: non-secret key-value pairs bound to a message.
//!
//! [`EncryptionContext`] is a `BTreeMap<String, String>`. Rust orders `String`s by their UTF-8
//! bytes, so the map's order *is* the canonical wire order (`framework/structures.md`): the
//! serialization keyrings use for their AAD and that the JavaScript ESDK insists on.

use std::collections::BTreeMap;

use crate::error::{FormatError, LimitError, Result};
use crate::format::codec::Reader;

/// The prefix reserved for keys the ESDK itself adds.
pub const RESERVED_PREFIX: &str = "aws-crypto-";
/// The key under which signing suites store the base64 compressed public key.
pub const PUBLIC_KEY_KEY: &str = "aws-crypto-public-key";

/// An encryption context: UTF-8 keys and values, kept sorted by the keys' UTF-8 bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a pair; returns the previous value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> Option<String> {
        self.0.insert(key.into(), value.into())
    }

    /// The value for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Removes a pair.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.0.remove(key)
    }

    /// True when `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is no pair.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The pairs in canonical order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The first key that uses the reserved `aws-crypto-` prefix, if any.
    pub fn reserved_key(&self) -> Option<&str> {
        self.0
            .keys()
            .find(|k| k.starts_with(RESERVED_PREFIX))
            .map(String::as_str)
    }

    /// The pairs whose keys are in `keys` (keys absent from the context are skipped).
    #[must_use]
    pub fn subset<'a>(&self, keys: impl IntoIterator<Item = &'a String>) -> EncryptionContext {
        let mut out = EncryptionContext::new();
        for k in keys {
            if let Some(v) = self.0.get(k) {
                out.0.insert(k.clone(), v.clone());
            }
        }
        out
    }

    /// The pairs whose keys are not in `keys`.
    #[must_use]
    pub fn without<'a>(&self, keys: impl IntoIterator<Item = &'a String>) -> EncryptionContext {
        let mut out = self.clone();
        for k in keys {
            out.0.remove(k);
        }
        out
    }

    /// The canonical serialization: empty for an empty context, else `u16 count` and the pairs
    /// sorted by key bytes, each `u16 len ‖ key ‖ u16 len ‖ value`.
    ///
    /// # Errors
    /// [`LimitError`] when a key, a value, the count or the whole does not fit in 16 bits.
    pub fn serialize(&self) -> Result<Vec<u8>> {
        if self.0.is_empty() {
            return Ok(Vec::new());
        }
        let count =
            u16::try_from(self.0.len()).map_err(|_| LimitError::EncryptionContextTooLarge)?;
        let mut out = Vec::with_capacity(
            2 + self
                .0
                .iter()
                .map(|(k, v)| 4 + k.len() + v.len())
                .sum::<usize>(),
        );
        out.extend_from_slice(&count.to_be_bytes());
        for (k, v) in &self.0 {
            for part in [k, v] {
                let len =
                    u16::try_from(part.len()).map_err(|_| LimitError::EncryptionContextTooLarge)?;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(part.as_bytes());
            }
        }
        if out.len() > usize::from(u16::MAX) {
            return Err(LimitError::EncryptionContextTooLarge.into());
        }
        Ok(out)
    }

    /// Parses a serialized context (the header's AAD field), in any key order.
    ///
    /// Rejects a zero count, duplicate keys, invalid UTF-8, truncation and trailing bytes.
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        let mut map = BTreeMap::new();
        if bytes.is_empty() {
            return Ok(Self(map));
        }
        let bad = |why| FormatError::EncryptionContext(why);
        let mut r = Reader::new(bytes);
        let count = r.u16().map_err(|_| bad("truncated"))?;
        if count == 0 {
            return Err(bad("count is zero with a non-empty context field").into());
        }
        for _ in 0..count {
            let k = r.u16_prefixed().map_err(|_| bad("truncated"))?;
            let v = r.u16_prefixed().map_err(|_| bad("truncated"))?;
            let k = std::str::from_utf8(k).map_err(|_| bad("key is not UTF-8"))?;
            let v = std::str::from_utf8(v).map_err(|_| bad("value is not UTF-8"))?;
            if map.insert(k.to_owned(), v.to_owned()).is_some() {
                return Err(bad("duplicate key").into());
            }
        }
        if r.remaining() != 0 {
            return Err(bad("trailing bytes").into());
        }
        Ok(Self(map))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for EncryptionContext {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl From<BTreeMap<String, String>> for EncryptionContext {
    fn from(map: BTreeMap<String, String>) -> Self {
        Self(map)
    }
}

impl<'a> IntoIterator for &'a EncryptionContext {
    type Item = (&'a String, &'a String);
    type IntoIter = std::collections::btree_map::Iter<'a, String, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_serializes_to_nothing() {
        assert!(EncryptionContext::new().serialize().unwrap().is_empty());
        assert!(EncryptionContext::deserialize(&[]).unwrap().is_empty());
    }

    #[test]
    fn sorted_by_utf8_bytes_not_utf16() {
        // U+FF21 (EF BC A1 in UTF-8) sorts after U+1F600 (F0 9F 98 80) in UTF-16 code units
        // but before it in UTF-8 bytes.
        let ec: EncryptionContext = [("\u{1F600}", "b"), ("\u{FF21}", "a"), ("z", "c")]
            .into_iter()
            .collect();
        let bytes = ec.serialize().unwrap();
        let keys: Vec<&str> = ec.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["z", "\u{FF21}", "\u{1F600}"]);
        assert_eq!(&bytes[..2], &[0, 3]);
        assert_eq!(EncryptionContext::deserialize(&bytes).unwrap(), ec);
    }

    #[test]
    fn unsorted_input_is_accepted_duplicates_are_not() {
        let enc = |pairs: &[(&str, &str)]| {
            let mut v = (pairs.len() as u16).to_be_bytes().to_vec();
            for (k, val) in pairs {
                v.extend_from_slice(&(k.len() as u16).to_be_bytes());
                v.extend_from_slice(k.as_bytes());
                v.extend_from_slice(&(val.len() as u16).to_be_bytes());
                v.extend_from_slice(val.as_bytes());
            }
            v
        };
        let ec = EncryptionContext::deserialize(&enc(&[("b", "1"), ("a", "2")])).unwrap();
        assert_eq!(ec.get("a"), Some("2"));
        assert!(EncryptionContext::deserialize(&enc(&[("a", "1"), ("a", "2")])).is_err());
        let mut trailing = enc(&[("a", "1")]);
        trailing.push(0);
        assert!(EncryptionContext::deserialize(&trailing).is_err());
        let full = enc(&[("a", "1")]);
        for cut in 1..full.len() {
            assert!(EncryptionContext::deserialize(&full[..cut]).is_err());
        }
    }

    #[test]
    fn too_large_is_refused() {
        let mut ec = EncryptionContext::new();
        ec.insert("k", "v".repeat(70_000));
        assert!(ec.serialize().is_err());
    }
}
