//! No key material in `Debug` or `Display` output: keyrings, materials, data keys, signing keys,
//! branch keys and errors are formatted and searched for the secret bytes, in hex, decimal-list
//! and base64 forms.

use base64::Engine as _;
use esdk::{
    AlgorithmSuite, BranchKeyMaterials, Client, DataKey, DecryptionMaterials, EncryptionContext,
    EncryptionMaterials, Keyring, MaterialsSource, RawAesKeyring,
};
use futures::executor::block_on;

const SECRET: [u8; 32] = [
    0xC3, 0x5A, 0x9E, 0x11, 0x7D, 0xE2, 0x48, 0xB6, 0x0F, 0x93, 0x2C, 0xD4, 0x61, 0xAB, 0x87, 0x3E,
    0xF0, 0x19, 0x56, 0xCA, 0x24, 0x8D, 0xBE, 0x73, 0x0A, 0xE9, 0x35, 0x6C, 0x92, 0x4F, 0xD1, 0x27,
];

/// Forms in which key bytes could leak into text.
fn leaks(bytes: &[u8]) -> Vec<String> {
    let window = &bytes[..8];
    vec![
        window
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        window
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<String>(),
        window
            .iter()
            .map(|b| b.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        base64::engine::general_purpose::STANDARD.encode(bytes)[..10].to_owned(),
    ]
}

fn assert_clean(what: &str, text: &str, secret: &[u8]) {
    for needle in leaks(secret) {
        assert!(
            !text.contains(&needle),
            "{what} leaks key bytes ({needle}) in: {text}"
        );
    }
}

#[test]
fn the_detector_sees_a_leak() {
    let plain = format!("{:?}", SECRET.to_vec());
    assert!(std::panic::catch_unwind(|| assert_clean("Vec<u8>", &plain, &SECRET)).is_err());
    let hex: String = SECRET.iter().map(|b| format!("{b:02x}")).collect();
    assert!(std::panic::catch_unwind(|| assert_clean("hex", &hex, &SECRET)).is_err());
}

#[test]
fn keys_never_appear_in_debug_or_display() {
    let keyring = RawAesKeyring::new("ns", "name", &SECRET).unwrap();
    assert_clean("RawAesKeyring", &format!("{keyring:?}"), &SECRET);

    let data_key = DataKey::from_slice(&SECRET);
    assert_clean("DataKey", &format!("{data_key:?}"), &SECRET);

    let suite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384;
    let mut enc = EncryptionMaterials::new(suite, EncryptionContext::new(), vec![], None);
    enc.set_data_key(DataKey::from_slice(&SECRET)).unwrap();
    assert_clean("EncryptionMaterials", &format!("{enc:?}"), &SECRET);
    let mut dec = DecryptionMaterials::new(suite, EncryptionContext::new(), vec![], None);
    dec.set_data_key(DataKey::from_slice(&SECRET)).unwrap();
    assert_clean("DecryptionMaterials", &format!("{dec:?}"), &SECRET);

    let branch =
        BranchKeyMaterials::new("branch", "3b1c2e4a-5d6f-4a8b-9c0d-1e2f3a4b5c6d", &SECRET).unwrap();
    assert_clean("BranchKeyMaterials", &format!("{branch:?}"), &SECRET);

    // A signing key made for a real message, and the materials that carry it.
    let cmm = esdk::DefaultCmm::new(std::sync::Arc::new(
        RawAesKeyring::new("ns", "name", &SECRET).unwrap(),
    ));
    let request = esdk::cmm::EncryptionMaterialsRequest::new(
        EncryptionContext::new(),
        esdk::CommitmentPolicy::REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
    );
    let materials =
        block_on(esdk::CryptographicMaterialsManager::get_encryption_materials(&cmm, request))
            .unwrap();
    let signing = materials.signing_key().unwrap().expose().to_vec();
    let data = materials.data_key().unwrap().expose().to_vec();
    for (what, secret) in [("signing key", &signing), ("data key", &data)] {
        assert_clean(what, &format!("{materials:?}"), secret);
        assert_clean(
            what,
            &format!("{:?}", materials.signing_key().unwrap()),
            secret,
        );
    }

    // Errors from a failed decryption with the wrong key, and from a tampered message.
    let client = Client::new();
    let keys = MaterialsSource::from(keyring);
    let ct = block_on(client.encrypt(&keys, b"secret text").into_future())
        .unwrap()
        .ciphertext;
    let other = RawAesKeyring::new("ns", "name", &[0x11; 32]).unwrap();
    let err = block_on(client.decrypt(other, &ct).into_future()).unwrap_err();
    assert_clean("wrong-key error", &format!("{err} {err:?}"), &SECRET);
    let mut bad = ct.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let err = block_on(client.decrypt(&keys, &bad).into_future()).unwrap_err();
    assert_clean("tampered-message error", &format!("{err} {err:?}"), &SECRET);

    // Keyring calls that fail keep the key out of their errors too.
    let m = DecryptionMaterials::new(suite, EncryptionContext::new(), vec![], None);
    let keyring = RawAesKeyring::new("ns", "name", &SECRET).unwrap();
    let err = block_on(keyring.on_decrypt(m, &[])).unwrap_err();
    assert_clean("keyring error", &format!("{err} {err:?}"), &SECRET);
}
