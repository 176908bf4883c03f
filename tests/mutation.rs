//! The mutation campaign: for a message of every one of the 11 suites, every single-bit flip
//! and every truncation of its header, body and footer, through every decrypting adapter
//! (one-shot, `DecryptingReader`, `DecryptingWriter`, `decrypt_stream`, the `MessageDecoder`
//! codec), in the default `Release::Streaming` mode, plus the reader and the stream in
//! `Release::Verified` mode.
//!
//! Each mutation must fail with a typed error (not a panic, not an untyped I/O error, not an
//! API-misuse error); a truncation must fail as a truncation. What came out before the error is
//! checked exactly: nothing for the one-shot call and the verified mode; in streaming mode
//! exactly the regular frames that lie wholly before the mutated byte (or the cut), which have
//! verified, and never the final frame of a signed message, which waits for the signature.
//!
//! Messages: frame length 16, plaintext 37 bytes (two regular frames and a final frame of 5),
//! an encryption context of one pair, a raw AES-256 keyring: about 297 to 541 bytes by suite (header
//! 156 to 295, body 141, footer about 73 to 106 bytes for the signed suites: DER signatures vary). The
//! mock I/O moves 1 to 200 bytes per call (cycling) and returns `Pending` between calls. Every
//! count is printed and asserted against what the message sizes imply.
//!
//! Also three non-framed messages (suites 0x0014, 0x0178, 0x0478; `esdk` writes none, so they
//! are built by hand by the fuzz helpers, `tests/fuzz/src/lib.rs`) with the same 37-byte
//! plaintext: nothing of a non-framed body may come out before its tag has verified.

#[allow(dead_code)]
#[path = "io/mock.rs"]
mod mock;

#[allow(dead_code)]
#[path = "io/drive.rs"]
mod drive;

#[allow(dead_code)]
#[path = "fuzz/src/lib.rs"]
mod fuzz;

/// Suites of the extra non-framed messages: no KDF (v1), HKDF (v1), key commitment (v2).
const NON_FRAMED: [u16; 3] = [0x0014, 0x0178, 0x0478];

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;

use bytes::BytesMut;
use esdk::io::{DecryptOptions, Release};
use esdk::{
    AlgorithmSuite, Client, CommitmentPolicy, EncryptOptions, FrameLength, MaterialsSource,
    RawAesKeyring,
};

use drive::{Chunking, Dec, Enc};
use mock::{Plan, block_on};

const FRAME: usize = 16;
const REGULAR_FRAMES: usize = 2;
const PLAINTEXT_LEN: usize = REGULAR_FRAMES * FRAME + 5;
/// seq(4) ‖ IV(12) ‖ content ‖ tag(16)
const REGULAR_FRAME_LEN: usize = 4 + 12 + FRAME + 16;
/// FFFFFFFF ‖ seq(4) ‖ IV(12) ‖ len(4) ‖ content ‖ tag(16)
const FINAL_FRAME_LEN: usize = 4 + 4 + 12 + 4 + (PLAINTEXT_LEN - REGULAR_FRAMES * FRAME) + 16;
const BODY_LEN: usize = REGULAR_FRAMES * REGULAR_FRAME_LEN + FINAL_FRAME_LEN;

/// An adapter and its release mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Mode {
    how: Dec,
    verified: bool,
}

impl PartialOrd for Dec {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Dec {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let at = |d: &Dec| Dec::ALL.iter().position(|x| x == d);
        at(self).cmp(&at(other))
    }
}

fn modes() -> Vec<Mode> {
    let mut out: Vec<Mode> = Dec::ALL
        .iter()
        .map(|&how| Mode {
            how,
            verified: false,
        })
        .collect();
    // Two of the four streaming adapters also in verified mode (tests/io/release.rs drives all
    // four that way at every offset, for one signed and one unsigned suite): each of these
    // decryptions costs an ECDSA verification for a signed footer, so all four would take
    // this test past two minutes on a busy two-core machine.
    for how in [Dec::Reader, Dec::Stream] {
        out.push(Mode {
            how,
            verified: true,
        });
    }
    out
}

impl Mode {
    fn options(self) -> DecryptOptions {
        if self.verified {
            // In memory (the codec cannot spill); the spill file is covered by tests/io.
            DecryptOptions::new().release(Release::verified(1 << 20))
        } else {
            DecryptOptions::new()
        }
    }

    /// True when plaintext may come out before the end.
    fn streams(self) -> bool {
        !self.verified && self.how != Dec::OneShot
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Region {
    Header,
    Body,
    Footer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    BitFlip,
    Truncation,
}

struct Message {
    suite: AlgorithmSuite,
    /// False for the hand-built non-framed messages.
    framed: bool,
    body_len: usize,
    client: Client,
    source: MaterialsSource,
    plaintext: Vec<u8>,
    ciphertext: Vec<u8>,
    header_len: usize,
}

impl Message {
    fn new(suite: AlgorithmSuite) -> Self {
        let policy = if suite.is_committing() {
            CommitmentPolicy::REQUIRE_ENCRYPT_REQUIRE_DECRYPT
        } else {
            CommitmentPolicy::FORBID_ENCRYPT_ALLOW_DECRYPT
        };
        let client = Client::builder().commitment_policy(policy).build();
        let source = MaterialsSource::from(
            RawAesKeyring::new("mutation", "aes-256", &[0x5c; 32]).expect("keyring"),
        );
        let plaintext: Vec<u8> = (0..PLAINTEXT_LEN).map(|i| (i * 29 + 7) as u8).collect();
        let options = EncryptOptions::new()
            .algorithm_suite(suite)
            .frame_length(FrameLength::new(FRAME as u32).expect("non-zero"))
            .encryption_context([("purpose", "mutation")]);
        let chunking = Chunking {
            input: Plan::sizes(vec![7]),
            output: Plan::sizes(vec![7]),
        };
        let ciphertext = block_on(drive::encrypt(
            Enc::OneShot,
            &client,
            &source,
            &plaintext,
            &options,
            &chunking,
        ))
        .expect("encrypts");
        let mut d = client.header_decoder(Release::Streaming);
        let mut buf = BytesMut::from(&ciphertext[..]);
        let Ok(Some(parsed)) = d.decode(&mut buf) else {
            panic!("{suite:?}: no header")
        };
        let header_len = parsed.header_len();
        let m = Self {
            suite,
            framed: true,
            body_len: BODY_LEN,
            client,
            source,
            plaintext,
            ciphertext,
            header_len,
        };
        // Unsigned messages end with the body; signed ones have a footer (u16 ‖ signature).
        let footer = m.footer_len();
        if suite.is_signing() {
            let declared = u16::from_be_bytes([
                m.ciphertext[header_len + m.body_len],
                m.ciphertext[header_len + m.body_len + 1],
            ]);
            assert_eq!(
                usize::from(declared) + 2,
                footer,
                "{suite:?}: footer length"
            );
        } else {
            assert_eq!(footer, 0, "{suite:?}: bytes after the body");
        }
        m
    }

    /// A non-framed message of an unsigned suite (`esdk` writes none; built by the fuzz
    /// helpers), with the fuzz crate's fixed key.
    fn non_framed(suite: AlgorithmSuite) -> Self {
        let plaintext: Vec<u8> = (0..PLAINTEXT_LEN).map(|i| (i * 29 + 7) as u8).collect();
        let ciphertext = fuzz::non_framed_message(suite, &[("purpose", "mutation")], &plaintext);
        let client = fuzz::encrypt_client(suite);
        let mut d = client.header_decoder(Release::Streaming);
        let mut buf = BytesMut::from(&ciphertext[..]);
        let Ok(Some(parsed)) = d.decode(&mut buf) else {
            panic!("{suite:?}: no header")
        };
        assert_eq!(parsed.header().content_type(), esdk::ContentType::NonFramed);
        let header_len = parsed.header_len();
        Self {
            suite,
            framed: false,
            // IV ‖ u64 length ‖ ciphertext ‖ tag
            body_len: 12 + 8 + PLAINTEXT_LEN + 16,
            client,
            source: fuzz::source(),
            plaintext,
            header_len,
            ciphertext,
        }
    }

    /// The suite, and whether the message is non-framed.
    fn label(&self) -> String {
        let id = self.suite.id();
        if self.framed {
            format!("0x{id:04x}")
        } else {
            format!("0x{id:04x} non-framed")
        }
    }

    fn footer_len(&self) -> usize {
        self.ciphertext.len() - self.header_len - self.body_len
    }

    fn region(&self, at: usize) -> Region {
        if at < self.header_len {
            Region::Header
        } else if at < self.header_len + self.body_len {
            Region::Body
        } else {
            Region::Footer
        }
    }

    /// Regular frames lying wholly inside the first `n` bytes: what streaming mode may release
    /// when the message goes wrong at byte `n`.
    /// A non-framed body is one block: nothing of it comes out before it has all verified.
    fn frames_before(&self, n: usize) -> usize {
        if !self.framed {
            return 0;
        }
        (n.saturating_sub(self.header_len) / REGULAR_FRAME_LEN).min(REGULAR_FRAMES)
    }
}

/// Counts by (message label, mode, kind, region).
type Counts = BTreeMap<(String, Mode, Kind, Region), usize>;

fn typed(e: &esdk::Error) -> bool {
    !matches!(e, esdk::Error::Io(_) | esdk::Error::ApiMisuse(_))
}

fn chunking() -> Chunking {
    Chunking {
        input: Plan::sizes(vec![1, 64, 13, 200]),
        output: Plan::sizes(vec![64, 5, 200]),
    }
}

/// Runs every mutation of `m` through `mode`, checking each; returns the counts.
fn campaign(m: &Message, mode: Mode, counts: &mut Counts) {
    let options = mode.options();
    let chunking = chunking();
    let run = |bytes: &[u8], what: &dyn Fn() -> String| {
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            block_on(drive::decrypt(
                mode.how, &m.client, &m.source, bytes, &options, &chunking,
            ))
        }))
        .unwrap_or_else(|_| panic!("{}: panicked", what()))
    };
    // The message itself decrypts, in full.
    let whole = run(&m.ciphertext, &|| format!("{:?} {mode:?} intact", m.suite));
    assert!(
        whole.result.is_ok(),
        "{:?} {mode:?}: intact message: {:?}",
        m.suite,
        whole.result
    );
    assert_eq!(whole.released, m.plaintext, "{:?} {mode:?} intact", m.suite);

    let len = m.ciphertext.len();
    let mut bad = m.ciphertext.clone();
    for at in 0..len {
        let region = m.region(at);
        for bit in 0..8 {
            bad[at] ^= 1 << bit;
            let what = || format!("{:?} {mode:?}: bit {bit} of byte {at}/{len}", m.suite);
            let out = run(&bad, &what);
            bad[at] ^= 1 << bit;
            let err = out.result.as_ref().err().unwrap_or_else(|| {
                panic!("{}: accepted ({} bytes out)", what(), out.released.len())
            });
            assert!(typed(err), "{}: untyped error {err:?}", what());
            let expected = if mode.streams() {
                FRAME * m.frames_before(at)
            } else {
                0
            };
            assert_eq!(
                out.released,
                m.plaintext[..expected],
                "{}: released {} bytes, expected {expected}",
                what(),
                out.released.len()
            );
            *counts
                .entry((m.label(), mode, Kind::BitFlip, region))
                .or_default() += 1;
        }
        let cut = at;
        let what = || format!("{:?} {mode:?}: cut at {cut}/{len}", m.suite);
        let out = run(&m.ciphertext[..cut], &what);
        let err = out
            .result
            .as_ref()
            .err()
            .unwrap_or_else(|| panic!("{}: accepted", what()));
        assert!(err.is_truncation(), "{}: {err:?}", what());
        let expected = if mode.streams() {
            FRAME * m.frames_before(cut)
        } else {
            0
        };
        assert_eq!(
            out.released,
            m.plaintext[..expected],
            "{}: released {} bytes, expected {expected}",
            what(),
            out.released.len()
        );
        *counts
            .entry((m.label(), mode, Kind::Truncation, region))
            .or_default() += 1;
    }
}

#[test]
fn every_bit_flip_and_truncation_fails_typed_in_every_adapter() {
    let suites = AlgorithmSuite::ALL;
    let mut messages: Vec<Message> = suites.iter().map(|&s| Message::new(s)).collect();
    for id in NON_FRAMED {
        messages.push(Message::non_framed(
            AlgorithmSuite::from_id(id).expect("suite"),
        ));
    }
    let jobs: Vec<(usize, Mode)> = (0..messages.len())
        .flat_map(|i| modes().into_iter().map(move |mode| (i, mode)))
        .collect();
    let next = Mutex::new(0usize);
    let counts = Mutex::new(Counts::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let job = {
                        let mut n = next.lock().unwrap();
                        let job = jobs.get(*n).copied();
                        *n += 1;
                        job
                    };
                    let Some((i, mode)) = job else { break };
                    let mut mine = Counts::new();
                    campaign(&messages[i], mode, &mut mine);
                    let mut all = counts.lock().unwrap();
                    for (k, v) in mine {
                        *all.entry(k).or_default() += v;
                    }
                }
            });
        }
    });
    let counts = counts.into_inner().unwrap();

    // The counts the sizes imply: 8 flips and 1 truncation per byte, per region, per mode.
    let modes = modes();
    let mut total = 0;
    eprintln!(
        "message            header  body  footer  mutations/adapter  (bit flips + truncations)"
    );
    for m in &messages {
        let label = m.label();
        let sizes = [
            (Region::Header, m.header_len),
            (Region::Body, m.body_len),
            (Region::Footer, m.footer_len()),
        ];
        let per_mode: usize = sizes.iter().map(|(_, n)| 9 * n).sum();
        for &mode in &modes {
            for (region, n) in sizes {
                for (kind, per_byte) in [(Kind::BitFlip, 8), (Kind::Truncation, 1)] {
                    let got = counts
                        .get(&(label.clone(), mode, kind, region))
                        .copied()
                        .unwrap_or(0);
                    assert_eq!(got, per_byte * n, "{label} {mode:?} {kind:?} {region:?}");
                }
            }
        }
        eprintln!(
            "{label:<18} {:>6}  {:>4}  {:>6}  {per_mode:>17}",
            m.header_len,
            m.body_len,
            m.footer_len(),
        );
        total += per_mode * modes.len();
    }
    let counted: usize = counts.values().sum();
    assert_eq!(counted, total);
    let by_mode = |mode: Mode| -> usize {
        counts
            .iter()
            .filter(|((_, m, _, _), _)| *m == mode)
            .map(|(_, v)| v)
            .sum()
    };
    for &mode in &modes {
        eprintln!(
            "{:<8} {:<9} {:>7} mutations",
            format!("{:?}", mode.how),
            if mode.verified {
                "verified"
            } else {
                "streaming"
            },
            by_mode(mode)
        );
    }
    let flips: usize = counts
        .iter()
        .filter(|((_, _, k, _), _)| *k == Kind::BitFlip)
        .map(|(_, v)| v)
        .sum();
    eprintln!(
        "total: {total} mutated decryptions ({flips} bit flips, {} truncations) of {} messages \
         (11 suites framed, {} non-framed) in {} adapter modes, every one a typed error",
        total - flips,
        messages.len(),
        NON_FRAMED.len(),
        modes.len()
    );
    assert_eq!(messages.len(), 11 + NON_FRAMED.len());
    assert!(
        total >= messages.len() * modes.len() * 9 * 200,
        "fewer mutations than messages of at least 200 bytes imply"
    );
}
