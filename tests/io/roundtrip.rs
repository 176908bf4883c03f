//! Property tests: for random plaintext sizes, frame lengths and chunk splits (with `Pending`
//! between every I/O call), every encrypting adapter produces a message the one-shot call
//! decrypts to the same plaintext, and every decrypting adapter (streaming and fully verified,
//! spilling or not) returns the one-shot plaintext of a one-shot message.

use esdk::io::{DecryptOptions, Release};
use esdk::{AlgorithmSuite, Client, EncryptOptions, FrameLength, MaterialsSource, RawAesKeyring};
use proptest::prelude::*;

use crate::drive::{self, Chunking, Dec, Enc};
use crate::mock::{Plan, block_on};

fn source() -> MaterialsSource {
    MaterialsSource::from(RawAesKeyring::new("ns", "prop", &[3u8; 32]).expect("keyring"))
}

fn suite(signed: bool) -> AlgorithmSuite {
    AlgorithmSuite::from_id(if signed { 0x0578 } else { 0x0478 }).expect("suite")
}

fn plaintext(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn chunking(input: Vec<usize>, output: Vec<usize>) -> Chunking {
    Chunking {
        input: Plan::sizes(input),
        output: Plan::sizes(output),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn encrypting_adapters_round_trip(
        len in 0usize..6000,
        frame in 1u32..700,
        signed in any::<bool>(),
        seed in any::<u8>(),
        input in prop::collection::vec(1usize..900, 1..6),
        output in prop::collection::vec(1usize..900, 1..6),
    ) {
        let client = Client::new();
        let source = source();
        let pt = plaintext(len, seed);
        let options = EncryptOptions::new().algorithm_suite(suite(signed)).frame_length(FrameLength::new(frame).expect("non-zero")).encryption_context([("purpose", "proptest")]);
        let chunks = chunking(input, output);
        for how in Enc::ALL {
            let ct = block_on(drive::encrypt(how, &client, &source, &pt, &options, &chunks)).expect("encrypts");
            let back = block_on(drive::decrypt(Dec::OneShot, &client, &source, &ct, &DecryptOptions::new(), &chunks));
            prop_assert!(back.result.is_ok(), "{:?}: {:?}", how, back.result);
            prop_assert_eq!(&back.released, &pt, "{:?}", how);
        }
    }

    #[test]
    fn decrypting_adapters_match_one_shot(
        len in 0usize..6000,
        frame in 1u32..700,
        signed in any::<bool>(),
        seed in any::<u8>(),
        input in prop::collection::vec(1usize..900, 1..6),
        output in prop::collection::vec(1usize..900, 1..6),
        memory_limit in 0usize..8000,
    ) {
        let client = Client::new();
        let source = source();
        let pt = plaintext(len, seed);
        let options = EncryptOptions::new().algorithm_suite(suite(signed)).frame_length(FrameLength::new(frame).expect("non-zero"));
        let chunks = chunking(input, output);
        let ct = block_on(drive::encrypt(Enc::OneShot, &client, &source, &pt, &options, &chunks)).expect("encrypts");
        let reference = block_on(drive::decrypt(Dec::OneShot, &client, &source, &ct, &DecryptOptions::new(), &chunks));
        prop_assert!(reference.result.is_ok());
        prop_assert_eq!(&reference.released, &pt);
        for how in Dec::ALL {
            let mut modes = vec![DecryptOptions::new()];
            if how != Dec::OneShot {
                // The codec cannot spill: give it room for the whole plaintext.
                let limit = if how == Dec::Codec { len } else { memory_limit };
                modes.push(DecryptOptions::new().release(Release::verified(limit)));
            }
            for opts in modes {
                let out = block_on(drive::decrypt(how, &client, &source, &ct, &opts, &chunks));
                prop_assert!(out.result.is_ok(), "{:?} {:?}: {:?}", how, opts, out.result);
                prop_assert_eq!(&out.released, &reference.released, "{:?} {:?}", how, opts);
            }
        }
    }
}
