//! The streaming decoder fed the same message under arbitrary chunk splits (the sizes come from
//! the input's first bytes; see `esdk_fuzz::decode_split_input`).
//!
//! Checks that each streaming adapter (`decrypt_stream`, `DecryptingReader`, `DecryptingWriter`,
//! the `MessageDecoder` codec) agrees with the one-shot call (same plaintext, or both fail);
//! that on failure each releases nothing under `Release::Verified`, and under
//! `Release::Streaming` only whole frames the sans-IO decryptor released from the same chunks;
//! and that the sans-IO decryptor releases the same frames however its input is cut (except
//! that a message followed by trailing bytes may have its verified final frame released when
//! the trailing bytes arrive in a later chunk).
#![no_main]

use bytes::Bytes;
use esdk::error::FormatError;
use esdk::io::Release;
use esdk_fuzz::{
    Adapter, adapter_decrypt, core_decrypt, decode_split_input, decrypt_client, one_shot_decrypt,
    split,
};
use libfuzzer_sys::fuzz_target;

/// True when `items` are the first `items.len()` of `frames`, except that the last item may
/// be an extra frame after all of them when `extra_ok`.
fn frame_prefix(items: &[Bytes], frames: &[Bytes], extra_ok: bool) -> bool {
    if items.len() <= frames.len() {
        return items == &frames[..items.len()];
    }
    extra_ok && items.len() == frames.len() + 1 && items[..frames.len()] == *frames
}

/// An error that says what went wrong with the message (in-memory input cannot fail with I/O,
/// and a misuse error would hide the real cause).
fn typed(e: &esdk::Error) -> bool {
    !matches!(e, esdk::Error::Io(_) | esdk::Error::ApiMisuse(_))
}

fuzz_target!(|data: &[u8]| {
    let (sizes, message) = decode_split_input(data);
    let client = decrypt_client();
    let chunks = split(message, &sizes);
    let one_shot = one_shot_decrypt(&client, message);
    let whole = core_decrypt(&client, &[Bytes::copy_from_slice(message)], false);
    let cut = core_decrypt(&client, &chunks, false);
    let trailing = matches!(
        whole.result,
        Err(esdk::Error::Format(FormatError::TrailingData(_)))
    );

    match &one_shot {
        Ok(pt) => {
            assert!(
                whole.result.is_ok() && cut.result.is_ok(),
                "core failed where one-shot did not"
            );
            assert_eq!(&whole.plaintext(), pt);
            assert_eq!(&cut.plaintext(), pt);
        }
        Err(_) => {
            assert!(
                whole.result.is_err() && cut.result.is_err(),
                "core accepted what one-shot refused"
            );
            let errors = [
                &one_shot.as_ref().err(),
                &whole.result.as_ref().err(),
                &cut.result.as_ref().err(),
            ];
            for e in errors.into_iter().flatten() {
                assert!(typed(e), "untyped error {e:?}");
            }
            assert!(
                cut.frames.len() >= whole.frames.len()
                    && frame_prefix(&cut.frames, &whole.frames, trailing),
                "the split changed what the core released"
            );
        }
    }

    for (how, release) in Adapter::ALL
        .into_iter()
        .flat_map(|a| [(a, Release::Streaming), (a, Release::verified(usize::MAX))])
    {
        let s = adapter_decrypt(&client, &chunks, release, how);
        let released: Vec<u8> = s.items.concat();
        match &one_shot {
            Ok(pt) => {
                assert!(
                    s.result.is_ok(),
                    "{how:?} {release:?}: stream failed: {:?}",
                    s.result
                );
                assert_eq!(
                    &released, pt,
                    "{how:?} {release:?}: stream plaintext differs"
                );
            }
            Err(_) => {
                let Err(err) = &s.result else {
                    panic!("{how:?} {release:?}: accepted what one-shot refused");
                };
                assert!(typed(err), "{how:?} {release:?}: untyped error {err:?}");
                if release == Release::Streaming {
                    // Released: whole frames that the core released from the same chunks.
                    let mut expect = Vec::new();
                    let mut ok = released.is_empty();
                    for f in &cut.frames {
                        expect.extend_from_slice(f);
                        ok |= expect == released;
                    }
                    assert!(
                        ok,
                        "streaming released {} bytes that are not whole verified frames",
                        released.len()
                    );
                } else {
                    assert!(
                        released.is_empty(),
                        "verified mode released {} bytes on failure",
                        released.len()
                    );
                }
            }
        }
    }
});
