//! Encrypt → decrypt with arbitrary parameters: suite, frame length, encryption context,
//! plaintext, and the chunking on both sides (see `esdk_fuzz::RoundTrip::decode`).
//!
//! Encrypts through `encrypt_stream`; a reserved context key must be refused with a policy
//! error and nothing else may fail. The message must decrypt to the plaintext one-shot, through
//! each streaming adapter (streaming and verified) and through the sans-IO decryptor under the
//! decrypt-side chunking, with the suite, frame length and context of the parameters.
#![no_main]

use esdk::io::Release;
use esdk_fuzz::{
    Adapter, RoundTrip, adapter_decrypt, core_decrypt, decrypt_client, one_shot_decrypt, split,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = RoundTrip::decode(data);
    let reserved = p.context.iter().any(|(k, _)| k.starts_with("aws-crypto-"));
    let ct = match p.encrypt() {
        Ok(ct) => {
            assert!(!reserved, "a reserved context key was accepted");
            ct
        }
        Err(esdk::Error::Policy(_)) if reserved => return,
        Err(e) => panic!("encryption failed: {e} ({p:?})"),
    };
    let client = decrypt_client();
    let pt = one_shot_decrypt(&client, &ct).expect("one-shot decrypts");
    assert_eq!(pt, p.plaintext, "one-shot plaintext differs");

    let chunks = split(&ct, &p.decrypt_chunks);
    let core = core_decrypt(&client, &chunks, false);
    assert!(core.result.is_ok(), "core: {:?}", core.result);
    assert_eq!(core.plaintext(), p.plaintext, "core plaintext differs");
    let h = core.header.expect("a header");
    assert_eq!(h.algorithm_suite(), p.suite);
    assert_eq!(h.frame_length(), p.frame_length.get());
    // Later pairs with the same key win, as when collecting into a map.
    let expected: esdk::EncryptionContext = p.context.iter().cloned().collect();
    for (k, v) in expected.iter() {
        assert_eq!(h.encryption_context().get(k), Some(v));
    }
    let frame = p.frame_length.get() as usize;
    for (i, f) in core.frames.iter().enumerate() {
        assert!(f.len() <= frame, "frame {i} longer than the frame length");
    }

    for how in Adapter::ALL {
        for release in [Release::Streaming, Release::verified(usize::MAX)] {
            let s = adapter_decrypt(&client, &chunks, release, how);
            assert!(s.result.is_ok(), "{how:?} {release:?}: {:?}", s.result);
            assert_eq!(
                s.items.concat(),
                p.plaintext,
                "{how:?} {release:?}: plaintext differs"
            );
        }
    }
});
