//! Header parsing (the format layer): arbitrary bytes as the start of a message.
//!
//! Checks that parsing never panics, that the outcome does not depend on how the bytes arrive
//! (whole, or in chunks whose size comes from the input's last byte), that a header accepted
//! under tight limits respects them and is accepted unchanged under the defaults, and that an
//! encryption context that deserializes serializes back to a form that deserializes to it.
#![no_main]

use bytes::BytesMut;
use esdk::io::Release;
use esdk::{Client, ContentType, EncryptionContext, Limits, MessageHeader};
use esdk_fuzz::{decrypt_client, split};
use libfuzzer_sys::fuzz_target;

/// Feeds `chunks` until the header comes out, an error, or the end. `Ok(None)`: incomplete.
fn parse(
    client: &Client,
    data: &[u8],
    chunk: usize,
) -> Result<Option<(MessageHeader, usize)>, String> {
    let mut d = client.header_decoder(Release::Streaming);
    let mut buf = BytesMut::new();
    for c in split(data, &[chunk]) {
        buf.extend_from_slice(&c);
        match d.decode(&mut buf) {
            Ok(Some(p)) => return Ok(Some((p.header().clone(), p.header_len()))),
            Ok(None) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(None)
}

fuzz_target!(|data: &[u8]| {
    if let Ok(ec) = EncryptionContext::deserialize(data) {
        let bytes = ec.serialize().expect("a parsed context serializes");
        assert_eq!(
            EncryptionContext::deserialize(&bytes).expect("round trip"),
            ec
        );
        if !ec.is_empty() {
            assert_eq!(bytes.len(), data.len(), "canonical form has another length");
        }
    }

    let client = decrypt_client();
    let whole = parse(&client, data, usize::MAX);
    let chunk = usize::from(data.last().copied().unwrap_or(0) % 32) + 1;
    let chunked = parse(&client, data, chunk);
    assert_eq!(whole, chunked, "chunks of {chunk} changed the outcome");

    if let Ok(Some((h, len))) = &whole {
        assert!(*len <= data.len());
        assert!(!h.encrypted_data_keys().is_empty());
        assert_eq!(
            h.message_id().len(),
            h.algorithm_suite()
                .message_format_version()
                .message_id_len()
        );
        match h.content_type() {
            ContentType::NonFramed => assert_eq!(h.frame_length(), 0),
            _ => assert_ne!(h.frame_length(), 0),
        }
    }

    let limits = Limits::new()
        .max_encrypted_data_keys(2)
        .max_encryption_context_len(64)
        .max_header_len(300)
        .max_frame_length(1024);
    let tight = Client::builder()
        .commitment_policy(client.commitment_policy())
        .limits(limits)
        .build();
    if let Ok(Some((h, len))) = parse(&tight, data, usize::MAX) {
        assert!(h.encrypted_data_keys().len() <= 2);
        assert!(h.frame_length() <= 1024);
        assert!(
            len <= 300 + 32,
            "header of {len} bytes under a 300-byte limit"
        );
        assert_eq!(
            whole,
            Ok(Some((h, len))),
            "tight limits accepted what the defaults did not"
        );
    }
});
