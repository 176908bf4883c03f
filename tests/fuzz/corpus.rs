//! The fuzz targets' seed corpus (`tests/fuzz/corpus/<target>/`), made by our own code with the
//! fixed fuzz key, and a check that every committed seed is what its target expects.
//!
//! Regenerate (rarely needed; message IDs and IVs are random, so every file changes):
//! `cargo test --test fuzz_corpus -- --ignored write_seed_corpus`.

#[allow(dead_code)]
#[path = "src/lib.rs"]
mod fuzz;

use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use esdk::AlgorithmSuite;

const TARGETS: [&str; 4] = ["header", "decrypt", "stream_splits", "round_trip"];
const CONTEXT: &[(&str, &str)] = &[("purpose", "fuzz seed"), ("tenant", "\u{e9}t\u{e9}")];

fn dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(target)
}

fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 13 + 5) as u8).collect()
}

/// A `round_trip` seed: frame length, context, encrypt and decrypt chunk specs, plaintext length.
type RoundTripSeed = (
    u16,
    &'static [(&'static str, &'static str)],
    &'static [u8],
    &'static [u8],
    usize,
);

/// (name, frame length, context, plaintext length) of the messages made for every suite.
const SHAPES: &[(&str, u32, bool, usize)] = &[
    ("empty", 16, true, 0),
    ("frames", 16, true, 50),
    ("exact", 16, false, 32),
    ("one-frame", 64, false, 33),
];

/// Suites of the hand-built non-framed seeds: no KDF (v1), HKDF (v1), key commitment (v2).
/// (`esdk` writes only framed messages; the non-framed body must still be fuzzed.)
const NON_FRAMED: [u16; 3] = [0x0014, 0x0178, 0x0478];
/// The plaintext length of the non-framed seeds.
const NON_FRAMED_LEN: usize = 45;

fn header_len(message: &[u8]) -> usize {
    let mut d = fuzz::decrypt_client().header_decoder(esdk::io::Release::Streaming);
    let mut buf = BytesMut::from(message);
    match d.decode(&mut buf) {
        Ok(Some(parsed)) => parsed.header_len(),
        other => panic!("no header: {other:?}"),
    }
}

#[test]
#[ignore = "writes tests/fuzz/corpus; run by hand to regenerate the seeds"]
fn write_seed_corpus() {
    for t in TARGETS {
        let d = dir(t);
        if d.exists() {
            std::fs::remove_dir_all(&d).unwrap();
        }
        std::fs::create_dir_all(&d).unwrap();
    }
    let write = |t: &str, name: String, bytes: &[u8]| {
        std::fs::write(dir(t).join(name), bytes).unwrap();
    };
    for (i, suite) in AlgorithmSuite::ALL.into_iter().enumerate() {
        let id = suite.id();
        for &(shape, frame, with_context, len) in SHAPES {
            let context = if with_context { CONTEXT } else { &[] };
            let msg = fuzz::message(suite, frame, context, &plaintext(len));
            write("decrypt", format!("{id:04x}-{shape}"), &msg);
            if shape == "frames" || shape == "exact" {
                write(
                    "header",
                    format!("{id:04x}-{shape}"),
                    &msg[..header_len(&msg)],
                );
            }
            let spec: &[u8] = match shape {
                "empty" => &[],
                "frames" => &[1],
                "exact" => &[7, 0xF0, 3],
                _ => &[100, 0, 25],
            };
            write(
                "stream_splits",
                format!("{id:04x}-{shape}"),
                &fuzz::encode_split_input(spec, &msg),
            );
        }
        if NON_FRAMED.contains(&id) {
            let msg = fuzz::non_framed_message(suite, CONTEXT, &plaintext(NON_FRAMED_LEN));
            write("decrypt", format!("{id:04x}-non-framed"), &msg);
            write(
                "header",
                format!("{id:04x}-non-framed"),
                &msg[..header_len(&msg)],
            );
            write(
                "stream_splits",
                format!("{id:04x}-non-framed"),
                &fuzz::encode_split_input(&[9, 0xF0], &msg),
            );
        }
        let seeds: [RoundTripSeed; 3] = [
            (16, CONTEXT, &[1], &[], 50),
            (1, &[], &[], &[3, 1], 5),
            (4096, &[("k", "v")], &[0xF1], &[0xF0, 9], 5000),
        ];
        for (j, (frame, context, espec, dspec, len)) in seeds.into_iter().enumerate() {
            let seed =
                fuzz::RoundTrip::encode(i as u8, frame, context, espec, dspec, &plaintext(len));
            write("round_trip", format!("{id:04x}-{j}"), &seed);
        }
    }
}

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir(target))
        .unwrap_or_else(|e| panic!("{target}: {e}"))
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn suite_of(name: &str) -> AlgorithmSuite {
    AlgorithmSuite::from_id(u16::from_str_radix(&name[..4], 16).unwrap()).unwrap()
}

#[test]
fn committed_seeds_are_what_each_target_expects() {
    let client = fuzz::decrypt_client();
    let mut counts = Vec::new();
    // decrypt: whole valid messages of every suite, decrypting to the generator's plaintext.
    let decrypt = seeds("decrypt");
    for (name, msg) in &decrypt {
        let len = SHAPES
            .iter()
            .find(|s| name.ends_with(s.0))
            .map_or(NON_FRAMED_LEN, |s| s.3);
        let run = fuzz::core_decrypt(&client, &[Bytes::copy_from_slice(msg)], false);
        assert!(run.result.is_ok(), "{name}: {:?}", run.result);
        assert_eq!(run.plaintext(), plaintext(len), "{name}");
        let h = run.header.unwrap();
        assert_eq!(h.algorithm_suite(), suite_of(name), "{name}");
        let framed = h.content_type() == esdk::ContentType::Framed;
        assert_eq!(framed, !name.ends_with("non-framed"), "{name}");
    }
    counts.push(("decrypt", decrypt.len()));
    // header: exactly a header, nothing more.
    let header = seeds("header");
    for (name, h) in &header {
        assert_eq!(header_len(h), h.len(), "{name}");
    }
    counts.push(("header", header.len()));
    // stream_splits: a chunk spec, then a valid message.
    let splits = seeds("stream_splits");
    for (name, data) in &splits {
        let (sizes, msg) = fuzz::decode_split_input(data);
        let run = fuzz::core_decrypt(&client, &fuzz::split(msg, &sizes), false);
        assert!(run.result.is_ok(), "{name}: {:?}", run.result);
    }
    counts.push(("stream_splits", splits.len()));
    // round_trip: parameters of every suite that encrypt and decrypt.
    let round = seeds("round_trip");
    for (name, data) in &round {
        let p = fuzz::RoundTrip::decode(data);
        assert_eq!(p.suite, suite_of(name), "{name}");
        let ct = p.encrypt().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            fuzz::one_shot_decrypt(&client, &ct).unwrap(),
            p.plaintext,
            "{name}"
        );
    }
    counts.push(("round_trip", round.len()));
    eprintln!("seeds checked: {counts:?}");
    let n = AlgorithmSuite::ALL.len();
    assert_eq!(
        counts,
        [
            ("decrypt", n * SHAPES.len() + NON_FRAMED.len()),
            ("header", n * 2 + NON_FRAMED.len()),
            ("stream_splits", n * SHAPES.len() + NON_FRAMED.len()),
            ("round_trip", n * 3)
        ]
    );
}
