//! The decrypt state machine with the fixed-key raw AES keyring, so that mutated real messages
//! (the seed corpus) get past the header to the body, the footer and the key commitment.
//!
//! Checks that nothing panics, that the sans-IO decryptor and the one-shot call agree (both
//! succeed with the same plaintext, or both fail, and then the one-shot call returns nothing),
//! and that "unsigned only" refuses exactly the signed suites and otherwise agrees too.
#![no_main]

use bytes::Bytes;
use esdk::error::{FormatError, PolicyError};
use esdk_fuzz::{core_decrypt, decrypt_client, one_shot_decrypt};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let client = decrypt_client();
    let chunks = [Bytes::copy_from_slice(data)];
    let core = core_decrypt(&client, &chunks, false);
    let one_shot = one_shot_decrypt(&client, data);
    match (&core.result, &one_shot) {
        (Ok(()), Ok(pt)) => assert_eq!(&core.plaintext(), pt, "core and one-shot differ"),
        (Err(_), Err(_)) => {}
        (c, o) => panic!("core {c:?} but one-shot {:?}", o.as_ref().map(Vec::len)),
    }
    if core.result.is_err() {
        // Before an error only regular frames come out, each exactly the frame length; the one
        // exception is a whole verified message followed by trailing bytes.
        let trailing = matches!(
            core.result,
            Err(esdk::Error::Format(FormatError::TrailingData(_)))
        );
        match &core.header {
            Some(h) => {
                let n = core.frames.len().saturating_sub(usize::from(trailing));
                for f in &core.frames[..n] {
                    assert_eq!(
                        f.len() as u64,
                        u64::from(h.frame_length()),
                        "a short frame before an error"
                    );
                }
            }
            None => assert!(core.frames.is_empty(), "plaintext before a header"),
        }
    }

    let unsigned = core_decrypt(&client, &chunks, true);
    match &core.header {
        Some(h) if h.algorithm_suite().is_signing() => {
            assert!(
                matches!(
                    unsigned.result,
                    Err(esdk::Error::Policy(PolicyError::SignedMessageNotAllowed(_)))
                ),
                "unsigned-only accepted a signed message: {:?}",
                unsigned.result
            );
            assert!(unsigned.frames.is_empty());
        }
        _ => {
            assert_eq!(unsigned.result.is_ok(), core.result.is_ok());
            assert_eq!(unsigned.frames, core.frames);
        }
    }
});
