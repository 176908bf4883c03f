//! The `esdk` command-line tool against hostile inputs and hostile environments (issue 14):
//! devices, FIFOs, sockets and links as outputs; SIGINT, SIGTERM and SIGHUP mid-message;
//! colliding folder outputs; key files that are not keys; RSA key names; and the decrypt limits
//! that keep a hostile header from costing memory or work.

use std::fs;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine as _;

const EXE: &str = env!("CARGO_BIN_EXE_esdk");

fn esdk(dir: &Path, args: &[&str]) -> Output {
    esdk_stdin(dir, args, None)
}

fn esdk_stdin(dir: &Path, args: &[&str], stdin: Option<Vec<u8>>) -> Output {
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
        // A writer thread: esdk may stop reading early (that is the point of the limits).
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

/// Asserts exit `code` and a message containing `needle`.
#[track_caller]
fn fails(o: &Output, code: i32, needle: &str) {
    assert_eq!(o.status.code(), Some(code), "stderr: {}", stderr(o));
    let err = stderr(o);
    assert!(err.contains(needle), "expected {needle:?} in {err:?}");
}

/// The sorted names in `dir` (empty when it does not exist).
fn names(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A work folder with a fresh key `k.key`, a 100 kB plaintext `p.bin` and its encryption `c`.
fn setup() -> (tempfile::TempDir, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&esdk(d, &["keygen", "--output", "k.key"]));
    let plaintext: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    fs::write(d.join("p.bin"), &plaintext).unwrap();
    ok(&esdk(
        d,
        &["encrypt", "-w", "key=aes:k.key", "-i", "p.bin", "-o", "c"],
    ));
    (dir, plaintext)
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    let made = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(made.success());
}

/// Item 1: /dev/null, a FIFO and a Unix socket are written directly (with or without
/// `--overwrite`), under the release rules of standard output, and stay what they were.
#[cfg(unix)]
#[test]
fn special_files_are_written_directly_and_never_replaced() {
    use std::os::unix::fs::FileTypeExt as _;
    let (dir, plaintext) = setup();
    let d = dir.path();
    for extra in [None, Some("--overwrite")] {
        for (mode, input) in [("encrypt", "p.bin"), ("decrypt", "c")] {
            let mut args = vec![mode, "-w", "key=aes:k.key", "-i", input, "-o", "/dev/null"];
            args.extend(extra);
            ok(&esdk(d, &args));
        }
    }
    let null = fs::symlink_metadata("/dev/null").unwrap();
    assert!(
        null.file_type().is_char_device(),
        "/dev/null is still a device"
    );

    // A FIFO with a reader: the plaintext arrives through it, and it stays a FIFO.
    let fifo = d.join("fifo");
    mkfifo(&fifo);
    let read_fifo = |path: PathBuf| std::thread::spawn(move || fs::read(path).unwrap());
    let reader = read_fifo(fifo.clone());
    ok(&esdk(
        d,
        &[
            "decrypt",
            "-w",
            "key=aes:k.key",
            "-i",
            "c",
            "-o",
            "fifo",
            "--overwrite",
        ],
    ));
    assert!(
        fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(),
        "the FIFO was replaced"
    );
    assert_eq!(reader.join().unwrap(), plaintext);

    // Release rules of standard output: with --buffer, a message whose signature fails releases
    // nothing at all into the FIFO.
    let mut bad = fs::read(d.join("c")).unwrap();
    *bad.last_mut().unwrap() ^= 1;
    fs::write(d.join("bad"), &bad).unwrap();
    let reader = read_fifo(fifo.clone());
    let o = esdk(
        d,
        &[
            "decrypt",
            "-w",
            "key=aes:k.key",
            "-i",
            "bad",
            "-o",
            "fifo",
            "--buffer",
        ],
    );
    fails(&o, 1, "");
    assert!(reader.join().unwrap().is_empty(), "nothing released");

    // A Unix socket with a listener.
    let listener = std::os::unix::net::UnixListener::bind(d.join("sock")).unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        got
    });
    ok(&esdk(
        d,
        &["decrypt", "-w", "key=aes:k.key", "-i", "c", "-o", "sock"],
    ));
    assert_eq!(server.join().unwrap(), plaintext);
    assert!(
        fs::symlink_metadata(d.join("sock"))
            .unwrap()
            .file_type()
            .is_socket()
    );
    // No temporary file was ever made for them.
    assert_eq!(
        names(d),
        ["bad", "c", "fifo", "k.key", "p.bin", "sock"],
        "files left"
    );
}

/// Item 1: a link as the output, a link to a folder as the output folder, and a link planted
/// inside an existing output folder are all refused, and nothing is written through them.
#[cfg(unix)]
#[test]
fn links_are_refused_as_outputs_and_inside_output_folders() {
    use std::os::unix::fs::symlink;
    let (dir, _) = setup();
    let d = dir.path();
    let outside = d.join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("victim"), b"precious").unwrap();
    symlink("outside/victim", d.join("link")).unwrap();
    symlink("outside", d.join("outlink")).unwrap();
    let untouched = |d: &Path| {
        assert_eq!(names(&d.join("outside")), ["victim"]);
        assert_eq!(fs::read(d.join("outside/victim")).unwrap(), b"precious");
        assert!(fs::symlink_metadata(d.join("link")).unwrap().is_symlink());
        assert!(
            fs::symlink_metadata(d.join("outlink"))
                .unwrap()
                .is_symlink()
        );
    };
    for out in ["link", "outlink", "outlink/"] {
        for extra in [None, Some("--overwrite")] {
            let mut args = vec!["encrypt", "-w", "key=aes:k.key", "-i", "p.bin", "-o", out];
            args.extend(extra);
            fails(&esdk(d, &args), 2, "symbolic link");
            untouched(d);
        }
    }
    // Folders: `out/sub` leads outside the tree.
    fs::create_dir_all(d.join("in/sub")).unwrap();
    fs::write(d.join("in/b"), b"b").unwrap();
    fs::write(d.join("in/sub/a"), b"a").unwrap();
    fs::create_dir(d.join("out")).unwrap();
    symlink("../outside", d.join("out/sub")).unwrap();
    for out in ["out", "outlink", "outlink/"] {
        let o = esdk(
            d,
            &[
                "encrypt",
                "-w",
                "key=aes:k.key",
                "-i",
                "in",
                "-o",
                out,
                "--overwrite",
            ],
        );
        fails(&o, 2, "symbolic link");
        untouched(d);
        // Refused before any work: not even `b`, which needs no link, was written.
        assert_eq!(names(&d.join("out")), ["sub"], "{out}");
    }
}

/// Item 5: SIGINT, SIGTERM and SIGHUP while a message is being decrypted (its plaintext already
/// in the temporary output): exit 128 + the signal, and no temporary output is left.
#[cfg(unix)]
#[test]
fn signals_remove_temporary_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&esdk(d, &["keygen", "--output", "k.key"]));
    let plaintext: Vec<u8> = (0..4_000_000u32).map(|i| (i ^ (i >> 9)) as u8).collect();
    fs::write(d.join("p.bin"), &plaintext).unwrap();
    ok(&esdk(
        d,
        &["encrypt", "-w", "key=aes:k.key", "-i", "p.bin", "-o", "c"],
    ));
    let ct = fs::read(d.join("c")).unwrap();
    for (signal, code) in [("TERM", 143), ("HUP", 129), ("INT", 130)] {
        let mut child = Command::new(EXE)
            .args(["decrypt", "-w", "key=aes:k.key", "-i", "-", "-o", "out"])
            .current_dir(d)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Three quarters of the message, and the pipe stays open: esdk is mid-message, and
        // cannot finish whatever the timing.
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&ct[..ct.len() * 3 / 4]).unwrap();
        stdin.flush().unwrap();
        // Wait (for a state, not for a time) until decrypted plaintext is in the temporary file.
        let partial_len = || {
            fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap())
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(".esdk-partial-")
                })
                .map(|e| e.metadata().map_or(0, |m| m.len()))
                .max()
        };
        let mut polls = 0;
        while partial_len().unwrap_or(0) == 0 && polls < 1200 {
            std::thread::sleep(std::time::Duration::from_millis(50));
            polls += 1;
        }
        assert!(
            partial_len().unwrap_or(0) > 0,
            "esdk releases authenticated plaintext into a temporary file beside the target"
        );
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let o = child.wait_with_output().unwrap();
        drop(stdin);
        fails(&o, code, &format!("interrupted by SIG{signal}"));
        assert_eq!(names(d), ["c", "k.key", "p.bin"], "SIG{signal}: files left");
    }
}

/// Item 3: two inputs that would share an output, or an output file named like an output
/// folder, stop a folder run before anything is written; so does an existing output.
#[test]
fn colliding_folder_outputs_are_refused_before_any_work() {
    let (dir, _) = setup();
    let d = dir.path();
    let c = fs::read(d.join("c")).unwrap();
    let decrypt = |input: &str, output: &str| {
        esdk(
            d,
            &[
                "decrypt",
                "-w",
                "key=aes:k.key",
                "-i",
                input,
                "-o",
                output,
                "--overwrite",
            ],
        )
    };
    // `x` (no suffix) and `x.decrypted.encrypted` both decrypt to `x.decrypted`.
    fs::create_dir(d.join("in1")).unwrap();
    fs::write(d.join("in1/x"), &c).unwrap();
    fs::write(d.join("in1/x.decrypted.encrypted"), &c).unwrap();
    fails(&decrypt("in1", "out1"), 2, "would both be written to");
    assert_eq!(names(&d.join("out1")), Vec::<String>::new());
    // `a.encrypted` decrypts to the file `a`; `a/b.encrypted` needs `a` as a folder.
    fs::create_dir_all(d.join("in2/a")).unwrap();
    fs::write(d.join("in2/a.encrypted"), &c).unwrap();
    fs::write(d.join("in2/a/b.encrypted"), &c).unwrap();
    fails(&decrypt("in2", "out2"), 2, "a folder other outputs need");
    assert_eq!(names(&d.join("out2")), Vec::<String>::new());
    // Without --overwrite, an existing output stops the run before the first file.
    fs::create_dir(d.join("in3")).unwrap();
    fs::write(d.join("in3/a.encrypted"), &c).unwrap();
    fs::write(d.join("in3/b.encrypted"), &c).unwrap();
    fs::create_dir(d.join("out3")).unwrap();
    fs::write(d.join("out3/b"), b"precious").unwrap();
    let o = esdk(
        d,
        &["decrypt", "-w", "key=aes:k.key", "-i", "in3", "-o", "out3"],
    );
    fails(&o, 2, "exists");
    assert_eq!(names(&d.join("out3")), ["b"]);
}

/// Item 3: names that are not UTF-8 keep their bytes, so two of them that differ only in
/// invalid bytes (equal after a lossy conversion) get distinct outputs.
#[cfg(target_os = "linux")]
#[test]
fn folder_names_keep_their_bytes() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt as _;
    let (dir, _) = setup();
    let d = dir.path();
    let a = OsStr::from_bytes(b"a\xff");
    let b = OsStr::from_bytes(b"a\xfe");
    fs::create_dir(d.join("in")).unwrap();
    fs::write(d.join("in").join(a), b"first").unwrap();
    fs::write(d.join("in").join(b), b"second").unwrap();
    ok(&esdk(
        d,
        &["encrypt", "-w", "key=aes:k.key", "-i", "in", "-o", "enc"],
    ));
    let mut enc: Vec<Vec<u8>> = fs::read_dir(d.join("enc"))
        .unwrap()
        .map(|e| e.unwrap().file_name().as_bytes().to_vec())
        .collect();
    enc.sort();
    assert_eq!(enc, [&b"a\xfe.encrypted"[..], &b"a\xff.encrypted"[..]]);
    ok(&esdk(
        d,
        &["decrypt", "-w", "key=aes:k.key", "-i", "enc", "-o", "dec"],
    ));
    assert_eq!(fs::read(d.join("dec").join(a)).unwrap(), b"first");
    assert_eq!(fs::read(d.join("dec").join(b)).unwrap(), b"second");
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/python")
}

fn vector_keys() -> serde_json::Value {
    let text = fs::read_to_string(vectors_dir().join("keys.json")).expect("python vectors");
    serde_json::from_str(&text).unwrap()
}

/// Writes the vectors' PEM key `name` to `dir/file` with `mode`.
#[cfg(unix)]
fn write_pem(dir: &Path, file: &str, name: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    let keys = vector_keys();
    let path = dir.join(file);
    fs::write(&path, keys["keys"][name]["material"].as_str().unwrap()).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Item 4: key files must be regular files and are read with a bound; private ones open to
/// group or others get a warning.
#[cfg(unix)]
#[test]
fn key_files_are_regular_bounded_and_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let (dir, _) = setup();
    let d = dir.path();
    // /dev/zero is refused at once. The address-space limit turns an unbounded read into a
    // crash instead of a machine filling its memory.
    let o = Command::new("sh")
        .args([
            "-c",
            &format!("ulimit -v 4194304; exec {EXE} encrypt -w key=aes:/dev/zero -i p.bin -o out"),
        ])
        .current_dir(d)
        .output()
        .unwrap();
    fails(&o, 2, "/dev/zero is not a regular file");
    fs::create_dir(d.join("kdir")).unwrap();
    mkfifo(&d.join("kfifo"));
    for bad in ["kdir", "kfifo"] {
        let key = format!("key=aes:{bad}");
        let o = esdk(d, &["encrypt", "-w", &key, "-i", "p.bin", "-o", "out"]);
        fails(&o, 2, &format!("{bad} is not a regular file"));
    }
    fs::write(d.join("big.key"), vec![7u8; 100 << 10]).unwrap();
    let o = esdk(
        d,
        &[
            "encrypt",
            "-w",
            "key=aes:big.key",
            "-i",
            "p.bin",
            "-o",
            "out",
        ],
    );
    fails(&o, 2, "larger than 65536 bytes");
    fs::write(d.join("odd.key"), [7u8; 33]).unwrap();
    fs::set_permissions(d.join("odd.key"), fs::Permissions::from_mode(0o600)).unwrap();
    let o = esdk(
        d,
        &[
            "encrypt",
            "-w",
            "key=aes:odd.key",
            "-i",
            "p.bin",
            "-o",
            "out",
        ],
    );
    fails(&o, 2, "16, 24 or 32");
    assert!(!d.join("out").exists());

    // Permissions, as ssh checks them: a private key open to group or others is warned about.
    let encrypt = |key: &str| {
        let o = esdk(
            d,
            &[
                "encrypt",
                "-w",
                key,
                "-i",
                "p.bin",
                "-o",
                "out",
                "--overwrite",
            ],
        );
        ok(&o);
        stderr(&o)
    };
    let set_mode = |file: &str, mode: u32| {
        fs::set_permissions(d.join(file), fs::Permissions::from_mode(mode)).unwrap()
    };
    assert_eq!(encrypt("key=aes:k.key"), "", "0600: no warning");
    for mode in [0o644, 0o640, 0o604, 0o620] {
        set_mode("k.key", mode);
        let err = encrypt("key=aes:k.key");
        assert!(
            err.contains("warning: private key file k.key is accessible by group or others")
                && err.contains(&format!("{mode:04o}")),
            "{mode:o}: {err}"
        );
    }
    set_mode("k.key", 0o400);
    assert_eq!(encrypt("key=aes:k.key"), "", "0400: no warning");
    // RSA: the public key may be world-readable, the private key may not.
    write_pem(d, "pub.pem", "rsa-2048-public", 0o644);
    write_pem(d, "priv.pem", "rsa-2048-private", 0o640);
    assert_eq!(
        encrypt("key=rsa-public:pub.pem"),
        "",
        "public keys are public"
    );
    let o = esdk(
        d,
        &[
            "decrypt",
            "-w",
            "key=rsa-private:priv.pem",
            "-i",
            "out",
            "-o",
            "-",
        ],
    );
    ok(&o);
    assert!(stderr(&o).contains("warning: private key file priv.pem"));
}

/// The default RSA key name: `rsa-sha256:` and the SHA-256 of the DER public key.
fn fingerprint_name(public_pem: &str) -> String {
    use rsa::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};
    use sha2::Digest as _;
    let key = rsa::PublicKey::from_public_key_pem(public_pem).unwrap();
    let der = key.to_public_key_der().unwrap();
    let hex: String = sha2::Sha256::digest(der.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("rsa-sha256:{hex}")
}

/// Issue item 3 (CLI part): each RSA key gets its own default name, so the data keys of a
/// multi-recipient message never share one; explicit names and messages written under the old
/// default name `default` still decrypt.
#[cfg(unix)]
#[test]
fn rsa_keys_get_distinct_default_names() {
    let (dir, plaintext) = setup();
    let d = dir.path();
    write_pem(d, "a.pub", "rsa-2048-public", 0o644);
    write_pem(d, "a.priv", "rsa-2048-private", 0o600);
    write_pem(d, "b.pub", "rsa-2048-wrong-public", 0o644);
    write_pem(d, "b.priv", "rsa-2048-wrong-private", 0o600);
    let keys = vector_keys();
    let pem = |name: &str| keys["keys"][name]["material"].as_str().unwrap().to_owned();
    for padding in ["padding=pkcs1", "padding=oaep-sha256"] {
        let o = esdk(
            d,
            &[
                "encrypt",
                "-w",
                "key=rsa-public:a.pub",
                padding,
                "-w",
                "key=rsa-public:b.pub",
                padding,
                "-i",
                "p.bin",
                "-o",
                "m",
                "--overwrite",
                "--metadata-output",
                "-",
            ],
        );
        ok(&o);
        let meta: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let names: Vec<String> = meta["encrypted_data_keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                String::from_utf8(b64.decode(k["provider_info"].as_str().unwrap()).unwrap())
                    .unwrap()
            })
            .collect();
        assert_eq!(
            names,
            [
                fingerprint_name(&pem("rsa-2048-public")),
                fingerprint_name(&pem("rsa-2048-wrong-public"))
            ]
        );
        for private in ["key=rsa-private:a.priv", "key=rsa-private:b.priv"] {
            let o = esdk(
                d,
                &["decrypt", "-w", private, padding, "-i", "m", "-o", "-"],
            );
            ok(&o);
            assert_eq!(o.stdout, plaintext, "{private} {padding}");
        }
    }
    // A message written with the old default name still decrypts without `name=`, and explicit
    // names keep working on both sides.
    for name in ["name=default", "name=team-key"] {
        ok(&esdk(
            d,
            &[
                "encrypt",
                "-w",
                "key=rsa-public:a.pub",
                name,
                "-i",
                "p.bin",
                "-o",
                "old",
                "--overwrite",
            ],
        ));
        let mut args = vec!["decrypt", "-w", "key=rsa-private:a.priv"];
        if name != "name=default" {
            args.push(name);
        }
        args.extend(["-i", "old", "-o", "-"]);
        let o = esdk(d, &args);
        ok(&o);
        assert_eq!(o.stdout, plaintext, "{name}");
    }
    // The other key does not decrypt it.
    let o = esdk(
        d,
        &[
            "decrypt",
            "-w",
            "key=rsa-private:b.priv",
            "-i",
            "old",
            "-o",
            "-",
        ],
    );
    fails(&o, 1, "");
}

/// Items 6 and 7: a header declaring 1 GiB frames, or a non-framed body declaring 1 GiB, is
/// refused by default before its body is read, with the option that raises the limit named;
/// `--max-frame-length`, `--max-body-length` and `--max-encrypted-data-keys` move the limits.
#[test]
fn decrypt_limits_refuse_hostile_sizes_by_default() {
    let (dir, plaintext) = setup();
    let d = dir.path();
    // The header of a real message (unsigned suite, empty plaintext) declaring 1 GiB frames: the
    // message is the header and a 40-byte empty final frame.
    fs::write(d.join("empty"), b"").unwrap();
    ok(&esdk(
        d,
        &[
            "encrypt",
            "-w",
            "key=aes:k.key",
            "-i",
            "empty",
            "-o",
            "big",
            "--frame-length",
            "1073741824",
            "--algorithm",
            "0x0478",
        ],
    ));
    let big = fs::read(d.join("big")).unwrap();
    let header = &big[..big.len() - 40];
    assert_eq!(
        &big[big.len() - 40..big.len() - 36],
        &[0xff; 4],
        "final frame"
    );
    // The hostile message: that header, then the start of a first 1 GiB frame (sequence number
    // 1 and its IV) and 8 MiB of the garbage a sender can stream.
    let mut hostile = header.to_vec();
    hostile.extend_from_slice(&1u32.to_be_bytes());
    hostile.extend_from_slice(&[0; 8]);
    hostile.extend_from_slice(&1u32.to_be_bytes());
    hostile.extend(std::iter::repeat_n(0x5a, 8 << 20));
    let decrypt = |extra: &[&str], input: Option<Vec<u8>>| {
        let mut args = vec!["decrypt", "-w", "key=aes:k.key", "-o", "out", "--overwrite"];
        args.extend_from_slice(extra);
        if input.is_some() {
            args.extend(["-i", "-"]);
        }
        esdk_stdin(d, &args, input)
    };
    let o = decrypt(&[], Some(hostile.clone()));
    fails(&o, 1, "1073741824");
    fails(&o, 1, "--max-frame-length");
    assert!(!d.join("out").exists());
    // With the limit raised, the same bytes are read as a frame (and fail only at its end).
    let o = decrypt(&["--max-frame-length", "1073741824"], Some(hostile));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!stderr(&o).contains("--max-frame-length"), "{}", stderr(&o));
    ok(&decrypt(
        &["-i", "big", "--max-frame-length", "1073741824"],
        None,
    ));

    // The limit is the declared frame length: 4096-byte frames pass at 4096, not at 4095.
    fails(
        &decrypt(&["-i", "c", "--max-frame-length", "4095"], None),
        1,
        "--max-frame-length",
    );
    ok(&decrypt(&["-i", "c", "--max-frame-length", "4096"], None));
    assert_eq!(fs::read(d.join("out")).unwrap(), plaintext);

    // Non-framed: a Python-written message with a 3000-byte body.
    let keys = vector_keys();
    let b64 = base64::engine::general_purpose::STANDARD;
    let aes = b64
        .decode(keys["keys"]["aes-256"]["material"].as_str().unwrap())
        .unwrap();
    fs::write(d.join("v.key"), aes).unwrap();
    let nonframed = fs::read(vectors_dir().join("ciphertexts/crafted-ok-0578-nonframed")).unwrap();
    fs::write(d.join("nf"), &nonframed).unwrap();
    let expected = fs::read(vectors_dir().join("plaintexts/pt-3000")).unwrap();
    let nf = |extra: &[&str], input: Option<Vec<u8>>| {
        let mut args = vec![
            "decrypt",
            "-w",
            "key=aes:v.key",
            "namespace=aws-raw-vectors-persistant",
            "name=aes-256",
            "-o",
            "out",
            "--overwrite",
        ];
        args.extend_from_slice(extra);
        if input.is_some() {
            args.extend(["-i", "-"]);
        }
        esdk_stdin(d, &args, input)
    };
    fails(
        &nf(&["-i", "nf", "--max-body-length", "2999"], None),
        1,
        "--max-body-length",
    );
    ok(&nf(&["-i", "nf", "--max-body-length", "3000"], None));
    assert_eq!(fs::read(d.join("out")).unwrap(), expected);
    ok(&nf(&["-i", "nf"], None));
    // The same message declaring a 1 GiB body (the length field is not authenticated before the
    // body is): refused by default at the length.
    let field = 3000u64.to_be_bytes();
    let at: Vec<usize> = (0..nonframed.len() - 8)
        .filter(|&i| nonframed[i..i + 8] == field)
        .collect();
    assert_eq!(at.len(), 1, "one body length field");
    let mut hostile = nonframed[..at[0]].to_vec();
    hostile.extend_from_slice(&(1u64 << 30).to_be_bytes());
    hostile.extend(std::iter::repeat_n(0x5a, 8 << 20));
    let o = nf(&[], Some(hostile));
    fails(&o, 1, "1073741824");
    fails(&o, 1, "--max-body-length");

    // --max-encrypted-data-keys defaults to 32, on encrypt and on decrypt.
    let mut many: Vec<String> = Vec::new();
    for i in 0..33 {
        many.extend(["-w".into(), "key=aes:k.key".into(), format!("name=k{i}")]);
    }
    let mut args: Vec<&str> = vec!["encrypt", "-i", "p.bin", "-o", "m33"];
    args.extend(many.iter().map(String::as_str));
    let o = esdk(d, &args);
    fails(&o, 1, "32");
    fails(&o, 1, "--max-encrypted-data-keys");
    assert!(!d.join("m33").exists());
    args.extend(["--max-encrypted-data-keys", "33"]);
    ok(&esdk(d, &args));
    let o = esdk(
        d,
        &[
            "decrypt",
            "-w",
            "key=aes:k.key",
            "name=k5",
            "-i",
            "m33",
            "-o",
            "-",
        ],
    );
    fails(&o, 1, "--max-encrypted-data-keys");
    let o = esdk(
        d,
        &[
            "decrypt",
            "-w",
            "key=aes:k.key",
            "name=k5",
            "-i",
            "m33",
            "-o",
            "-",
            "--max-encrypted-data-keys",
            "33",
        ],
    );
    ok(&o);
    assert_eq!(o.stdout, plaintext);
}
