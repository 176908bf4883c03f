//! The little DER and SEC1 work aws-lc-rs leaves to its caller: wrapping PKCS#1 RSA keys into the
//! PKCS#8 / SubjectPublicKeyInfo forms it reads, building an RFC 5915 `ECPrivateKey` from a raw
//! scalar, finding the point inside an EC SubjectPublicKeyInfo, and compressing SEC1 points.
//!
//! Every reader here is bounds-checked and returns `None` on malformed input; the structures
//! are then parsed (and validated) again by AWS-LC itself.

use zeroize::Zeroizing;

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;

/// AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL }.
const RSA_ALGORITHM_ID: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

/// Splits one TLV off the front of `input`: `(tag, content, rest)`. Single-byte tags only;
/// lengths in short form or long form of up to four bytes.
pub(super) fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// Appends a DER length.
fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// A TLV from its parts (the content given as pieces, concatenated), in a zeroizing buffer
/// since some of them hold private keys.
fn tlv(tag: u8, parts: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = Zeroizing::new(Vec::with_capacity(len + 6));
    out.push(tag);
    push_len(&mut out, len);
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

/// PKCS#8 `PrivateKeyInfo` around a PKCS#1 `RSAPrivateKey`.
pub(super) fn rsa_pkcs1_private_to_pkcs8(pkcs1: &[u8]) -> Zeroizing<Vec<u8>> {
    let key = tlv(OCTET_STRING, &[pkcs1]);
    tlv(SEQUENCE, &[&[INTEGER, 0x01, 0x00], RSA_ALGORITHM_ID, &key])
}

/// SubjectPublicKeyInfo around a PKCS#1 `RSAPublicKey`.
pub(super) fn rsa_pkcs1_public_to_spki(pkcs1: &[u8]) -> Vec<u8> {
    let key = tlv(BIT_STRING, &[&[0x00], pkcs1]);
    tlv(SEQUENCE, &[RSA_ALGORITHM_ID, &key]).to_vec()
}

/// An RFC 5915 `ECPrivateKey` holding only the scalar (no parameters, no public key: AWS-LC
/// takes the curve from its caller and computes the public key).
pub(super) fn ec_private_key(scalar: &[u8]) -> Zeroizing<Vec<u8>> {
    let d = tlv(OCTET_STRING, &[scalar]);
    tlv(SEQUENCE, &[&[INTEGER, 0x01, 0x01], &d])
}

/// Whether `der` has the shape of a PKCS#8 `PrivateKeyInfo` (version, then an
/// AlgorithmIdentifier), as opposed to a bare RFC 5915 `ECPrivateKey` (version, then an OCTET
/// STRING).
pub(super) fn is_pkcs8(der: &[u8]) -> bool {
    let Some((SEQUENCE, body, [])) = read_tlv(der) else {
        return false;
    };
    let Some((INTEGER, _, rest)) = read_tlv(body) else {
        return false;
    };
    matches!(read_tlv(rest), Some((SEQUENCE, _, _)))
}

/// The subjectPublicKey bytes (the SEC1 point, for EC keys) of a SubjectPublicKeyInfo.
pub(super) fn spki_public_key(der: &[u8]) -> Option<&[u8]> {
    let (SEQUENCE, body, []) = read_tlv(der)? else {
        return None;
    };
    let (SEQUENCE, _, rest) = read_tlv(body)? else {
        return None;
    };
    let (BIT_STRING, bits, []) = read_tlv(rest)? else {
        return None;
    };
    match bits.split_first()? {
        (0, key) => Some(key),
        _ => None,
    }
}

/// The compressed form of a SEC1 point whose coordinates are `field_len` bytes, if `sec1` is a
/// well-formed compressed or uncompressed encoding (the point itself is not checked here).
/// The identity and the hybrid forms are refused, as the RustCrypto backend refuses them.
pub(super) fn compress_sec1(field_len: usize, sec1: &[u8]) -> Option<Vec<u8>> {
    match sec1.split_first()? {
        (0x02 | 0x03, x) if x.len() == field_len => Some(sec1.to_vec()),
        (0x04, xy) if xy.len() == 2 * field_len => {
            let (x, y) = xy.split_at(field_len);
            let mut out = Vec::with_capacity(1 + field_len);
            out.push(0x02 | (y[field_len - 1] & 1));
            out.extend_from_slice(x);
            Some(out)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_round_trip_short_and_long_lengths() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let content = vec![0xabu8; len];
            let enc = tlv(OCTET_STRING, &[&content]);
            let (tag, body, rest) = read_tlv(&enc).unwrap();
            assert_eq!((tag, body.len(), rest.len()), (OCTET_STRING, len, 0));
        }
    }

    #[test]
    fn truncated_tlv_is_refused() {
        assert!(read_tlv(&[0x30]).is_none());
        assert!(read_tlv(&[0x30, 0x05, 0x00]).is_none());
        assert!(read_tlv(&[0x30, 0x82, 0x01]).is_none());
        assert!(read_tlv(&[0x30, 0x80]).is_none());
        assert!(read_tlv(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
    }

    #[test]
    fn compress_takes_the_parity_of_y() {
        let mut point = vec![0x04];
        point.extend_from_slice(&[7u8; 32]);
        point.extend_from_slice(&[9u8; 32]);
        let c = compress_sec1(32, &point).unwrap();
        assert_eq!(c[0], 0x03);
        assert_eq!(&c[1..], &[7u8; 32]);
        assert!(compress_sec1(32, &point[..64]).is_none());
        assert!(compress_sec1(32, &[0x00]).is_none());
        let mut hybrid = point.clone();
        hybrid[0] = 0x07;
        assert!(compress_sec1(32, &hybrid).is_none());
    }
}
