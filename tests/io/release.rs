//! The release rules under truncation and tampering, at every byte offset, through every
//! decrypting adapter: an error every time (never a clean end), and what came out before the
//! error is only authenticated frames, never the final frame of a signed message. Under
//! `Release::Verified` nothing at all comes out.

use bytes::BytesMut;
use esdk::io::{DecryptOptions, Release};
use esdk::{AlgorithmSuite, Client, EncryptOptions, FrameLength, MaterialsSource, RawAesKeyring};

use crate::drive::{self, Chunking, Dec, Outcome};
use crate::mock::block_on;

const FRAME: usize = 64;
/// Three full regular frames and a final frame of 17 bytes.
const PLAINTEXT_LEN: usize = 3 * FRAME + 17;
/// seq(4) ‖ IV(12) ‖ content(64) ‖ tag(16)
const REGULAR_FRAME_LEN: usize = 4 + 12 + FRAME + 16;
const REGULAR_FRAMES: usize = 3;

pub struct Message {
    pub client: Client,
    pub source: MaterialsSource,
    pub plaintext: Vec<u8>,
    pub ciphertext: Vec<u8>,
    pub header_len: usize,
}

pub fn message(suite: AlgorithmSuite) -> Message {
    let source = MaterialsSource::from(
        RawAesKeyring::new("ns", "release-test", &[9u8; 32]).expect("keyring"),
    );
    let client = Client::new();
    let plaintext: Vec<u8> = (0..PLAINTEXT_LEN).map(|i| (i * 7 + 3) as u8).collect();
    let options = EncryptOptions::new()
        .algorithm_suite(suite)
        .frame_length(FrameLength::new(FRAME as u32).expect("non-zero"));
    let ciphertext = block_on(drive::encrypt(
        drive::Enc::OneShot,
        &client,
        &source,
        &plaintext,
        &options,
        &Chunking::one_byte(),
    ))
    .expect("encrypts");
    let mut d = client.header_decoder(esdk::io::Release::Streaming);
    let mut buf = BytesMut::from(&ciphertext[..]);
    let Ok(Some(parsed)) = d.decode(&mut buf) else {
        panic!("no header")
    };
    Message {
        client,
        source,
        plaintext,
        ciphertext,
        header_len: parsed.header_len(),
    }
}

impl Message {
    /// Regular frames wholly inside the first `n` bytes.
    fn whole_frames_within(&self, n: usize) -> usize {
        (n.saturating_sub(self.header_len) / REGULAR_FRAME_LEN).min(REGULAR_FRAMES)
    }
}

fn signed() -> AlgorithmSuite {
    AlgorithmSuite::from_id(0x0578).expect("suite")
}

fn unsigned() -> AlgorithmSuite {
    AlgorithmSuite::from_id(0x0478).expect("suite")
}

/// Every decryption path with the default release mode, and the adapters in verified mode.
fn modes() -> Vec<(Dec, Release)> {
    let mut out: Vec<(Dec, Release)> = Dec::ALL.iter().map(|&d| (d, Release::Streaming)).collect();
    for d in [Dec::Reader, Dec::Writer, Dec::Stream, Dec::Codec] {
        // Memory limit 0 for the adapters that can spill, so the spill file is exercised too.
        let limit = if d == Dec::Codec { 1 << 20 } else { 0 };
        out.push((d, Release::verified(limit)));
    }
    out
}

fn check_prefix(m: &Message, out: &Outcome, what: &str) {
    assert!(
        m.plaintext.starts_with(&out.released),
        "{what}: released bytes are not a prefix of the plaintext"
    );
}

fn truncation(suite: AlgorithmSuite) {
    let m = message(suite);
    let chunking = Chunking::one_byte();
    let mut checked = 0;
    for (how, release) in modes() {
        let options = DecryptOptions::new().release(release);
        let verified = matches!(release, Release::Verified { .. });
        for cut in 0..m.ciphertext.len() {
            let what = format!(
                "{suite:?} {how:?} verified={verified} cut at {cut}/{}",
                m.ciphertext.len()
            );
            let out = block_on(drive::decrypt(
                how,
                &m.client,
                &m.source,
                &m.ciphertext[..cut],
                &options,
                &chunking,
            ));
            let err = out.result.as_ref().expect_err(&what);
            assert!(err.is_truncation(), "{what}: {err}");
            check_prefix(&m, &out, &what);
            let expected = if verified || how == Dec::OneShot {
                0
            } else {
                FRAME * m.whole_frames_within(cut)
            };
            assert_eq!(out.released.len(), expected, "{what}");
            checked += 1;
        }
        let out = block_on(drive::decrypt(
            how,
            &m.client,
            &m.source,
            &m.ciphertext,
            &options,
            &chunking,
        ));
        assert!(
            out.result.is_ok(),
            "{how:?}: whole message: {:?}",
            out.result
        );
        assert_eq!(out.released, m.plaintext, "{how:?}: whole message");
    }
    eprintln!("{suite:?}: {checked} truncations checked");
}

#[test]
fn truncated_signed_message_fails_at_every_offset() {
    truncation(signed());
}

#[test]
fn truncated_unsigned_message_fails_at_every_offset() {
    truncation(unsigned());
}

fn tampering(suite: AlgorithmSuite) {
    let m = message(suite);
    let chunking = Chunking::one_byte();
    for (how, release) in modes() {
        let options = DecryptOptions::new().release(release);
        let verified = matches!(release, Release::Verified { .. });
        for at in 0..m.ciphertext.len() {
            let mut bad = m.ciphertext.clone();
            bad[at] ^= 0x01;
            let what = format!("{suite:?} {how:?} verified={verified} bit flipped at {at}");
            let out = block_on(drive::decrypt(
                how, &m.client, &m.source, &bad, &options, &chunking,
            ));
            assert!(out.result.is_err(), "{what}: accepted");
            check_prefix(&m, &out, &what);
            let most = if verified || how == Dec::OneShot {
                0
            } else {
                FRAME * m.whole_frames_within(at)
            };
            assert!(
                out.released.len() <= most,
                "{what}: released {} > {most}",
                out.released.len()
            );
        }
    }
}

#[test]
fn tampered_signed_message_releases_only_earlier_frames() {
    tampering(signed());
}

#[test]
fn tampered_unsigned_message_releases_only_earlier_frames() {
    tampering(unsigned());
}

#[test]
fn trailing_bytes_are_an_error_in_every_adapter() {
    for suite in [signed(), unsigned()] {
        let m = message(suite);
        let mut long = m.ciphertext.clone();
        long.push(0);
        for (how, release) in modes() {
            let options = DecryptOptions::new().release(release);
            let out = block_on(drive::decrypt(
                how,
                &m.client,
                &m.source,
                &long,
                &options,
                &Chunking::one_byte(),
            ));
            assert!(
                out.result.is_err(),
                "{suite:?} {how:?}: trailing byte accepted"
            );
            check_prefix(&m, &out, "trailing");
            if matches!(release, Release::Verified { .. }) {
                assert!(
                    out.released.is_empty(),
                    "{how:?} verified released on trailing data"
                );
            }
        }
    }
}

#[test]
fn unsigned_only_refuses_a_signed_message_after_the_header() {
    let m = message(signed());
    let options = DecryptOptions::new().release(Release::UnsignedOnly);
    for how in Dec::ALL {
        let out = block_on(drive::decrypt(
            how,
            &m.client,
            &m.source,
            &m.ciphertext,
            &options,
            &Chunking::one_byte(),
        ));
        match out.result {
            Err(esdk::Error::Policy(esdk::error::PolicyError::SignedMessageNotAllowed(_))) => {}
            other => panic!("{how:?}: {other:?}"),
        }
        assert!(out.released.is_empty());
    }
    // ... and the header alone is enough to refuse it.
    let header_only = &m.ciphertext[..m.header_len];
    for how in [Dec::Reader, Dec::Stream, Dec::Codec] {
        let out = block_on(drive::decrypt(
            how,
            &m.client,
            &m.source,
            header_only,
            &options,
            &Chunking::one_byte(),
        ));
        assert!(
            matches!(out.result, Err(esdk::Error::Policy(_))),
            "{how:?}: {:?}",
            out.result
        );
    }
    let unsigned = message(unsigned());
    for how in Dec::ALL {
        let out = block_on(drive::decrypt(
            how,
            &unsigned.client,
            &unsigned.source,
            &unsigned.ciphertext,
            &options,
            &Chunking::one_byte(),
        ));
        assert!(out.result.is_ok(), "{how:?}: {:?}", out.result);
        assert_eq!(out.released, unsigned.plaintext);
    }
}
