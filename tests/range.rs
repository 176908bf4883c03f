//! Range decryption (`esdk::io::RangeReader`): every range equals the same slice of a full
//! decryption, damage inside a range (or in the header or final frame) is detected, damage
//! outside it is not looked at, cut and extended messages fail, signed messages are refused.

use std::io::Cursor;

use esdk::error::{AuthError, FormatError, PolicyError};
use esdk::io::RangeReader;
use esdk::{AlgorithmSuite, Client, Error, FrameLength, MaterialsSource, RawAesKeyring};
use futures::executor::block_on;
use proptest::prelude::*;
use tokio::io::AsyncReadExt;

fn keys() -> MaterialsSource {
    MaterialsSource::from(RawAesKeyring::new("range", "key", &[3u8; 32]).unwrap())
}

fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + 7) as u8).collect()
}

fn encrypt(pt: &[u8], frame: u32, suite: AlgorithmSuite) -> Vec<u8> {
    let client = Client::new();
    let out = block_on(
        client
            .encrypt(keys(), pt)
            .algorithm_suite(suite)
            .frame_length(FrameLength::new(frame).unwrap())
            .encryption_context([("k", "v")]),
    )
    .unwrap();
    // The same message through the full decryption gives the same plaintext.
    let back = block_on(client.decrypt(keys(), &out.ciphertext)).unwrap();
    assert_eq!(back.plaintext, pt);
    out.ciphertext
}

const UNSIGNED: AlgorithmSuite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;

fn open(msg: Vec<u8>) -> esdk::Result<RangeReader<Cursor<Vec<u8>>>> {
    block_on(RangeReader::open(&Client::new(), keys(), Cursor::new(msg)))
}

fn read(r: &mut RangeReader<Cursor<Vec<u8>>>) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    block_on(r.read_to_end(&mut out))?;
    Ok(out)
}

/// Header length of `msg` (where its first frame starts).
fn header_len(msg: &[u8]) -> usize {
    // The frames follow the header; find the header by decrypting with the core.
    let client = Client::new();
    let mut d = client.header_decoder(esdk::io::Release::Streaming);
    let mut input = bytes::BytesMut::from(msg);
    d.decode(&mut input).unwrap().expect("header").header_len()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_range_is_the_slice_of_the_plaintext(
        len in 0usize..600,
        frame in 1u32..80,
        ranges in proptest::collection::vec((0u64..700, 0u64..700), 1..6),
    ) {
        let pt = plaintext(len);
        let msg = encrypt(&pt, frame, UNSIGNED);
        let mut r = open(msg).unwrap();
        prop_assert_eq!(r.plaintext_len(), len as u64);
        // The whole plaintext first, then several ranges from the same reader.
        prop_assert_eq!(read(&mut r).unwrap(), pt.clone());
        for (a, b) in ranges {
            match r.set_range(a..b) {
                Some(got) => {
                    prop_assert!(a < len as u64 && a <= b);
                    prop_assert_eq!(got.clone(), a..b.min(len as u64));
                    let want = &pt[got.start as usize..got.end as usize];
                    prop_assert_eq!(read(&mut r).unwrap(), want.to_vec());
                }
                None => prop_assert!(a >= len as u64 || a > b),
            }
        }
    }

    #[test]
    fn damage_is_found_exactly_when_it_is_read(
        len in 1usize..400,
        frame in 1u32..64,
        (a, b) in (0u64..400, 0u64..400),
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let pt = plaintext(len);
        let msg = encrypt(&pt, frame, UNSIGNED);
        let h = header_len(&msg);
        let (a, b) = (a.min(b) % len as u64, a.max(b));
        let end = b.min(len as u64).max(a + 1);
        let at = at.index(msg.len());
        let mut bad = msg.clone();
        bad[at] ^= 1 << bit;
        // Frames: header h, then regular frames of frame + 32 bytes, then the final frame.
        let w = frame as usize + 32;
        let frame_of = |off: usize| (off - h) / w;
        let regular = (msg.len() - h - 40) / w;
        let first = (a / frame as u64) as usize;
        let last = ((end - 1) / frame as u64) as usize;
        let in_header = at < h;
        let in_final = at >= h && frame_of(at) >= regular;
        let in_range = at >= h && (first..=last).contains(&frame_of(at));
        match open(bad.clone()) {
            Err(_) => prop_assert!(in_header || in_final, "open failed for damage at {}", at),
            Ok(mut r) => {
                prop_assert!(!in_header && !in_final, "damage at {} passed open", at);
                prop_assert_eq!(r.set_range(a..end), Some(a..end));
                // The verifying pass finds exactly what reading finds, and reading after it
                // starts at the range's start.
                match block_on(r.verify_range()) {
                    Err(e) => {
                        prop_assert!(in_range, "verify_range failed outside the range: {}", e);
                        prop_assert!(matches!(
                            e,
                            Error::Authentication(AuthError::FrameTag { .. }) | Error::Format(_)
                        ), "{:?}", e);
                        // Spent after a failure; a fresh reader for the reading check.
                        prop_assert!(read(&mut r).is_err());
                        r = open(bad).unwrap();
                        prop_assert_eq!(r.set_range(a..end), Some(a..end));
                    }
                    Ok(()) => prop_assert!(!in_range, "verify_range passed damage at {}", at),
                }
                let got = read(&mut r);
                if in_range {
                    let e = got.expect_err("damage inside the range must fail");
                    prop_assert!(matches!(
                        esdk::io::error_of(&e),
                        Some(Error::Authentication(AuthError::FrameTag { .. }) | Error::Format(_))
                    ), "{:?}", e);
                } else {
                    prop_assert_eq!(got.unwrap(), pt[a as usize..end as usize].to_vec());
                }
            }
        }
    }
}

#[test]
fn cut_and_extended_messages_fail_to_open() {
    let pt = plaintext(300);
    let msg = encrypt(&pt, 64, UNSIGNED);
    for cut in 0..msg.len() {
        assert!(open(msg[..cut].to_vec()).is_err(), "cut at {cut}");
    }
    for extra in [1usize, 16, 39, 40, 95, 96, 97, 200] {
        let mut long = msg.clone();
        long.extend(std::iter::repeat_n(0xA5u8, extra));
        assert!(open(long).is_err(), "{extra} bytes appended");
    }
}

#[test]
fn exact_multiples_of_the_frame_length() {
    for len in [0usize, 64, 128, 640] {
        let pt = plaintext(len);
        let mut r = open(encrypt(&pt, 64, UNSIGNED)).unwrap();
        assert_eq!(r.plaintext_len(), len as u64);
        assert_eq!(read(&mut r).unwrap(), pt);
        if len > 0 {
            assert_eq!(
                r.suffix(70),
                Some(len.saturating_sub(70) as u64..len as u64)
            );
            assert_eq!(read(&mut r).unwrap(), pt[len.saturating_sub(70)..]);
        }
    }
}

#[test]
fn ranges_past_the_end_behave_like_http() {
    let pt = plaintext(1000);
    let mut r = open(encrypt(&pt, 100, UNSIGNED)).unwrap();
    // The end is clamped; a start at or past the end is not satisfiable.
    assert_eq!(r.set_range(990..5000), Some(990..1000));
    assert_eq!(read(&mut r).unwrap(), pt[990..]);
    assert_eq!(r.set_range(1000..1001), None);
    assert_eq!(r.set_range(5000..), None);
    let (ten, five) = (10u64, 5u64);
    assert_eq!(r.set_range(ten..five), None);
    assert_eq!(r.set_range(..=9), Some(0..10));
    assert_eq!(read(&mut r).unwrap(), pt[..10]);
    assert_eq!(r.suffix(0), None);
    assert_eq!(r.suffix(5000), Some(0..1000));
    // An empty plaintext has no satisfiable range at all.
    let mut empty = open(encrypt(&[], 100, UNSIGNED)).unwrap();
    assert_eq!(empty.set_range(0..1), None);
    assert_eq!(read(&mut empty).unwrap(), b"");
}

#[test]
fn signed_messages_are_refused_before_the_keyring_is_called() {
    let msg = encrypt(
        b"signed",
        64,
        AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
    );
    // A keyring that cannot decrypt anything: the refusal comes first.
    let other = MaterialsSource::from(RawAesKeyring::new("other", "key", &[4u8; 32]).unwrap());
    let err = block_on(RangeReader::open(&Client::new(), other, Cursor::new(msg))).unwrap_err();
    assert!(
        matches!(err, Error::Policy(PolicyError::RangeNotSupported(_))),
        "{err:?}"
    );
}

#[test]
fn a_message_inside_a_larger_file_is_read_from_its_offset() {
    let pt = plaintext(5000);
    let msg = encrypt(&pt, 128, UNSIGNED);
    let mut file = vec![0xEEu8; 777];
    file.extend_from_slice(&msg);
    let mut cursor = Cursor::new(file);
    cursor.set_position(777);
    let mut r = block_on(RangeReader::open(&Client::new(), keys(), cursor)).unwrap();
    assert_eq!(r.set_range(1234..4321), Some(1234..4321));
    assert_eq!(read(&mut r).unwrap(), pt[1234..4321]);
    // Bytes after the message in the same file are not part of it: the final frame is not
    // where the length says, so opening fails.
    let mut file = msg.clone();
    file.extend_from_slice(b"trailer");
    assert!(matches!(
        open(file).unwrap_err(),
        Error::Format(FormatError::Truncated | FormatError::BadSequence { .. })
            | Error::Authentication(_)
    ));
}
