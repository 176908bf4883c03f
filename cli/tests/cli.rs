//! The `esdk` command-line tool, run as a separate process: round trips through files, folders
//! and pipes; every failure path exits non-zero with a clear message and leaves no output;
//! interoperability with the Python reference SDK in both directions.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine as _;

const EXE: &str = env!("CARGO_BIN_EXE_esdk");

fn esdk(dir: &Path, args: &[&str]) -> Output {
    esdk_stdin(dir, args, None)
}

fn esdk_stdin(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(EXE)
        .args(args)
        .current_dir(dir)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run esdk");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        let input = input.to_vec();
        // A writer thread, so a large input cannot deadlock against a full stdout pipe.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    child.wait_with_output().expect("wait for esdk")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "esdk failed ({:?}): {}",
        o.status.code(),
        stderr(o)
    );
}

/// Asserts exit `code`, a message containing `needle`, and nothing but `expected` files in `dir`
/// (no output, no leftover temporary file).
#[track_caller]
fn fails(o: &Output, code: i32, needle: &str, dir: &Path, expected: &[&str]) {
    assert_eq!(o.status.code(), Some(code), "stderr: {}", stderr(o));
    let err = stderr(o);
    assert!(err.starts_with("esdk: error: ") || code == 2, "{err}");
    assert!(err.contains(needle), "expected {needle:?} in {err:?}");
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(names, want, "files left in {}", dir.display());
}

/// A work folder with a fresh key `k.key` and a 100 kB (25 frames) plaintext `p.bin`.
fn setup() -> (tempfile::TempDir, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    ok(&esdk(dir.path(), &["keygen", "--output", "k.key"]));
    let plaintext: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    fs::write(dir.path().join("p.bin"), &plaintext).unwrap();
    (dir, plaintext)
}

#[test]
fn keygen_writes_32_private_bytes_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    ok(&esdk(dir.path(), &["keygen", "--output", "a.key"]));
    ok(&esdk(dir.path(), &["keygen", "--output", "b.key"]));
    let a = fs::read(dir.path().join("a.key")).unwrap();
    let b = fs::read(dir.path().join("b.key")).unwrap();
    assert_eq!(a.len(), 32);
    assert_ne!(a, b, "two keys must differ");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.path().join("a.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let o = esdk(dir.path(), &["keygen", "--output", "a.key"]);
    fails(&o, 2, "already exists", dir.path(), &["a.key", "b.key"]);
    assert_eq!(
        fs::read(dir.path().join("a.key")).unwrap(),
        a,
        "key unchanged"
    );
}

#[test]
fn file_round_trip_with_context_and_metadata() {
    let (dir, plaintext) = setup();
    let d = dir.path();
    ok(&esdk(
        d,
        &[
            "encrypt",
            "-w",
            "key=aes:k.key",
            "-i",
            "p.bin",
            "-o",
            "c.bin",
            "-c",
            "tenant=a",
            "-c",
            "purpose=test",
            "--frame-length",
            "1000",
            "--metadata-output",
            "enc.jsonl",
        ],
    ));
    let ct = fs::read(d.join("c.bin")).unwrap();
    assert_ne!(ct, plaintext);
    assert_eq!(ct[0], 2, "the default suite writes message format v2");
    ok(&esdk(
        d,
        &[
            "decrypt",
            "-w",
            "key=aes:k.key",
            "-i",
            "c.bin",
            "-o",
            "out.bin",
            "-c",
            "tenant=a",
            "--metadata-output",
            "dec.jsonl",
        ],
    ));
    assert_eq!(fs::read(d.join("out.bin")).unwrap(), plaintext);

    let enc: serde_json::Value =
        serde_json::from_str(fs::read_to_string(d.join("enc.jsonl")).unwrap().trim()).unwrap();
    assert_eq!(enc["mode"], "encrypt");
    // Absolute paths, as the official CLI writes them.
    assert_eq!(enc["input"], d.join("p.bin").to_str().unwrap());
    assert_eq!(enc["output"], d.join("c.bin").to_str().unwrap());
    assert_eq!(enc["algorithm_suite_id"], "0x0578");
    assert_eq!(enc["frame_length"], 1000);
    assert_eq!(enc["bytes_in"], plaintext.len() as u64);
    assert_eq!(enc["bytes_out"], ct.len() as u64);
    assert_eq!(enc["encryption_context"]["tenant"], "a");
    assert_eq!(enc["encryption_context"]["purpose"], "test");
    assert_eq!(enc["encrypted_data_keys"][0]["provider_id"], "esdk");
    let dec: serde_json::Value =
        serde_json::from_str(fs::read_to_string(d.join("dec.jsonl")).unwrap().trim()).unwrap();
    assert_eq!(dec["mode"], "decrypt");
    assert_eq!(dec["bytes_in"], ct.len() as u64);
    assert_eq!(dec["bytes_out"], plaintext.len() as u64);
    assert_eq!(dec["message_id"], enc["message_id"]);
    assert_eq!(dec["encryption_context"], enc["encryption_context"]);
}

#[test]
fn pipes_round_trip_and_buffered_decryption() {
    let (dir, plaintext) = setup();
    let d = dir.path();
    let enc = esdk_stdin(
        d,
        &["encrypt", "-w", "key=aes:k.key", "-i", "-", "-o", "-"],
        Some(&plaintext),
    );
    ok(&enc);
    for extra in [&[][..], &["--buffer"][..]] {
        let mut args = vec!["decrypt", "-w", "key=aes:k.key", "-i", "-", "-o", "-"];
        args.extend_from_slice(extra);
        let dec = esdk_stdin(d, &args, Some(&enc.stdout));
        ok(&dec);
        assert_eq!(dec.stdout, plaintext, "{extra:?}");
    }
    // Standard input to a file, a file to standard output.
    let o = esdk_stdin(
        d,
        &[
            "decrypt",
            "-w",
            "key=aes:k.key",
            "-i",
            "-",
            "-o",
            "from-pipe",
        ],
        Some(&enc.stdout),
    );
    ok(&o);
    assert_eq!(fs::read(d.join("from-pipe")).unwrap(), plaintext);
    fs::write(d.join("c"), &enc.stdout).unwrap();
    let o = esdk(d, &["decrypt", "-w", "key=aes:k.key", "-i", "c", "-o", "-"]);
    ok(&o);
    assert_eq!(o.stdout, plaintext);
}

#[test]
fn folder_round_trip_keeps_the_tree() {
    let (dir, _) = setup();
    let d = dir.path();
    let files = [
        ("tree/a.txt", b"alpha".to_vec()),
        ("tree/empty", Vec::new()),
        ("tree/sub/b.bin", vec![0xAB; 9000]),
        ("tree/sub/deeper/c", b"gamma".to_vec()),
    ];
    for (p, data) in &files {
        let p = d.join(p);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    }
    ok(&esdk(
        d,
        &[
            "encrypt",
            "-w",
            "key=aes:k.key",
            "-i",
            "tree",
            "-o",
            "enc",
            "--metadata-output",
            "m",
        ],
    ));
    for (p, _) in &files {
        let e = d.join(p.replacen("tree", "enc", 1) + ".encrypted");
        assert!(e.is_file(), "{} missing", e.display());
    }
    assert_eq!(fs::read_to_string(d.join("m")).unwrap().lines().count(), 4);
    ok(&esdk(
        d,
        &["decrypt", "-w", "key=aes:k.key", "-i", "enc", "-o", "dec"],
    ));
    for (p, data) in &files {
        let back = fs::read(d.join(p.replacen("tree", "dec", 1))).unwrap();
        assert_eq!(&back, data, "{p}");
    }
    // A folder output inside the input folder is refused.
    let o = esdk(
        d,
        &[
            "encrypt",
            "-w",
            "key=aes:k.key",
            "-i",
            "tree",
            "-o",
            "tree/x",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("inside the input folder"));
}

#[test]
fn a_file_into_an_existing_folder_gets_the_suffix() {
    let (dir, plaintext) = setup();
    let d = dir.path();
    fs::create_dir(d.join("out")).unwrap();
    ok(&esdk(
        d,
        &["encrypt", "-w", "key=aes:k.key", "-i", "p.bin", "-o", "out"],
    ));
    assert!(d.join("out/p.bin.encrypted").is_file());
    fs::create_dir(d.join("back")).unwrap();
    ok(&esdk(
        d,
        &[
            "decrypt",
            "-w",
            "key=aes:k.key",
            "-i",
            "out/p.bin.encrypted",
            "-o",
            "back",
        ],
    ));
    assert_eq!(fs::read(d.join("back/p.bin")).unwrap(), plaintext);
}

#[test]
fn outputs_are_never_overwritten_unless_asked() {
    let (dir, _) = setup();
    let d = dir.path();
    fs::write(d.join("c"), b"precious").unwrap();
    let o = esdk(
        d,
        &["encrypt", "-w", "key=aes:k.key", "-i", "p.bin", "-o", "c"],
    );
    fails(
        &o,
        2,
        "exists; pass --overwrite",
        d,
        &["k.key", "p.bin", "c"],
    );
    assert_eq!(fs::read(d.join("c")).unwrap(), b"precious");
    ok(&esdk(
        d,
        &[
            "encrypt",
            "-w",
            "key=aes:k.key",
            "-i",
            "p.bin",
            "-o",
            "c",
            "--overwrite",
        ],
    ));
    assert_ne!(fs::read(d.join("c")).unwrap(), b"precious");
    // Even with --overwrite, the input is never its own output.
    let o = esdk(
        d,
        &[
            "encrypt",
            "-w",
            "key=aes:k.key",
            "-i",
            "p.bin",
            "-o",
            "p.bin",
            "--overwrite",
        ],
    );
    fails(
        &o,
        2,
        "the output is the input itself",
        d,
        &["k.key", "p.bin", "c"],
    );
    // Nor is a hard link to it (the same file under another name).
    #[cfg(unix)]
    {
        fs::hard_link(d.join("p.bin"), d.join("h")).unwrap();
        let o = esdk(
            d,
            &[
                "encrypt",
                "-w",
                "key=aes:k.key",
                "-i",
                "p.bin",
                "-o",
                "h",
                "--overwrite",
            ],
        );
        fails(
            &o,
            2,
            "the output is the input itself",
            d,
            &["k.key", "p.bin", "c", "h"],
        );
    }
}

/// Encrypts `p.bin` to `c` in `d`.
fn encrypt_to_c(d: &Path, extra: &[&str]) -> Vec<u8> {
    let mut args = vec!["encrypt", "-w", "key=aes:k.key", "-i", "p.bin", "-o", "c"];
    args.extend_from_slice(extra);
    ok(&esdk(d, &args));
    fs::read(d.join("c")).unwrap()
}

/// `--threads`: a file of several 1 MiB batches, encrypted and decrypted on one thread (the
/// default), two, or every core, round-trips whatever the two sides used.
#[test]
fn threads_option_round_trips_multi_batch_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&esdk(d, &["keygen", "--output", "k.key"]));
    let plaintext: Vec<u8> = (0..(3 << 20) + 12_345u32)
        .map(|i| (i * 13 + i / 509) as u8)
        .collect();
    fs::write(d.join("p.bin"), &plaintext).unwrap();
    for (suite, enc, dec) in [
        ("0x0478", "2", "1"),
        ("0x0478", "1", "0"),
        ("0x0578", "0", "2"),
    ] {
        ok(&esdk(
            d,
            &[
                "encrypt",
                "-w",
                "key=aes:k.key",
                "-i",
                "p.bin",
                "-o",
                "c",
                "--overwrite",
                "--algorithm",
                suite,
                "--frame-length",
                "65536",
                "--threads",
                enc,
            ],
        ));
        ok(&esdk(
            d,
            &[
                "decrypt",
                "-w",
                "key=aes:k.key",
                "-i",
                "c",
                "-o",
                "out",
                "--overwrite",
                "--threads",
                dec,
            ],
        ));
        assert!(
            fs::read(d.join("out")).unwrap() == plaintext,
            "{suite} {enc} {dec}"
        );
    }
}

#[test]
fn wrong_key_fails_cleanly() {
    let (dir, _) = setup();
    let d = dir.path();
    encrypt_to_c(d, &[]);
    ok(&esdk(d, &["keygen", "--output", "other.key"]));
    let o = esdk(
        d,
        &["decrypt", "-w", "key=aes:other.key", "-i", "c", "-o", "out"],
    );
    fails(&o, 1, "keyring", d, &["k.key", "other.key", "p.bin", "c"]);
    // The right key under another name is the wrong key too.
    let o = esdk(
        d,
        &[
            "decrypt",
            "-w",
            "key=aes:k.key",
            "name=other",
            "-i",
            "c",
            "-o",
            "out",
        ],
    );
    fails(&o, 1, "keyring", d, &["k.key", "other.key", "p.bin", "c"]);
}

#[test]
fn tampered_messages_fail_and_leave_nothing() {
    let (dir, _) = setup();
    let d = dir.path();
    let ct = encrypt_to_c(d, &[]);
    // A flipped bit in the last frame: every frame before it authenticates and was streamed to
    // the temporary file, which must be removed.
    for (name, pos) in [
        ("head", 30),
        ("body", ct.len() / 2),
        ("end", ct.len() - 200),
    ] {
        let mut bad = ct.clone();
        bad[pos] ^= 0x01;
        fs::write(d.join("bad"), &bad).unwrap();
        for extra in [&[][..], &["--buffer"][..]] {
            let mut args = vec!["decrypt", "-w", "key=aes:k.key", "-i", "bad", "-o", "out"];
            args.extend_from_slice(extra);
            let o = esdk(d, &args);
            assert_eq!(o.status.code(), Some(1), "{name} {extra:?}: {}", stderr(&o));
            fails(&o, 1, "bad: ", d, &["k.key", "p.bin", "c", "bad"]);
        }
    }
    // Trailing bytes after a complete message.
    let mut long = ct.clone();
    long.push(0);
    fs::write(d.join("bad"), &long).unwrap();
    let o = esdk(
        d,
        &["decrypt", "-w", "key=aes:k.key", "-i", "bad", "-o", "out"],
    );
    fails(&o, 1, "bad: ", d, &["k.key", "p.bin", "c", "bad"]);
}

#[test]
fn truncated_messages_fail_and_leave_nothing() {
    let (dir, _) = setup();
    let d = dir.path();
    let ct = encrypt_to_c(d, &[]);
    for cut in [0, 10, 400, ct.len() / 2, ct.len() - 1] {
        fs::write(d.join("cut"), &ct[..cut]).unwrap();
        let o = esdk(
            d,
            &["decrypt", "-w", "key=aes:k.key", "-i", "cut", "-o", "out"],
        );
        assert_eq!(o.status.code(), Some(1), "cut {cut}: {}", stderr(&o));
        fails(&o, 1, "cut: ", d, &["k.key", "p.bin", "c", "cut"]);
    }
}

#[test]
fn encryption_context_must_match_on_decrypt() {
    let (dir, _) = setup();
    let d = dir.path();
    encrypt_to_c(d, &["-c", "tenant=a"]);
    let o = esdk(
        d,
        &[
            "decrypt",
            "-w",
            "key=aes:k.key",
            "-i",
            "c",
            "-o",
            "out",
            "-c",
            "tenant=b",
        ],
    );
    fails(&o, 1, "encryption context", d, &["k.key", "p.bin", "c"]);
    let o = esdk(
        d,
        &[
            "decrypt",
            "-w",
            "key=aes:k.key",
            "-i",
            "c",
            "-o",
            "out",
            "-c",
            "missing=x",
        ],
    );
    fails(&o, 1, "encryption context", d, &["k.key", "p.bin", "c"]);
}

#[test]
fn suites_policies_and_unsigned_only() {
    let (dir, plaintext) = setup();
    let d = dir.path();
    // Signed default suite: --unsigned-only refuses it before writing anything.
    encrypt_to_c(d, &[]);
    let o = esdk(
        d,
        &[
            "decrypt",
            "-w",
            "key=aes:k.key",
            "-i",
            "c",
            "-o",
            "out",
            "--unsigned-only",
        ],
    );
    fails(&o, 1, "", d, &["k.key", "p.bin", "c"]);
    // An unsigned committing suite passes.
    encrypt_to_c(
        d,
        &[
            "--algorithm",
            "AES_256_GCM_HKDF_SHA512_COMMIT_KEY",
            "--overwrite",
        ],
    );
    ok(&esdk(
        d,
        &[
            "decrypt",
            "-w",
            "key=aes:k.key",
            "-i",
            "c",
            "-o",
            "out",
            "--unsigned-only",
        ],
    ));
    assert_eq!(fs::read(d.join("out")).unwrap(), plaintext);
    fs::remove_file(d.join("out")).unwrap();
    // A non-committing suite needs the FORBID policy to encrypt and an ALLOW policy to decrypt.
    let o = esdk(
        d,
        &[
            "encrypt",
            "-w",
            "key=aes:k.key",
            "-i",
            "p.bin",
            "-o",
            "c2",
            "--algorithm",
            "0x0378",
        ],
    );
    fails(&o, 1, "policy", d, &["k.key", "p.bin", "c"]);
    encrypt_to_c(
        d,
        &[
            "--algorithm",
            "0x0378",
            "--commitment-policy",
            "FORBID_ENCRYPT_ALLOW_DECRYPT",
            "--overwrite",
        ],
    );
    assert_eq!(fs::read(d.join("c")).unwrap()[0], 1, "format v1");
    let o = esdk(
        d,
        &["decrypt", "-w", "key=aes:k.key", "-i", "c", "-o", "out"],
    );
    fails(&o, 1, "policy", d, &["k.key", "p.bin", "c"]);
    ok(&esdk(
        d,
        &[
            "decrypt",
            "-w",
            "key=aes:k.key",
            "-i",
            "c",
            "-o",
            "out",
            "--commitment-policy",
            "REQUIRE_ENCRYPT_ALLOW_DECRYPT",
        ],
    ));
    assert_eq!(fs::read(d.join("out")).unwrap(), plaintext);
}

#[test]
fn max_encrypted_data_keys_and_multi_keyrings() {
    let (dir, plaintext) = setup();
    let d = dir.path();
    ok(&esdk(d, &["keygen", "--output", "k2.key"]));
    ok(&esdk(
        d,
        &[
            "encrypt",
            "-w",
            "key=aes:k.key",
            "-w",
            "key=aes:k2.key",
            "name=second",
            "-i",
            "p.bin",
            "-o",
            "c",
        ],
    ));
    // Either key alone decrypts.
    ok(&esdk(
        d,
        &[
            "decrypt",
            "-w",
            "key=aes:k2.key",
            "name=second",
            "-i",
            "c",
            "-o",
            "o2",
        ],
    ));
    assert_eq!(fs::read(d.join("o2")).unwrap(), plaintext);
    ok(&esdk(
        d,
        &["decrypt", "-w", "key=aes:k.key", "-i", "c", "-o", "o1"],
    ));
    assert_eq!(fs::read(d.join("o1")).unwrap(), plaintext);
    let o = esdk(
        d,
        &[
            "decrypt",
            "-w",
            "key=aes:k.key",
            "-i",
            "c",
            "-o",
            "o3",
            "--max-encrypted-data-keys",
            "1",
        ],
    );
    fails(&o, 1, "", d, &["k.key", "k2.key", "p.bin", "c", "o1", "o2"]);
}

fn vector_keys() -> serde_json::Value {
    let text = fs::read_to_string(vectors_dir().join("keys.json")).expect("python vectors");
    serde_json::from_str(&text).unwrap()
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/python")
}

#[test]
fn rsa_round_trip_with_pem_files() {
    let (dir, plaintext) = setup();
    let d = dir.path();
    let keys = vector_keys();
    fs::write(
        d.join("pub.pem"),
        keys["keys"]["rsa-2048-public"]["material"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    fs::write(
        d.join("priv.pem"),
        keys["keys"]["rsa-2048-private"]["material"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(d.join("priv.pem"), fs::Permissions::from_mode(0o600)).unwrap();
    }
    for padding in ["pkcs1", "oaep-sha1", "oaep-sha256", "oaep-sha512"] {
        let pad = format!("padding={padding}");
        let o = esdk(
            d,
            &[
                "encrypt",
                "-w",
                "key=rsa-public:pub.pem",
                &pad,
                "-i",
                "p.bin",
                "-o",
                "c",
                "--overwrite",
            ],
        );
        ok(&o);
        let o = esdk(
            d,
            &[
                "decrypt",
                "-w",
                "key=rsa-private:priv.pem",
                &pad,
                "-i",
                "c",
                "-o",
                "-",
            ],
        );
        ok(&o);
        assert_eq!(o.stdout, plaintext, "{padding}");
    }
    // A different padding is a different key.
    let o = esdk(
        d,
        &[
            "decrypt",
            "-w",
            "key=rsa-private:priv.pem",
            "padding=oaep-sha256",
            "-i",
            "c",
            "-o",
            "out",
        ],
    );
    fails(
        &o,
        1,
        "keyring",
        d,
        &["k.key", "p.bin", "c", "pub.pem", "priv.pem"],
    );
}

#[test]
fn bad_arguments_exit_2_with_a_message() {
    let (dir, _) = setup();
    let d = dir.path();
    let base = ["k.key", "p.bin"];
    let cases: &[(&[&str], &str)] = &[
        (&["encrypt", "-i", "p.bin", "-o", "c"], "--wrapping-keys"),
        (
            &["encrypt", "-w", "key=aes:k.key", "-i", "p.bin"],
            "--output",
        ),
        (
            &[
                "encrypt",
                "-w",
                "key=aes:none.key",
                "-i",
                "p.bin",
                "-o",
                "c",
            ],
            "none.key",
        ),
        (
            &["encrypt", "-w", "key=aes:p.bin", "-i", "p.bin", "-o", "c"],
            "larger than 65536 bytes; not a key",
        ),
        (
            &["encrypt", "-w", "key=des:k.key", "-i", "p.bin", "-o", "c"],
            "unknown key kind",
        ),
        (
            &["encrypt", "-w", "colour=blue", "-i", "p.bin", "-o", "c"],
            "unknown setting",
        ),
        (
            &[
                "encrypt",
                "-w",
                "key=aes:k.key",
                "-i",
                "p.bin",
                "-o",
                "c",
                "-c",
                "nopair",
            ],
            "key=value",
        ),
        (
            &[
                "encrypt",
                "-w",
                "key=aes:k.key",
                "-i",
                "p.bin",
                "-o",
                "c",
                "--algorithm",
                "rot13",
            ],
            "unknown suite",
        ),
        (
            &[
                "encrypt",
                "-w",
                "key=aes:k.key",
                "-i",
                "p.bin",
                "-o",
                "c",
                "--frame-length",
                "0",
            ],
            "frame-length",
        ),
        (
            &[
                "decrypt",
                "-w",
                "key=aes:k.key",
                "-i",
                "p.bin",
                "-o",
                "c",
                "--buffer",
                "--unsigned-only",
            ],
            "cannot be used with",
        ),
        (
            &[
                "decrypt",
                "-w",
                "key=rsa-public:k.key",
                "-i",
                "p.bin",
                "-o",
                "c",
            ],
            "cannot decrypt",
        ),
        (
            &["encrypt", "-w", "discovery=true", "-i", "p.bin", "-o", "c"],
            "only works to decrypt",
        ),
        (&["frobnicate"], "unrecognized subcommand"),
    ];
    for (args, needle) in cases {
        let o = esdk(d, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        fails(&o, 2, needle, d, &base);
    }
    // A missing input is an I/O error (3).
    let o = esdk(
        d,
        &["encrypt", "-w", "key=aes:k.key", "-i", "nope", "-o", "c"],
    );
    fails(&o, 3, "nope", d, &base);
}

fn python() -> Option<PathBuf> {
    common::peers_python("interop of the CLI with the Python reference SDK").map(PathBuf::from)
}

#[test]
fn python_reference_sdk_decrypts_what_the_cli_encrypted() {
    let Some(python) = python() else { return };
    let (dir, plaintext) = setup();
    let d = dir.path();
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = fs::read(d.join("k.key")).unwrap();
    let vkeys = vector_keys();
    fs::write(
        d.join("pub.pem"),
        vkeys["keys"]["rsa-2048-public"]["material"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let man = d.join("manifest");
    fs::create_dir_all(man.join("ct")).unwrap();
    fs::write(man.join("p.bin"), &plaintext).unwrap();
    let cases: &[(&str, &[&str])] = &[
        (
            "aes-default",
            &["-w", "key=aes:k.key", "namespace=cli-ns", "name=cli-key"],
        ),
        (
            "aes-0478-ctx",
            &[
                "-w",
                "key=aes:k.key",
                "namespace=cli-ns",
                "name=cli-key",
                "--algorithm",
                "0x0478",
                "-c",
                "a=b",
                "--frame-length",
                "777",
            ],
        ),
        (
            "rsa-oaep-sha256",
            &[
                "-w",
                "key=rsa-public:pub.pem",
                "namespace=cli-ns",
                "name=rsa-2048",
                "padding=oaep-sha256",
            ],
        ),
    ];
    let mut tests = serde_json::Map::new();
    for (name, extra) in cases {
        let out = format!("manifest/ct/{name}");
        let mut args = vec!["encrypt", "-i", "p.bin", "-o", &out];
        args.extend_from_slice(extra);
        ok(&esdk(d, &args));
        let master_key = if name.starts_with("rsa") {
            serde_json::json!({"type": "raw", "encryption-algorithm": "rsa", "key": "rsa-private",
                "provider-id": "cli-ns", "padding-algorithm": "oaep-mgf1", "padding-hash": "sha256"})
        } else {
            serde_json::json!({"type": "raw", "encryption-algorithm": "aes", "key": "cli-aes",
                "provider-id": "cli-ns"})
        };
        tests.insert(
            name.to_string(),
            serde_json::json!({
                "ciphertext": format!("file://ct/{name}"),
                "master-keys": [master_key],
                "result": {"output": {"plaintext": "file://p.bin"}},
            }),
        );
    }
    let keys = serde_json::json!({
        "manifest": {"type": "keys", "version": 3},
        "keys": {
            "cli-aes": {"type": "symmetric", "algorithm": "aes", "bits": 256, "encoding": "base64",
                "material": b64.encode(&key), "key-id": "cli-key", "encrypt": true, "decrypt": true},
            "rsa-private": vkeys["keys"]["rsa-2048-private"],
        }
    });
    fs::write(man.join("keys.json"), keys.to_string()).unwrap();
    let manifest = serde_json::json!({
        "manifest": {"type": "awses-decrypt", "version": 2},
        "client": {"name": "esdk-cli", "version": env!("CARGO_PKG_VERSION")},
        "keys": "file://keys.json",
        "tests": tests,
    });
    fs::write(man.join("manifest.json"), manifest.to_string()).unwrap();
    let o = Command::new(&python)
        .arg("/work/shared/peers/decrypt_with_python.py")
        .arg(&man)
        .output()
        .expect("run python");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "python: {out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!("{} passed, 0 failed", cases.len())),
        "{out}"
    );
}

#[test]
fn cli_decrypts_what_the_python_reference_sdk_wrote() {
    let vectors = vectors_dir();
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(vectors.join("manifest.json")).unwrap()).unwrap();
    let keys = vector_keys();
    let b64 = base64::engine::general_purpose::STANDARD;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut suites = std::collections::BTreeSet::new();
    let mut checked = 0;
    let mut negatives = 0;
    for (name, test) in manifest["tests"].as_object().unwrap() {
        let mks = test["master-keys"].as_array().unwrap();
        if mks.len() != 1
            || mks[0]["encryption-algorithm"] != "aes"
            || test.get("decryption-method").is_some()
        {
            continue;
        }
        let key = &keys["keys"][mks[0]["key"].as_str().unwrap()];
        let key_bytes = b64.decode(key["material"].as_str().unwrap()).unwrap();
        fs::write(d.join("k"), &key_bytes).unwrap();
        let ns = format!("namespace={}", mks[0]["provider-id"].as_str().unwrap());
        let kn = format!("name={}", key["key-id"].as_str().unwrap());
        let uri = |v: &serde_json::Value| {
            vectors.join(v.as_str().unwrap().strip_prefix("file://").unwrap())
        };
        let ct = uri(&test["ciphertext"]);
        let ct = ct.to_str().unwrap();
        let args = [
            "decrypt",
            "-w",
            "key=aes:k",
            &ns,
            &kn,
            "-i",
            ct,
            "-o",
            "out",
            "--commitment-policy",
            "REQUIRE_ENCRYPT_ALLOW_DECRYPT",
            "--overwrite",
        ];
        if let Some(pt) = test["result"].get("output") {
            let suite = test["info"]["suite"].as_str().unwrap_or("?").to_owned();
            // One message per suite, plus every framing variant of the first few suites.
            if suites.contains(&suite) && checked > 40 {
                continue;
            }
            suites.insert(suite);
            let o = esdk(d, &args);
            ok(&o);
            let expected = fs::read(uri(&pt["plaintext"])).unwrap();
            assert_eq!(fs::read(d.join("out")).unwrap(), expected, "{name}");
            checked += 1;
        } else if name.starts_with("neg-") && negatives < 40 {
            let _ = fs::remove_file(d.join("out"));
            let o = esdk(d, &args);
            assert_eq!(o.status.code(), Some(1), "{name}: {}", stderr(&o));
            assert!(!d.join("out").exists(), "{name} left an output");
            negatives += 1;
        }
    }
    eprintln!(
        "{checked} Python messages decrypted ({} suites), {negatives} negative vectors refused",
        suites.len()
    );
    assert!(suites.len() >= 8, "suites seen: {suites:?}");
    assert!(negatives >= 10);
}

/// AWS KMS keys through the CLI against a local moto server (`ESDK_KMS_ENDPOINT`, started by
/// `.ci/kms.sh`): a two-key multi-keyring, either key alone, discovery with an account filter.
#[cfg(feature = "kms")]
#[test]
fn kms_keys_multi_keyring_and_discovery() {
    let Some(endpoint) = common::endpoint("ESDK_KMS_ENDPOINT", "the CLI's KMS test") else {
        return;
    };
    let region = "us-west-2";
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let kms = common::kms_sdk_client(&endpoint, region);
    let arns: Vec<String> = (0..2)
        .map(|i| {
            runtime
                .block_on(kms.create_key().description(format!("esdk cli {i}")).send())
                .expect("CreateKey")
                .key_metadata()
                .and_then(|m| m.arn())
                .expect("ARN")
                .to_owned()
        })
        .collect();
    let account = arns[0].split(':').nth(4).unwrap().to_owned();

    let (dir, plaintext) = setup();
    let d = dir.path();
    let run = |args: &[&str]| {
        Command::new(EXE)
            .args(args)
            .args(["--kms-endpoint", &endpoint])
            .current_dir(d)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", region)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let k0 = format!("key=kms:{}", arns[0]);
    let k1 = format!("key=kms:{}", arns[1]);
    ok(&run(&[
        "encrypt",
        "-w",
        &k0,
        &k1,
        "-i",
        "p.bin",
        "-o",
        "c",
        "--metadata-output",
        "m",
    ]));
    let meta: serde_json::Value =
        serde_json::from_str(fs::read_to_string(d.join("m")).unwrap().trim()).unwrap();
    let edks = meta["encrypted_data_keys"].as_array().unwrap();
    assert_eq!(edks.len(), 2);
    assert!(edks.iter().all(|e| e["provider_id"] == "aws-kms"));
    for key in [&k0, &k1] {
        let o = run(&["decrypt", "-w", key, "-i", "c", "-o", "-"]);
        ok(&o);
        assert_eq!(o.stdout, plaintext);
    }
    let acct = format!("discovery-account={account}");
    let o = run(&[
        "decrypt",
        "-w",
        "discovery=true",
        "region=us-west-2",
        "discovery-partition=aws",
        &acct,
        "-i",
        "c",
        "-o",
        "-",
    ]);
    ok(&o);
    assert_eq!(o.stdout, plaintext);
    // A filter that allows no key of the message.
    let o = run(&[
        "decrypt",
        "-w",
        "discovery=true",
        "region=us-west-2",
        "discovery-account=000000000000",
        "-i",
        "c",
        "-o",
        "out",
    ]);
    fails(&o, 1, "keyring", d, &["k.key", "p.bin", "c", "m"]);
}

/// The progress bar appears when stderr is a terminal (a pseudo-terminal from util-linux
/// `script`), not with `--quiet`, and never when stderr is a pipe.
#[test]
fn progress_bar_only_on_a_terminal() {
    let (dir, _) = setup();
    let d = dir.path();
    let o = esdk(
        d,
        &["encrypt", "-w", "key=aes:k.key", "-i", "p.bin", "-o", "c"],
    );
    ok(&o);
    assert!(
        o.stderr.is_empty(),
        "quiet when stderr is a pipe: {}",
        stderr(&o)
    );
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("\n**** SKIPPED: no `script` (util-linux) to give esdk a terminal ****\n");
        return;
    }
    let on_tty = |extra: &str| {
        let cmd = format!("{EXE} encrypt -w key=aes:k.key -i p.bin -o - {extra} > tty-c");
        let o = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .current_dir(d)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        ok(&o);
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let shown = on_tty("");
    assert!(
        shown.contains("p.bin [") && shown.contains("KiB"),
        "{shown:?}"
    );
    let shown = on_tty("--quiet");
    assert!(!shown.contains("p.bin"), "{shown:?}");
    // The message written while the bar was drawn is intact.
    let o = esdk(
        d,
        &["decrypt", "-w", "key=aes:k.key", "-i", "tty-c", "-o", "-"],
    );
    ok(&o);
    assert_eq!(o.stdout, fs::read(d.join("p.bin")).unwrap());
}

/// Ctrl-C (SIGINT) in the middle of a file: exit 130 and the temporary output is removed.
#[cfg(unix)]
#[test]
fn interrupted_work_leaves_nothing() {
    let (dir, plaintext) = setup();
    let d = dir.path();
    let mut child = Command::new(EXE)
        .args(["encrypt", "-w", "key=aes:k.key", "-i", "-", "-o", "out"])
        .current_dir(d)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Half the input, and the pipe stays open: esdk is mid-message.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&plaintext[..50_000]).unwrap();
    stdin.flush().unwrap();
    let partial = || {
        fs::read_dir(d).unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".esdk-partial-")
        })
    };
    for _ in 0..600 {
        if partial() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        partial(),
        "esdk writes to a temporary file beside the target"
    );
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let o = child.wait_with_output().unwrap();
    drop(stdin);
    fails(&o, 130, "interrupted", d, &["k.key", "p.bin"]);
}

// ---------------------------------------------------------------------------------------------
// The official aws-encryption-cli's spellings (issue 13).

/// esdk with extra environment variables (and optionally standard input).
fn esdk_env(dir: &Path, args: &[&str], envs: &[(&str, &str)], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(EXE);
    cmd.args(args)
        .current_dir(dir)
        .envs(envs.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run esdk");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    child.wait_with_output().expect("wait for esdk")
}

/// The one JSON record of a metadata file.
fn record(path: &Path) -> serde_json::Value {
    serde_json::from_str(fs::read_to_string(path).unwrap().trim()).unwrap()
}

#[test]
fn mode_flags_policies_and_all_eleven_suite_names() {
    let (dir, plaintext) = setup();
    let d = dir.path();
    let names = [
        ("AES_128_GCM_IV12_TAG16", 0x0014),
        ("AES_192_GCM_IV12_TAG16", 0x0046),
        ("AES_256_GCM_IV12_TAG16", 0x0078),
        ("AES_128_GCM_IV12_TAG16_HKDF_SHA256", 0x0114),
        ("AES_192_GCM_IV12_TAG16_HKDF_SHA256", 0x0146),
        ("AES_256_GCM_IV12_TAG16_HKDF_SHA256", 0x0178),
        ("AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256", 0x0214),
        ("AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384", 0x0346),
        ("AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384", 0x0378),
        ("AES_256_GCM_HKDF_SHA512_COMMIT_KEY", 0x0478),
        ("AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384", 0x0578),
    ];
    for (name, id) in names {
        let committing = id >= 0x0478;
        let policy = if committing {
            "require-encrypt-require-decrypt"
        } else {
            "forbid-encrypt-allow-decrypt"
        };
        // The mode flag anywhere on the line, as the official CLI takes it.
        let o = esdk(
            d,
            &[
                "-w",
                "key=aes:k.key",
                "-i",
                "p.bin",
                "-o",
                "c",
                "--algorithm",
                name,
                "--commitment-policy",
                policy,
                "-e",
                "--metadata-output",
                "m",
                "--overwrite-metadata",
                "--overwrite",
            ],
        );
        ok(&o);
        let m = record(&d.join("m"));
        assert_eq!(m["header"]["algorithm"], name);
        assert_eq!(m["algorithm_suite_id"], format!("0x{id:04X}"));
        let o = esdk(
            d,
            &[
                "--decrypt",
                "-w",
                "key=aes:k.key",
                "-i",
                "c",
                "-o",
                "-",
                "--commitment-policy",
                "require-encrypt-allow-decrypt",
            ],
        );
        ok(&o);
        assert_eq!(o.stdout, plaintext, "{name}");
        if !committing {
            // The default policy refuses what was written without commitment.
            let o = esdk(d, &["-d", "-w", "key=aes:k.key", "-i", "c", "-o", "-"]);
            assert_eq!(o.status.code(), Some(1), "{name}: {}", stderr(&o));
        }
    }
    // The hex id and esdk's own name still work, and a bundled -S with the mode.
    ok(&esdk(
        d,
        &[
            "-eS",
            "-w",
            "key=aes:k.key",
            "-i",
            "p.bin",
            "-o",
            "c",
            "--overwrite",
            "--algorithm",
            "0x0478",
        ],
    ));
    ok(&esdk(
        d,
        &[
            "-e",
            "-w",
            "key=aes:k.key",
            "-i",
            "p.bin",
            "-o",
            "c",
            "--overwrite",
            "--algorithm",
            "AES_256_GCM_IV12_TAG16_NO_KDF",
            "--commitment-policy",
            "FORBID_ENCRYPT_ALLOW_DECRYPT",
        ],
    ));
    // --decrypt-unsigned: unsigned messages pass, signed ones are refused.
    ok(&esdk(
        d,
        &[
            "-e",
            "-w",
            "key=aes:k.key",
            "-i",
            "p.bin",
            "-o",
            "c",
            "--overwrite",
            "--algorithm",
            "AES_256_GCM_HKDF_SHA512_COMMIT_KEY",
        ],
    ));
    let o = esdk(
        d,
        &[
            "--decrypt-unsigned",
            "-w",
            "key=aes:k.key",
            "-i",
            "c",
            "-o",
            "-",
        ],
    );
    ok(&o);
    assert_eq!(o.stdout, plaintext);
    ok(&esdk(
        d,
        &[
            "-e",
            "-w",
            "key=aes:k.key",
            "-i",
            "p.bin",
            "-o",
            "c",
            "--overwrite",
        ],
    ));
    let o = esdk(
        d,
        &[
            "--decrypt-unsigned",
            "-w",
            "key=aes:k.key",
            "-i",
            "c",
            "-o",
            "out",
        ],
    );
    fails(&o, 1, "signed", d, &["k.key", "p.bin", "c", "m"]);
    // Two modes, an unknown suite or policy: usage errors.
    let o = esdk(
        d,
        &["-e", "-d", "-w", "key=aes:k.key", "-i", "p.bin", "-o", "x"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = esdk(
        d,
        &[
            "-e",
            "-w",
            "key=aes:k.key",
            "-i",
            "p.bin",
            "-o",
            "x",
            "--algorithm",
            "AES_512",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("AES_256_GCM_IV12_TAG16 (0x0078)"),
        "{}",
        stderr(&o)
    );
    let o = esdk(
        d,
        &[
            "-e",
            "-w",
            "key=aes:k.key",
            "-i",
            "p.bin",
            "-o",
            "x",
            "--commitment-policy",
            "maybe",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("require-encrypt-require-decrypt"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn argument_files_split_lines_like_the_official_cli() {
    let (dir, plaintext) = setup();
    let d = dir.path();
    fs::create_dir(d.join("sub dir")).unwrap();
    fs::write(
        d.join("keys.args"),
        "# the wrapping key\n-w key=aes:${ESDK_TEST_KEY}   # trailing comment\n",
    )
    .unwrap();
    fs::write(
        d.join("enc.args"),
        "-e\n@keys.args\n-i p.bin -o 'sub dir/c 1'\n-c \"purpose=it's a \\\"test\\\"\" tenant=a\n",
    )
    .unwrap();
    let o = esdk_env(
        d,
        &["@enc.args", "--metadata-output", "m"],
        &[("ESDK_TEST_KEY", "k.key")],
        None,
    );
    ok(&o);
    let m = record(&d.join("m"));
    assert_eq!(m["encryption_context"]["purpose"], "it's a \"test\"");
    assert_eq!(m["encryption_context"]["tenant"], "a");
    assert!(
        m["output"].as_str().unwrap().ends_with("sub dir/c 1"),
        "{m}"
    );
    let o = esdk_env(
        d,
        &["-d", "@keys.args", "-i", "sub dir/c 1", "-o", "-"],
        &[("ESDK_TEST_KEY", "k.key")],
        None,
    );
    ok(&o);
    assert_eq!(o.stdout, plaintext);
    // A missing file, an unclosed quote: usage errors naming the file.
    let o = esdk(d, &["-d", "@nope.args"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nope.args"), "{}", stderr(&o));
    fs::write(d.join("bad.args"), "-i 'p.bin\n").unwrap();
    let o = esdk(d, &["-e", "@bad.args"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("bad.args:1: no closing quotation"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn decrypt_context_keys_must_be_present() {
    let (dir, plaintext) = setup();
    let d = dir.path();
    // -c takes several pairs per occurrence, as the official CLI does.
    encrypt_to_c(d, &["-c", "tenant=a", "stage=prod"]);
    let o = esdk(
        d,
        &[
            "-d",
            "-w",
            "key=aes:k.key",
            "-i",
            "c",
            "-o",
            "-",
            "-c",
            "tenant",
            "stage=prod",
        ],
    );
    ok(&o);
    assert_eq!(o.stdout, plaintext);
    let o = esdk(
        d,
        &[
            "-d",
            "-w",
            "key=aes:k.key",
            "-i",
            "c",
            "-o",
            "out",
            "-c",
            "tenant",
            "region",
        ],
    );
    fails(&o, 1, "\"region\" is missing", d, &["k.key", "p.bin", "c"]);
    // To standard output, nothing is released either.
    let o = esdk(
        d,
        &[
            "-d",
            "-w",
            "key=aes:k.key",
            "-i",
            "c",
            "-o",
            "-",
            "-c",
            "region",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    let o = esdk(
        d,
        &[
            "-e",
            "-w",
            "key=aes:k.key",
            "-i",
            "p.bin",
            "-o",
            "x",
            "-c",
            "tenant",
        ],
    );
    fails(
        &o,
        2,
        "bare key only works to decrypt",
        d,
        &["k.key", "p.bin", "c"],
    );
}

#[test]
fn encode_and_decode_base64() {
    let (dir, plaintext) = setup();
    let d = dir.path();
    let b64 = base64::engine::general_purpose::STANDARD;
    ok(&esdk(
        d,
        &[
            "-e",
            "-w",
            "key=aes:k.key",
            "-i",
            "p.bin",
            "-o",
            "c.b64",
            "--encode",
        ],
    ));
    let text = fs::read_to_string(d.join("c.b64")).unwrap();
    assert!(!text.contains('\n'), "one line, as the official CLI writes");
    let ct = b64.decode(&text).expect("valid base64");
    assert_eq!(ct[0], 2, "a message format v2 message inside");
    fs::write(d.join("c.bin"), &ct).unwrap();
    // --decode reads it back, also wrapped at 76 columns with CRLF; --encode encodes the
    // plaintext.
    let wrapped: Vec<u8> = text
        .as_bytes()
        .chunks(76)
        .flat_map(|l| [l, b"\r\n"].concat())
        .collect();
    for input in [text.as_bytes(), &wrapped[..]] {
        let o = esdk_stdin(
            d,
            &[
                "-d",
                "-w",
                "key=aes:k.key",
                "-i",
                "-",
                "-o",
                "-",
                "--decode",
            ],
            Some(input),
        );
        ok(&o);
        assert_eq!(o.stdout, plaintext);
    }
    let o = esdk(
        d,
        &[
            "-d",
            "-w",
            "key=aes:k.key",
            "-i",
            "c.bin",
            "-o",
            "-",
            "--encode",
        ],
    );
    ok(&o);
    assert_eq!(o.stdout, b64.encode(&plaintext).into_bytes());
    // Both ways at once: base64 plaintext in, base64 message out, and back.
    fs::write(d.join("p.b64"), b64.encode(&plaintext)).unwrap();
    ok(&esdk(
        d,
        &[
            "-e",
            "-w",
            "key=aes:k.key",
            "-i",
            "p.b64",
            "-o",
            "c2.b64",
            "--decode",
            "--encode",
        ],
    ));
    let o = esdk(
        d,
        &[
            "-d",
            "-w",
            "key=aes:k.key",
            "-i",
            "c2.b64",
            "-o",
            "-",
            "--decode",
            "--encode",
        ],
    );
    ok(&o);
    assert_eq!(o.stdout, b64.encode(&plaintext).into_bytes());
    // Not base64: a refusal, and no output.
    let o = esdk_stdin(
        d,
        &[
            "-d",
            "-w",
            "key=aes:k.key",
            "-i",
            "-",
            "-o",
            "out",
            "--decode",
        ],
        Some(b"AgV4*not base64*"),
    );
    fails(
        &o,
        1,
        "not valid base64",
        d,
        &["k.key", "p.bin", "c.b64", "c.bin", "p.b64", "c2.b64"],
    );
}

#[test]
fn max_length_bounds_plaintext_and_frames() {
    let (dir, plaintext) = setup();
    let d = dir.path();
    let n = plaintext.len().to_string();
    let less = (plaintext.len() - 1).to_string();
    // Encrypt: a file longer than the bound is refused before any key is used.
    let o = esdk(
        d,
        &[
            "-e",
            "-w",
            "key=aes:k.key",
            "-i",
            "p.bin",
            "-o",
            "c",
            "--max-length",
            &less,
        ],
    );
    fails(
        &o,
        1,
        "plaintext longer than 99999 bytes",
        d,
        &["k.key", "p.bin"],
    );
    // From a pipe, the stream is cut off when it passes the bound; nothing is kept.
    let o = esdk_stdin(
        d,
        &[
            "-e",
            "-w",
            "key=aes:k.key",
            "-i",
            "-",
            "-o",
            "c",
            "--max-length",
            &less,
        ],
        Some(&plaintext),
    );
    fails(
        &o,
        1,
        "plaintext longer than 99999 bytes",
        d,
        &["k.key", "p.bin"],
    );
    let o = esdk_stdin(
        d,
        &[
            "-e",
            "-w",
            "key=aes:k.key",
            "-i",
            "-",
            "-o",
            "c",
            "--max-length",
            &n,
        ],
        Some(&plaintext),
    );
    ok(&o);
    // Decrypt: the frame length (4096 here) must not exceed it.
    let o = esdk(
        d,
        &[
            "-d",
            "-w",
            "key=aes:k.key",
            "-i",
            "c",
            "-o",
            "out",
            "--max-length",
            "4095",
        ],
    );
    fails(
        &o,
        1,
        "frame length 4096 above the maximum of 4095",
        d,
        &["k.key", "p.bin", "c"],
    );
    let o = esdk(
        d,
        &[
            "-d",
            "-w",
            "key=aes:k.key",
            "-i",
            "c",
            "-o",
            "-",
            "--max-length",
            "4096",
        ],
    );
    ok(&o);
    assert_eq!(o.stdout, plaintext);
}

#[test]
fn verbosity_levels_log_to_stderr() {
    let (dir, _) = setup();
    let d = dir.path();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "-e",
            "-w",
            "key=aes:k.key",
            "-i",
            "p.bin",
            "-o",
            "c",
            "--overwrite",
        ];
        args.extend_from_slice(extra);
        let o = esdk(d, &args);
        ok(&o);
        stderr(&o)
    };
    assert_eq!(run(&[]), "", "silent by default");
    let v = run(&["-v"]);
    assert!(
        v.contains("INFO") && v.contains("encrypting p.bin to c"),
        "{v}"
    );
    assert!(!v.contains("DEBUG"), "{v}");
    let vv = run(&["-vv"]);
    assert!(vv.contains("DEBUG") && vv.contains("settings"), "{vv}");
    assert!(run(&["-q", "-vv"]).is_empty());
    // A skipped output is a warning, shown without -v and hidden by -q.
    let o = esdk(
        d,
        &[
            "-e",
            "-w",
            "key=aes:k.key",
            "-i",
            "p.bin",
            "-o",
            "c",
            "--no-overwrite",
        ],
    );
    ok(&o);
    assert!(
        stderr(&o).contains("WARN") && stderr(&o).contains("skipping p.bin"),
        "{}",
        stderr(&o)
    );
    let o = esdk(
        d,
        &[
            "-e",
            "-w",
            "key=aes:k.key",
            "-i",
            "p.bin",
            "-o",
            "c",
            "--no-overwrite",
            "-q",
        ],
    );
    ok(&o);
    assert_eq!(stderr(&o), "");
}

#[test]
fn interactive_and_no_overwrite() {
    let (dir, plaintext) = setup();
    let d = dir.path();
    fs::write(d.join("out"), b"precious").unwrap();
    encrypt_to_c(d, &[]);
    let args = [
        "-d",
        "-w",
        "key=aes:k.key",
        "-i",
        "c",
        "-o",
        "out",
        "--interactive",
    ];
    for answer in [&b"n\n"[..], b"", b"\n", b"nope\n"] {
        let o = esdk_stdin(d, &args, Some(answer));
        ok(&o);
        assert!(
            stderr(&o).contains("Overwrite existing output file \"out\" with new contents? [y/N]"),
            "{}",
            stderr(&o)
        );
        assert_eq!(fs::read(d.join("out")).unwrap(), b"precious", "{answer:?}");
    }
    let o = esdk_stdin(d, &args, Some(b"y\n"));
    ok(&o);
    assert_eq!(fs::read(d.join("out")).unwrap(), plaintext);
    // No question when the output does not exist yet.
    let o = esdk_stdin(
        d,
        &[
            "-d",
            "-w",
            "key=aes:k.key",
            "-i",
            "c",
            "-o",
            "new",
            "--interactive",
        ],
        Some(b""),
    );
    ok(&o);
    assert!(!stderr(&o).contains("Overwrite"));
    // --no-overwrite skips; --interactive cannot read answers from the data pipe.
    fs::write(d.join("out"), b"precious").unwrap();
    ok(&esdk(
        d,
        &[
            "-d",
            "-w",
            "key=aes:k.key",
            "-i",
            "c",
            "-o",
            "out",
            "--no-overwrite",
        ],
    ));
    assert_eq!(fs::read(d.join("out")).unwrap(), b"precious");
    let o = esdk(
        d,
        &[
            "-d",
            "-w",
            "key=aes:k.key",
            "-i",
            "-",
            "-o",
            "x",
            "--interactive",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = esdk(
        d,
        &[
            "-d",
            "-w",
            "key=aes:k.key",
            "-i",
            "c",
            "-o",
            "out",
            "--interactive",
            "--overwrite",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// The first encrypted data key of each record of a metadata file.
fn edks(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["header"]["encrypted_data_keys"][0]["encrypted_data_key"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn caching_reuses_data_keys_within_its_limits() {
    let (dir, _) = setup();
    let d = dir.path();
    fs::create_dir(d.join("tree")).unwrap();
    for i in 0..4 {
        fs::write(d.join(format!("tree/f{i}")), vec![i as u8; 1000]).unwrap();
    }
    let enc = |out: &str, meta: &str, caching: &[&str]| {
        let mut args = vec![
            "-e",
            "-w",
            "key=aes:k.key",
            "-i",
            "tree",
            "-o",
            out,
            "-r",
            "--metadata-output",
            meta,
        ];
        if !caching.is_empty() {
            args.push("--caching");
            args.extend_from_slice(caching);
        }
        ok(&esdk(d, &args));
        edks(&d.join(meta))
    };
    let none = enc("e0", "m0", &[]);
    assert_eq!(none.len(), 4);
    assert!(
        none.iter().skip(1).all(|k| *k != none[0]),
        "a new data key per file"
    );
    let all = enc("e1", "m1", &["capacity=10", "max_age=60"]);
    assert!(
        all.iter().all(|k| *k == all[0]),
        "one cached data key: {all:?}"
    );
    let two = enc(
        "e2",
        "m2",
        &["capacity=10", "max_age=60.5", "max_messages_encrypted=2"],
    );
    assert_eq!(two[0], two[1]);
    assert_ne!(two[1], two[2]);
    assert_eq!(two[2], two[3]);
    let bytes = enc(
        "e3",
        "m3",
        &["capacity=10", "max_age=60", "max_bytes_encrypted=2500"],
    );
    assert_eq!(bytes[0], bytes[1]);
    assert_ne!(
        bytes[1], bytes[2],
        "the third 1000 bytes pass the 2500-byte limit"
    );
    // Every file decrypts, also through a decrypting cache.
    ok(&esdk(
        d,
        &[
            "-d",
            "-w",
            "key=aes:k.key",
            "-i",
            "e2",
            "-o",
            "d2",
            "--caching",
            "capacity=1",
            "max_age=1",
        ],
    ));
    for i in 0..4 {
        assert_eq!(
            fs::read(d.join(format!("d2/f{i}"))).unwrap(),
            vec![i as u8; 1000]
        );
    }
    for bad in [
        &["capacity=10"][..],
        &["capacity=0", "max_age=1"],
        &["capacity=1", "max_age=0"],
        &["capacity=1", "max_age=1", "ttl=3"],
    ] {
        let mut args = vec![
            "-e",
            "-w",
            "key=aes:k.key",
            "-i",
            "p.bin",
            "-o",
            "x",
            "--caching",
        ];
        args.extend_from_slice(bad);
        let o = esdk(d, &args);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("--caching"), "{}", stderr(&o));
    }
}

#[test]
fn metadata_records_use_the_official_keys() {
    let (dir, _) = setup();
    let d = dir.path();
    ok(&esdk(
        d,
        &[
            "-e",
            "-w",
            "key=aes:k.key",
            "namespace=ns",
            "name=kn",
            "-i",
            "p.bin",
            "-o",
            "c",
            "--metadata-output",
            "m",
            "-c",
            "a=b",
        ],
    ));
    ok(&esdk(
        d,
        &[
            "-d",
            "-w",
            "key=aes:k.key",
            "namespace=ns",
            "name=kn",
            "-i",
            "c",
            "-o",
            "out",
            "--metadata-output",
            "m",
        ],
    ));
    let lines: Vec<serde_json::Value> = fs::read_to_string(d.join("m"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "appended");
    let b64 = base64::engine::general_purpose::STANDARD;
    for (m, mode) in lines.iter().zip(["encrypt", "decrypt"]) {
        assert_eq!(m["mode"], mode);
        let input = Path::new(m["input"].as_str().unwrap());
        assert!(input.is_absolute() && input.exists(), "{m}");
        let h = &m["header"];
        assert_eq!(h["version"], "2.0");
        assert_eq!(h["type"], serde_json::Value::Null);
        assert_eq!(h["header_iv_length"], serde_json::Value::Null);
        assert_eq!(h["content_type"], 2);
        assert_eq!(h["frame_length"], 4096);
        assert_eq!(
            h["algorithm"],
            "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384"
        );
        assert_eq!(
            b64.decode(h["commitment_key"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
        assert_eq!(
            b64.decode(h["message_id"].as_str().unwrap()).unwrap().len(),
            32
        );
        assert_eq!(h["encryption_context"]["a"], "b");
        assert!(h["encryption_context"]["aws-crypto-public-key"].is_string());
        let edk = &h["encrypted_data_keys"][0];
        assert_eq!(
            b64.decode(edk["key_provider"]["provider_id"].as_str().unwrap())
                .unwrap(),
            b"ns"
        );
        assert!(
            b64.decode(edk["key_provider"]["key_info"].as_str().unwrap())
                .unwrap()
                .starts_with(b"kn")
        );
        assert!(
            b64.decode(edk["encrypted_data_key"].as_str().unwrap())
                .unwrap()
                .len()
                >= 32
        );
    }
    assert_eq!(
        lines[0]["header"], lines[1]["header"],
        "both sides see the same header"
    );
    // --overwrite-metadata truncates; v1 headers have a type and an IV length.
    ok(&esdk(
        d,
        &[
            "-e",
            "-w",
            "key=aes:k.key",
            "-i",
            "p.bin",
            "-o",
            "c1",
            "--metadata-output",
            "m",
            "--overwrite-metadata",
            "--algorithm",
            "AES_256_GCM_IV12_TAG16_HKDF_SHA256",
            "--commitment-policy",
            "forbid-encrypt-allow-decrypt",
        ],
    ));
    let m = record(&d.join("m"));
    assert_eq!(m["header"]["version"], "1.0");
    assert_eq!(m["header"]["type"], 128);
    assert_eq!(m["header"]["header_iv_length"], 12);
    assert_eq!(m["header"]["commitment_key"], serde_json::Value::Null);
    // Standard streams are named as the official CLI names them.
    let o = esdk_stdin(
        d,
        &[
            "-e",
            "-w",
            "key=aes:k.key",
            "-i",
            "-",
            "-o",
            "c2",
            "--metadata-output",
            "-",
        ],
        Some(b"x"),
    );
    ok(&o);
    let m: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(m["input"], "<stdin>");
    // -S and --metadata-output exclude each other; --overwrite-metadata needs a file.
    let o = esdk(
        d,
        &[
            "-e",
            "-S",
            "--metadata-output",
            "m",
            "-w",
            "key=aes:k.key",
            "-i",
            "p.bin",
            "-o",
            "x",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let o = esdk(
        d,
        &[
            "-e",
            "--overwrite-metadata",
            "-w",
            "key=aes:k.key",
            "-i",
            "p.bin",
            "-o",
            "x",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    ok(&esdk(
        d,
        &["-e", "-S", "-w", "key=aes:k.key", "-i", "p.bin", "-o", "c3"],
    ));
}

// ---------------------------------------------------------------------------------------------
// Every keyring from the command line, against the local KMS/DynamoDB servers (issue 13).

/// esdk against a local AWS server: test credentials, `AWS_ENDPOINT_URL` (KMS and DynamoDB),
/// no Region unless `region` is given; `remove` drops inherited variables.
fn esdk_aws(
    dir: &Path,
    endpoint: &str,
    region: Option<&str>,
    args: &[&str],
    extra: &[(&str, &str)],
) -> Output {
    let mut cmd = Command::new(EXE);
    cmd.args(args)
        .current_dir(dir)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_CONFIG_FILE", dir.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.join("no-aws-credentials"),
        )
        .envs(extra.iter().copied())
        .stdin(Stdio::null());
    if let Some(r) = region {
        cmd.env("AWS_REGION", r);
    }
    cmd.output().expect("run esdk")
}

/// The official aws-encryption-cli (`ESDK_OFFICIAL_CLI`, default /tmp/esdk-cli-venv), or a loud
/// skip (a failure under CI=true).
fn official_cli() -> Option<PathBuf> {
    let cli = std::env::var("ESDK_OFFICIAL_CLI")
        .unwrap_or_else(|_| "/tmp/esdk-cli-venv/bin/aws-encryption-cli".into());
    if Path::new(&cli).exists() {
        return Some(PathBuf::from(cli));
    }
    common::unavailable(&format!(
        "no official aws-encryption-cli at {cli} (pip install aws-encryption-sdk-cli==4.3.0 into \
         /tmp/esdk-cli-venv, or set ESDK_OFFICIAL_CLI): interop with the new spellings NOT CHECKED"
    ))
}

#[cfg(feature = "kms")]
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A new KMS key on `endpoint` in `region`: its ARN.
#[cfg(feature = "kms")]
fn new_kms_key(endpoint: &str, region: &str) -> String {
    let kms = common::kms_sdk_client(endpoint, region);
    runtime()
        .block_on(kms.create_key().description("esdk cli").send())
        .expect("CreateKey")
        .key_metadata()
        .and_then(|m| m.arn())
        .expect("ARN")
        .to_owned()
}

/// Asserts a failure whose error is one short line holding `code` (no SDK debug structure), and
/// that `-v` adds the SDK's detail.
#[track_caller]
fn one_line_service_error(o: &Output, code: &str) {
    assert_eq!(o.status.code(), Some(1), "{}", stderr(o));
    let err = stderr(o);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains(code), "{err}");
    assert!(err.len() < 400, "{} bytes: {err}", err.len());
    for noise in ["HttpResponse", "headers", "ServiceError {", "raw:"] {
        assert!(!err.contains(noise), "{noise} in {err}");
    }
}

#[cfg(feature = "kms")]
#[test]
fn official_cli_reads_esdk_and_back_with_its_spellings() {
    let Some(endpoint) = common::endpoint("ESDK_KMS_ENDPOINT", "the CLI's KMS interop test") else {
        return;
    };
    let Some(official) = official_cli() else {
        return;
    };
    let arn = new_kms_key(&endpoint, "us-west-2");
    let (dir, plaintext) = setup();
    let d = dir.path();
    let west = Some("us-west-2");
    // esdk writes with the official spellings; the official CLI reads.
    let o = esdk_aws(
        d,
        &endpoint,
        west,
        &[
            "-e",
            "-w",
            &format!("key={arn}"),
            "-i",
            "p.bin",
            "-o",
            "c.b64",
            "--encode",
            "--commitment-policy",
            "require-encrypt-allow-decrypt",
            "--algorithm",
            "AES_256_GCM_HKDF_SHA512_COMMIT_KEY",
            "--frame-length",
            "1024",
            "-c",
            "a=b",
            "tenant=t",
            "--metadata-output",
            "m-esdk",
        ],
        &[],
    );
    ok(&o);
    let run_official = |args: &[&str]| {
        Command::new(&official)
            .args(args)
            .current_dir(d)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", "us-west-2")
            .env("AWS_ENDPOINT_URL", &endpoint)
            .output()
            .expect("run aws-encryption-cli")
    };
    let o = run_official(&[
        "-d",
        "-w",
        &format!("key={arn}"),
        "-i",
        "c.b64",
        "-o",
        "out1",
        "--decode",
        "-c",
        "a",
        "tenant=t",
        "--metadata-output",
        "m-official",
        "--commitment-policy",
        "require-encrypt-allow-decrypt",
    ]);
    assert!(
        o.status.success(),
        "official: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(fs::read(d.join("out1")).unwrap(), plaintext);
    // Both CLIs describe the message's header alike, key for key.
    let ours = record(&d.join("m-esdk"));
    let theirs = record(&d.join("m-official"));
    assert_eq!(ours["header"], theirs["header"]);
    for key in ["mode", "input", "output", "header"] {
        assert!(
            ours.get(key).is_some() && theirs.get(key).is_some(),
            "{key}"
        );
    }
    // The official CLI writes a legacy suite; esdk reads it with the same spellings.
    let o = run_official(&[
        "-e",
        "-w",
        &format!("key={arn}"),
        "-i",
        "p.bin",
        "-o",
        "c2.b64",
        "--encode",
        "-S",
        "--algorithm",
        "AES_128_GCM_IV12_TAG16",
        "--commitment-policy",
        "forbid-encrypt-allow-decrypt",
        "-c",
        "k=v",
    ]);
    assert!(
        o.status.success(),
        "official: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = esdk_aws(
        d,
        &endpoint,
        west,
        &[
            "-d",
            "-S",
            "-w",
            &format!("key={arn}"),
            "-i",
            "c2.b64",
            "-o",
            "-",
            "--decode",
            "-c",
            "k",
            "--commitment-policy",
            "forbid-encrypt-allow-decrypt",
            "--metadata-output",
            "m2",
            "--overwrite-metadata",
        ],
        &[],
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "-S and --metadata-output exclude each other"
    );
    let o = esdk_aws(
        d,
        &endpoint,
        west,
        &[
            "-d",
            "-w",
            &format!("key={arn}"),
            "-i",
            "c2.b64",
            "-o",
            "-",
            "--decode",
            "-c",
            "k",
            "--commitment-policy",
            "forbid-encrypt-allow-decrypt",
        ],
        &[],
    );
    ok(&o);
    assert_eq!(o.stdout, plaintext);
}

#[cfg(feature = "kms")]
#[test]
fn kms_keys_by_alias_id_region_profile_and_one_line_errors() {
    let Some(endpoint) = common::endpoint("ESDK_KMS_ENDPOINT", "the CLI's KMS key test") else {
        return;
    };
    let arn = new_kms_key(&endpoint, "us-west-2");
    let key_id = arn.rsplit('/').next().unwrap().to_owned();
    let alias = format!("alias/esdk-cli-{}", std::process::id());
    runtime()
        .block_on(
            common::kms_sdk_client(&endpoint, "us-west-2")
                .create_alias()
                .alias_name(&alias)
                .target_key_id(&arn)
                .send(),
        )
        .expect("CreateAlias");
    let (dir, plaintext) = setup();
    let d = dir.path();
    let decrypt_with_arn = |file: &str| {
        let o = esdk_aws(
            d,
            &endpoint,
            Some("us-west-2"),
            &["-d", "-w", &format!("key={arn}"), "-i", file, "-o", "-"],
            &[],
        );
        ok(&o);
        assert_eq!(o.stdout, plaintext, "{file}");
    };
    // An alias and a bare key ID carry no Region: region= gives it (no AWS_REGION here).
    for (i, key) in [alias.as_str(), key_id.as_str()].into_iter().enumerate() {
        let out = format!("c{i}");
        let o = esdk_aws(
            d,
            &endpoint,
            None,
            &[
                "-e",
                "-w",
                &format!("key={key}"),
                "region=us-west-2",
                "grant-token=tok-1",
                "grant-token=tok-2",
                "-i",
                "p.bin",
                "-o",
                &out,
            ],
            &[],
        );
        ok(&o);
        decrypt_with_arn(&out);
        // Without a Region, a clear usage error.
        let o = esdk_aws(
            d,
            &endpoint,
            None,
            &["-e", "-w", &format!("key={key}"), "-i", "p.bin", "-o", "x"],
            &[],
        );
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains("no AWS Region"), "{}", stderr(&o));
    }
    // The key does not exist in us-east-1: the service's answer in one line.
    let o = esdk_aws(
        d,
        &endpoint,
        None,
        &[
            "-e",
            "-w",
            &format!("key={key_id}"),
            "region=us-east-1",
            "-i",
            "p.bin",
            "-o",
            "x",
        ],
        &[],
    );
    one_line_service_error(&o, "NotFoundException");
    let o = esdk_aws(
        d,
        &endpoint,
        None,
        &[
            "-e",
            "-v",
            "-w",
            &format!("key={key_id}"),
            "region=us-east-1",
            "-i",
            "p.bin",
            "-o",
            "x",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cause of the error") && stderr(&o).len() > 400,
        "-v shows the SDK's detail: {}",
        stderr(&o)
    );
    // A named profile gives credentials and Region (none in the environment).
    fs::write(
        d.join("aws-config"),
        "[profile west]\nregion = us-west-2\n[profile east]\nregion = us-east-1\n",
    )
    .unwrap();
    fs::write(d.join("aws-credentials"), "[west]\naws_access_key_id = test\naws_secret_access_key = test\n[east]\naws_access_key_id = test\naws_secret_access_key = test\n").unwrap();
    let cfg = d.join("aws-config");
    let creds = d.join("aws-credentials");
    let profile_env = [
        ("AWS_CONFIG_FILE", cfg.to_str().unwrap()),
        ("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap()),
        ("AWS_ACCESS_KEY_ID", ""),
        ("AWS_SECRET_ACCESS_KEY", ""),
    ];
    let o = esdk_aws(
        d,
        &endpoint,
        None,
        &[
            "-e",
            "-w",
            &format!("key={key_id}"),
            "profile=west",
            "-i",
            "p.bin",
            "-o",
            "c-profile",
        ],
        &profile_env,
    );
    ok(&o);
    decrypt_with_arn("c-profile");
    let o = esdk_aws(
        d,
        &endpoint,
        None,
        &[
            "-e",
            "-w",
            &format!("key={key_id}"),
            "profile=east",
            "-i",
            "p.bin",
            "-o",
            "x",
        ],
        &profile_env,
    );
    one_line_service_error(&o, "NotFoundException");
    // provider=aws-kms (the official CLI's spelling) makes every key= a KMS key.
    let o = esdk_aws(
        d,
        &endpoint,
        Some("us-west-2"),
        &[
            "-e",
            "-w",
            "provider=aws-kms",
            &format!("key={arn}"),
            "-i",
            "p.bin",
            "-o",
            "c-provider",
        ],
        &[],
    );
    ok(&o);
    decrypt_with_arn("c-provider");
    // -vvvv opens the AWS SDK's debug logs, never a plaintext data key.
    let o = esdk_aws(
        d,
        &endpoint,
        Some("us-west-2"),
        &[
            "-d",
            "-vvvv",
            "-w",
            &format!("key={arn}"),
            "-i",
            "c0",
            "-o",
            "-",
        ],
        &[],
    );
    ok(&o);
    let err = stderr(&o);
    assert!(
        err.contains("DEBUG") && err.contains("aws_"),
        "SDK logs at -vvvv"
    );
    assert!(!err.contains("Plaintext"), "no KMS plaintext in the logs");
}

/// A multi-Region key in us-west-2 and its replica in us-east-1, on the fixed launcher.
#[cfg(feature = "kms")]
fn new_mrk(endpoint: &str) -> (String, String) {
    let rt = runtime();
    let west = common::kms_sdk_client(endpoint, "us-west-2");
    let arn = rt
        .block_on(west.create_key().multi_region(true).send())
        .expect("CreateKey")
        .key_metadata()
        .and_then(|m| m.arn())
        .expect("ARN")
        .to_owned();
    let replica = rt
        .block_on(
            west.replicate_key()
                .key_id(&arn)
                .replica_region("us-east-1")
                .send(),
        )
        .expect("ReplicateKey")
        .replica_key_metadata()
        .and_then(|m| m.arn())
        .expect("replica ARN")
        .to_owned();
    (arn, replica)
}

#[cfg(feature = "kms")]
#[test]
fn mrk_keys_are_mrk_aware_without_asking() {
    let Some(endpoint) = common::endpoint(
        "ESDK_KMS_MRK_ENDPOINT",
        "the CLI's MRK test (fixed launcher)",
    ) else {
        return;
    };
    let (primary, replica) = new_mrk(&endpoint);
    assert!(primary.contains(":key/mrk-"));
    let (dir, plaintext) = setup();
    let d = dir.path();
    let o = esdk_aws(
        d,
        &endpoint,
        None,
        &[
            "-e",
            "-w",
            &format!("key={primary}"),
            "-i",
            "p.bin",
            "-o",
            "c",
        ],
        &[],
    );
    ok(&o);
    // The us-east-1 replica decrypts what the us-west-2 key wrapped, and MRK discovery in
    // us-east-1 too.
    for wk in [format!("key={replica}"), "discovery=true".to_owned()] {
        let mut args = vec!["-d", "-w", wk.as_str()];
        if wk.starts_with("discovery") {
            args.push("region=us-east-1");
        }
        args.extend(["-i", "c", "-o", "-"]);
        let o = esdk_aws(d, &endpoint, None, &args, &[]);
        ok(&o);
        assert_eq!(o.stdout, plaintext, "{wk}");
    }
    // The official CLI (MRK-aware as well) reads it with the replica.
    let Some(official) = official_cli() else {
        return;
    };
    let o = Command::new(&official)
        .args([
            "-d",
            "-S",
            "-w",
            &format!("key={replica}"),
            "-i",
            "c",
            "-o",
            "out",
        ])
        .current_dir(d)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &endpoint)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "official: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(fs::read(d.join("out")).unwrap(), plaintext);
}

/// An asymmetric KMS key: its ARN, and its public key written to `pem` in `dir`.
#[cfg(feature = "kms")]
fn new_asymmetric_key(
    endpoint: &str,
    spec: aws_sdk_kms::types::KeySpec,
    usage: aws_sdk_kms::types::KeyUsageType,
    dir: &Path,
    pem: &str,
) -> String {
    let rt = runtime();
    let kms = common::kms_sdk_client(endpoint, "us-west-2");
    let arn = rt
        .block_on(kms.create_key().key_spec(spec).key_usage(usage).send())
        .expect("CreateKey")
        .key_metadata()
        .and_then(|m| m.arn())
        .expect("ARN")
        .to_owned();
    let der = rt
        .block_on(kms.get_public_key().key_id(&arn).send())
        .expect("GetPublicKey")
        .public_key
        .expect("public key")
        .into_inner();
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let body: Vec<String> = b64
        .as_bytes()
        .chunks(64)
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    fs::write(
        dir.join(pem),
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            body.join("\n")
        ),
    )
    .unwrap();
    arn
}

#[cfg(feature = "kms")]
#[test]
fn kms_rsa_and_kms_ecdh_keys() {
    use aws_sdk_kms::types::{KeySpec, KeyUsageType};
    let Some(endpoint) = common::endpoint(
        "ESDK_KMS_MRK_ENDPOINT",
        "the CLI's KMS RSA/ECDH test (fixed launcher)",
    ) else {
        return;
    };
    let (dir, plaintext) = setup();
    let d = dir.path();
    let west = Some("us-west-2");
    let rsa = new_asymmetric_key(
        &endpoint,
        KeySpec::Rsa2048,
        KeyUsageType::EncryptDecrypt,
        d,
        "rsa.pem",
    );
    let commit = ["--algorithm", "AES_256_GCM_HKDF_SHA512_COMMIT_KEY"];
    // KMS RSA: the public key from GetPublicKey, or from a file; KMS decrypts.
    for (i, extra) in [&[][..], &["public-key=rsa.pem", "padding=oaep-sha1"][..]]
        .into_iter()
        .enumerate()
    {
        let key = format!("key=kms-rsa:{rsa}");
        let mut args = vec!["-e", "-w", key.as_str()];
        args.extend_from_slice(extra);
        let out = format!("c-rsa{i}");
        args.extend([
            "-i",
            "p.bin",
            "-o",
            &out,
            "--metadata-output",
            "m",
            "--overwrite-metadata",
        ]);
        args.extend_from_slice(&commit);
        ok(&esdk_aws(d, &endpoint, west, &args, &[]));
        assert_eq!(
            record(&d.join("m"))["encrypted_data_keys"][0]["provider_id"],
            "aws-kms-rsa"
        );
        let mut args = vec!["-d", "-w", key.as_str()];
        args.extend_from_slice(extra);
        args.extend(["-i", &out, "-o", "-"]);
        let o = esdk_aws(d, &endpoint, west, &args, &[]);
        ok(&o);
        assert_eq!(o.stdout, plaintext);
    }
    // KMS ECDH: sender A to recipient B; B decrypts with A's public key or by discovery.
    let a = new_asymmetric_key(
        &endpoint,
        KeySpec::EccNistP256,
        KeyUsageType::KeyAgreement,
        d,
        "a.pem",
    );
    let b = new_asymmetric_key(
        &endpoint,
        KeySpec::EccNistP256,
        KeyUsageType::KeyAgreement,
        d,
        "b.pem",
    );
    let o = esdk_aws(
        d,
        &endpoint,
        west,
        &[
            "-e",
            "-w",
            &format!("key=kms-ecdh:{a}"),
            "recipient=b.pem",
            "-i",
            "p.bin",
            "-o",
            "c-ecdh",
            "--metadata-output",
            "m",
            "--overwrite-metadata",
        ],
        &[],
    );
    ok(&o);
    assert_eq!(
        record(&d.join("m"))["encrypted_data_keys"][0]["provider_id"],
        "aws-kms-ecdh"
    );
    for wk in [
        vec![format!("key=kms-ecdh:{b}"), "recipient=a.pem".to_owned()],
        vec![
            format!("key=kms-ecdh-discovery:{b}"),
            "curve=p256".to_owned(),
        ],
        vec![format!("key=kms-ecdh-discovery:{b}")],
    ] {
        let mut args = vec!["-d", "-w"];
        args.extend(wk.iter().map(String::as_str));
        args.extend(["-i", "c-ecdh", "-o", "-"]);
        let o = esdk_aws(d, &endpoint, west, &args, &[]);
        ok(&o);
        assert_eq!(o.stdout, plaintext, "{wk:?}");
    }
    // Discovery only decrypts; the static scheme needs the other party's key.
    let o = esdk_aws(
        d,
        &endpoint,
        west,
        &[
            "-e",
            "-w",
            &format!("key=kms-ecdh-discovery:{b}"),
            "-i",
            "p.bin",
            "-o",
            "x",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = esdk_aws(
        d,
        &endpoint,
        west,
        &[
            "-e",
            "-w",
            &format!("key=kms-ecdh:{a}"),
            "-i",
            "p.bin",
            "-o",
            "x",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("recipient="), "{}", stderr(&o));
}

/// An EC key pair made by openssl: `NAME.key` (PKCS#8 PEM) and `NAME.pub` (SPKI PEM).
fn openssl_ec_pair(dir: &Path, name: &str, curve: &str) -> bool {
    let key = format!("{name}.key");
    let made = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            &format!("ec_paramgen_curve:{curve}"),
            "-out",
            &key,
        ])
        .current_dir(dir)
        .output()
        .is_ok_and(|o| o.status.success());
    made && Command::new("openssl")
        .args([
            "pkey",
            "-in",
            &key,
            "-pubout",
            "-out",
            &format!("{name}.pub"),
        ])
        .current_dir(dir)
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn raw_ecdh_keys() {
    let (dir, plaintext) = setup();
    let d = dir.path();
    if !(openssl_ec_pair(d, "s", "P-256")
        && openssl_ec_pair(d, "r", "P-256")
        && openssl_ec_pair(d, "r384", "P-384"))
    {
        common::unavailable::<()>(
            "no openssl to make EC key pairs: the CLI's raw ECDH test NOT RUN",
        );
        return;
    }
    let round = |enc: &[&str], decs: &[&[&str]]| {
        let mut args = vec!["-e", "-w"];
        args.extend_from_slice(enc);
        args.extend([
            "-i",
            "p.bin",
            "-o",
            "c",
            "--overwrite",
            "--metadata-output",
            "m",
            "--overwrite-metadata",
        ]);
        ok(&esdk(d, &args));
        assert_eq!(
            record(&d.join("m"))["encrypted_data_keys"][0]["provider_id"],
            "raw-ecdh"
        );
        for dec in decs {
            let mut args = vec!["-d", "-w"];
            args.extend_from_slice(dec);
            args.extend(["-i", "c", "-o", "-"]);
            let o = esdk(d, &args);
            ok(&o);
            assert_eq!(o.stdout, plaintext, "{dec:?}");
        }
    };
    // Static: the recipient decrypts with its private key and the sender's public key, or by
    // discovery; the sender can decrypt its own message too.
    round(
        &["key=ecdh:s.key", "recipient=r.pub"],
        &[
            &["key=ecdh:r.key", "recipient=s.pub"],
            &["key=ecdh-discovery:r.key"],
            &["key=ecdh:s.key", "recipient=r.pub"],
        ],
    );
    // Ephemeral: only the recipient's private key decrypts.
    round(
        &["key=ecdh-ephemeral:r.pub"],
        &[&["key=ecdh-discovery:r.key"]],
    );
    let o = esdk(
        d,
        &[
            "-d",
            "-w",
            "key=ecdh-discovery:s.key",
            "-i",
            "c",
            "-o",
            "out",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "another key: {}", stderr(&o));
    // P-384, with a DER public key file and the curve named.
    let der = Command::new("openssl")
        .args([
            "pkey", "-pubin", "-in", "r384.pub", "-outform", "DER", "-out", "r384.der",
        ])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(der.status.success());
    round(
        &["key=ecdh-ephemeral:r384.der", "curve=p384"],
        &[&["key=ecdh-discovery:r384.key", "curve=P-384"]],
    );
    // Misuse: usage errors.
    for (args, needle) in [
        (
            &["-e", "-w", "key=ecdh-discovery:r.key"][..],
            "only decrypts",
        ),
        (&["-d", "-w", "key=ecdh-ephemeral:r.pub"], "only encrypts"),
        (&["-e", "-w", "key=ecdh:s.key"], "recipient="),
        (
            &["-e", "-w", "key=ecdh-ephemeral:r.pub", "curve=p384"],
            "key=ecdh-ephemeral",
        ),
        (
            &["-e", "-w", "key=aes:k.key", "recipient=r.pub"],
            "recipient= goes with",
        ),
        (
            &["-e", "-w", "key=ecdh-ephemeral:r.pub", "curve=p999"],
            "unknown curve",
        ),
    ] {
        let mut a = args.to_vec();
        a.extend(["-i", "p.bin", "-o", "x"]);
        let o = esdk(d, &a);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    }
}

#[cfg(feature = "hierarchy")]
#[test]
fn hierarchical_keyring_over_a_dynamodb_key_store() {
    use esdk::keyring::aws_kms::KmsClient;
    use esdk::keyring::{DynamoDbKeyStore, KmsConfiguration};
    let Some(endpoint) =
        common::endpoint("ESDK_KMS_ENDPOINT", "the CLI's hierarchical keyring test")
    else {
        return;
    };
    let arn = new_kms_key(&endpoint, "us-west-2");
    let table = format!("esdk-cli-bks-{}", std::process::id());
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .endpoint_url(&endpoint)
            .region(aws_sdk_dynamodb::config::Region::new("us-west-2"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .build(),
    );
    let store = DynamoDbKeyStore::builder()
        .dynamodb_client(ddb)
        .kms_client(KmsClient::from_sdk_client(common::kms_sdk_client(
            &endpoint,
            "us-west-2",
        )))
        .table_name(&table)
        .logical_key_store_name(&table)
        .kms_configuration(KmsConfiguration::KmsKeyArn(arn.clone()))
        .build()
        .unwrap();
    let rt = runtime();
    rt.block_on(store.create_key_store())
        .expect("CreateKeyStore");
    let branch = rt
        .block_on(store.create_key(None, &esdk::EncryptionContext::new()))
        .expect("CreateKey");
    let (dir, plaintext) = setup();
    let d = dir.path();
    let key = format!("key=hierarchy:{branch}");
    let table_arg = format!("key-store-table={table}");
    let kms_arg = format!("key-store-kms-key={arn}");
    let ddb_ep = ["--dynamodb-endpoint", endpoint.as_str()];
    let mut args = vec![
        "-e",
        "-w",
        key.as_str(),
        table_arg.as_str(),
        kms_arg.as_str(),
        "cache-ttl=30",
        "-i",
        "p.bin",
        "-o",
        "c",
        "--metadata-output",
        "m",
    ];
    args.extend_from_slice(&ddb_ep);
    ok(&esdk_aws(d, &endpoint, Some("us-west-2"), &args, &[]));
    let m = record(&d.join("m"));
    assert_eq!(
        m["encrypted_data_keys"][0]["provider_id"],
        "aws-kms-hierarchy"
    );
    let mut args = vec![
        "-d",
        "-w",
        key.as_str(),
        table_arg.as_str(),
        kms_arg.as_str(),
        "-i",
        "c",
        "-o",
        "-",
    ];
    args.extend_from_slice(&ddb_ep);
    let o = esdk_aws(d, &endpoint, Some("us-west-2"), &args, &[]);
    ok(&o);
    assert_eq!(o.stdout, plaintext);
    // Another branch key ID: the store has no such key, in one line.
    let mut args = vec![
        "-e",
        "-w",
        "key=hierarchy:no-such-branch-key",
        table_arg.as_str(),
        kms_arg.as_str(),
        "-i",
        "p.bin",
        "-o",
        "x",
    ];
    args.extend_from_slice(&ddb_ep);
    let o = esdk_aws(d, &endpoint, Some("us-west-2"), &args, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("no-such-branch-key"), "{}", stderr(&o));
    // A table that does not exist: DynamoDB's answer in one line.
    let mut args = vec![
        "-e",
        "-w",
        key.as_str(),
        "key-store-table=no-such-table",
        kms_arg.as_str(),
        "-i",
        "p.bin",
        "-o",
        "x",
    ];
    args.extend_from_slice(&ddb_ep);
    let o = esdk_aws(d, &endpoint, Some("us-west-2"), &args, &[]);
    one_line_service_error(&o, "ResourceNotFoundException");
    // The store settings are required.
    let o = esdk(
        d,
        &[
            "-e",
            "-w",
            key.as_str(),
            kms_arg.as_str(),
            "-i",
            "p.bin",
            "-o",
            "x",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("key-store-table"), "{}", stderr(&o));
}

/// A TCP proxy to `upstream` that records every byte sent to it (the HTTP requests).
#[cfg(feature = "kms")]
fn recording_proxy(upstream: &str) -> (String, std::sync::Arc<std::sync::Mutex<Vec<u8>>>) {
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};
    let upstream = upstream.trim_start_matches("http://").to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let record = log.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(&upstream) else {
                return;
            };
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut s_read, mut c_write) = (server, client);
            let record = record.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 16384];
                while let Ok(n) = std::io::Read::read(&mut c_read, &mut buf) {
                    if n == 0 || s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    record.lock().unwrap().extend_from_slice(&buf[..n]);
                }
                let _ = s_write.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_read, &mut c_write);
                let _ = c_write.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (format!("http://{addr}"), log)
}

#[cfg(feature = "kms")]
#[test]
fn grant_tokens_reach_kms() {
    let Some(endpoint) = common::endpoint("ESDK_KMS_ENDPOINT", "the CLI's grant token test") else {
        return;
    };
    let arn = new_kms_key(&endpoint, "us-west-2");
    let (proxy, log) = recording_proxy(&endpoint);
    let (dir, plaintext) = setup();
    let d = dir.path();
    let key = format!("key={arn}");
    let wk = [key.as_str(), "grant-token=tok-1", "grant-token=tok-2"];
    let mut args = vec!["-e", "-w"];
    args.extend_from_slice(&wk);
    args.extend(["-i", "p.bin", "-o", "c", "--kms-endpoint", &proxy]);
    ok(&esdk_aws(d, &endpoint, None, &args, &[]));
    let mut args = vec!["-d", "-w"];
    args.extend_from_slice(&wk);
    args.extend(["-i", "c", "-o", "-", "--kms-endpoint", &proxy]);
    let o = esdk_aws(d, &endpoint, None, &args, &[]);
    ok(&o);
    assert_eq!(o.stdout, plaintext);
    let sent = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
    for op in ["GenerateDataKey", "Decrypt"] {
        assert!(
            sent.contains(&format!("TrentService.{op}")),
            "no {op} call: {sent}"
        );
    }
    assert_eq!(
        sent.matches("\"GrantTokens\":[\"tok-1\",\"tok-2\"]")
            .count(),
        2,
        "{sent}"
    );
}

#[test]
fn bare_suffix_recursive_and_buffer_flags() {
    let (dir, _) = setup();
    let d = dir.path();
    fs::create_dir_all(d.join("tree/sub")).unwrap();
    fs::write(d.join("tree/a.txt"), b"alpha").unwrap();
    fs::write(d.join("tree/sub/b.txt"), b"beta").unwrap();
    // `--suffix` alone (the official CLI's empty suffix): names are kept as they are.
    ok(&esdk(
        d,
        &[
            "-e",
            "-R",
            "-b",
            "-w",
            "key=aes:k.key",
            "-i",
            "tree",
            "-o",
            "enc",
            "--suffix",
        ],
    ));
    assert!(d.join("enc/a.txt").is_file() && d.join("enc/sub/b.txt").is_file());
    assert_ne!(fs::read(d.join("enc/a.txt")).unwrap(), b"alpha");
    ok(&esdk(
        d,
        &[
            "-d",
            "--recursive",
            "-b",
            "-w",
            "key=aes:k.key",
            "-i",
            "enc",
            "-o",
            "dec",
            "--suffix",
        ],
    ));
    assert_eq!(fs::read(d.join("dec/a.txt")).unwrap(), b"alpha");
    assert_eq!(fs::read(d.join("dec/sub/b.txt")).unwrap(), b"beta");
    // A custom suffix is added and removed.
    ok(&esdk(
        d,
        &[
            "-e",
            "-r",
            "-w",
            "key=aes:k.key",
            "-i",
            "tree",
            "-o",
            "enc2",
            "--suffix",
            ".esdk",
        ],
    ));
    assert!(d.join("enc2/sub/b.txt.esdk").is_file());
    ok(&esdk(
        d,
        &[
            "-d",
            "-r",
            "-w",
            "key=aes:k.key",
            "-i",
            "enc2",
            "-o",
            "dec2",
            "--suffix",
            ".esdk",
        ],
    ));
    assert_eq!(fs::read(d.join("dec2/sub/b.txt")).unwrap(), b"beta");
}
