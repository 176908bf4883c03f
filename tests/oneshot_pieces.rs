//! One-shot decryption hands the ciphertext to the decryptor in pieces (256 KiB, or more while
//! a large frame is incomplete): messages, frames, truncations and trailing bytes larger than a
//! piece, and on both sides of a piece boundary, behave exactly as when the whole message is
//! fed at once through the sans-IO decryptor.

use bytes::BytesMut;
use esdk::error::FormatError;
use esdk::io::Release;
use esdk::proto::DecryptEvent;
use esdk::{AlgorithmSuite, Client, CommitmentPolicy, Error, FrameLength, RawAesKeyring};
use futures::executor::block_on;

const PIECE: usize = 256 * 1024;

fn keyring() -> RawAesKeyring {
    RawAesKeyring::new("pieces", "aes-256", &[3u8; 32]).unwrap()
}

fn client() -> Client {
    Client::builder()
        .commitment_policy(CommitmentPolicy::REQUIRE_ENCRYPT_ALLOW_DECRYPT)
        .build()
}

fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn encrypt(suite: AlgorithmSuite, frame: u32, pt: &[u8]) -> Vec<u8> {
    block_on(
        client()
            .encrypt(keyring(), pt)
            .algorithm_suite(suite)
            .frame_length(FrameLength::new(frame).unwrap())
            .into_future(),
    )
    .unwrap()
    .ciphertext
}

fn decrypt(ct: &[u8]) -> esdk::Result<Vec<u8>> {
    block_on(client().decrypt(keyring(), ct).into_future()).map(|o| o.plaintext)
}

/// The same message through the decryptor with the whole input at once.
fn decrypt_whole(ct: &[u8]) -> esdk::Result<Vec<u8>> {
    let c = client();
    let mut input = BytesMut::from(ct);
    let parsed = c
        .header_decoder(Release::Streaming)
        .decode(&mut input)?
        .ok_or(FormatError::Truncated)?;
    let m = block_on(c.decrypt_materials(
        &esdk::MaterialsSource::from(keyring()),
        parsed.header(),
        None,
    ))?;
    let mut d = parsed.with_materials(&m)?;
    let mut out = Vec::new();
    loop {
        match d.decode(&mut input)? {
            Some(DecryptEvent::Plaintext(p)) => out.extend_from_slice(&p),
            Some(DecryptEvent::Done) => break,
            Some(_) => unreachable!("no other events"),
            None => return Err(FormatError::Truncated.into()),
        }
    }
    d.finish(&input)?;
    Ok(out)
}

const SUITES: [AlgorithmSuite; 2] = [
    AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
];

#[test]
fn messages_and_frames_larger_than_a_piece_round_trip() {
    for suite in SUITES {
        // Frames smaller than, about equal to, and several times a piece.
        for (frame, len) in [
            (4096u32, 3 * PIECE + 17),
            (PIECE as u32 - 30, 2 * PIECE),
            (3 * PIECE as u32 + 5, 7 * PIECE + 3),
            (1 << 20, 1 << 20),
        ] {
            let pt = plaintext(len);
            let ct = encrypt(suite, frame, &pt);
            assert_eq!(decrypt(&ct).unwrap(), pt, "frame {frame}, length {len}");
        }
    }
}

#[test]
fn trailing_bytes_are_counted_whether_or_not_they_were_handed_over() {
    for suite in SUITES {
        let ct = encrypt(suite, 4096, &plaintext(PIECE - 300));
        // Trailing bytes inside the first piece, straddling its end, and beyond it.
        for extra in [1usize, 299, 2 * PIECE + 1] {
            let mut bad = ct.clone();
            bad.extend(std::iter::repeat_n(0u8, extra));
            match decrypt(&bad) {
                Err(Error::Format(FormatError::TrailingData(n))) => assert_eq!(n, extra),
                other => panic!("{extra} trailing bytes: {other:?}"),
            }
            assert!(matches!(
                decrypt_whole(&bad),
                Err(Error::Format(FormatError::TrailingData(n))) if n == extra
            ));
        }
        // A second message after the first.
        let double = [ct.clone(), ct.clone()].concat();
        assert!(matches!(
            decrypt(&double),
            Err(Error::Format(FormatError::TrailingData(n))) if n == ct.len()
        ));
    }
}

#[test]
fn truncations_around_piece_boundaries_fail_like_whole_input() {
    for suite in SUITES {
        let pt = plaintext(3 * PIECE);
        for frame in [4096u32, PIECE as u32 + 100] {
            let ct = encrypt(suite, frame, &pt);
            for cut in [
                0,
                1,
                PIECE - 1,
                PIECE,
                PIECE + 1,
                2 * PIECE + 7,
                ct.len() - 1,
            ] {
                let got = decrypt(&ct[..cut]).map(|_| ());
                let whole = decrypt_whole(&ct[..cut]).map(|_| ());
                assert_eq!(
                    format!("{got:?}"),
                    format!("{whole:?}"),
                    "frame {frame}, cut at {cut}"
                );
                assert!(got.is_err());
            }
        }
    }
}
