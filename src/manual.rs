//! # The manual: what esdk guarantees, and what it asks of you
//!
//! This module has no code; it is the design and threat-model chapter of the documentation.
//!
//! ## What is authenticated, and when
//!
//! | part of the message | authenticated by | checked when |
//! |---|---|---|
//! | header body (suite, message ID, stored encryption context, encrypted data keys, framing) | the header tag: AES-GCM over an empty plaintext with AAD = the header body *as received* ‖ the required encryption context pairs | right after the data key is obtained, before any body byte is decrypted |
//! | the data key ↔ message binding (v2 suites 0x0478, 0x0578) | the commit key in the header, recomputed from the data key and compared in constant time | before the header tag |
//! | each frame | its own AES-GCM tag, with AAD = message ID ‖ content string ‖ sequence number ‖ length | when the frame is complete |
//! | frame order and the end of the message | sequence numbers (checked one by one) and the final-frame marker inside the AAD | frame by frame; the end at the final frame |
//! | the whole message (signing suites 0x0214, 0x0346, 0x0378, 0x0578) | an ECDSA signature over header and body, verified with the public key from the encryption context | at the footer |
//!
//! The encrypted data keys are authenticated *by the header tag*, which needs the data key: a
//! keyring must therefore assume that any encrypted data key it is given may be forged, and
//! every keyring here treats a failed unwrap as "not mine" and moves on.
//!
//! ## When plaintext is released
//!
//! The [`BodyDecryptor`](crate::proto::BodyDecryptor) implements the specification's release rules, and
//! every adapter inherits them:
//!
//! * nothing before the header tag verifies;
//! * a frame's plaintext only after that frame's tag verifies;
//! * for signing suites, the final frame (and a non-framed body) only after the signature
//!   verifies. Earlier frames of a signed message *are* released once their tags verify: a
//!   caller that streams a signed message must be ready to discard what it received if the
//!   stream then fails. The one-shot [`Client::decrypt`](crate::Client::decrypt) releases
//!   nothing unless every check passed.
//! * Bytes after a complete message are an error, so a truncated-then-extended stream cannot
//!   smuggle data.
//! * The streaming adapters of [`crate::io`] offer two stricter modes
//!   ([`Release`](crate::io::Release)): `UnsignedOnly` refuses a signed message right after its
//!   header, and `Verified` releases nothing until the whole message has verified and the input
//!   has ended, holding the plaintext in memory up to a limit and beyond it in a temporary file
//!   encrypted under a one-time key.
//!
//! A stream that ends early is an error ([`FormatError::Truncated`](crate::error::FormatError)),
//! never a clean end of file.
//!
//! ## Key commitment
//!
//! Under the default policy, REQUIRE_ENCRYPT_REQUIRE_DECRYPT, only the committing suites 0x0478
//! and 0x0578 are written and read. They make it impossible to craft one message that decrypts
//! to two different plaintexts under two different data keys. Use the ALLOW_DECRYPT policies only
//! while migrating from messages written by older SDKs.
//!
//! ## Limits: what a hostile sender can cost you
//!
//! Anyone who can encrypt to you (with your RSA, ECDH or KMS *public* key, or with no key at all
//! for everything before the header tag) controls the sizes, the counts and the timing of what
//! you decrypt. Every length in a message is checked before memory is committed to it, against
//! the format's own bounds and against [`Limits`](crate::Limits), and every limit holds under
//! the **default** settings for every way of decrypting (one-shot, [`HeaderDecoder`](crate::proto::HeaderDecoder),
//! each adapter of [`crate::io`]):
//!
//! | limit (default) | defends against |
//! |---|---|
//! | [`max_frame_length`](crate::Limits::max_frame_length) (4 MiB) | a header that declares 1 GiB frames, followed by 1 GiB of anything: a frame is held whole until its tag verifies, so a decryptor would hold it all. It is refused right after the header, before a byte of the frame is read, with an error that names the option. Other ESDKs write 4 KiB (their default) to 1 MiB frames |
//! | [`max_body_len`](crate::Limits::max_body_len) (4 MiB) | the same with a non-framed body (written only by legacy SDKs), which the format lets declare 64 GiB |
//! | [`max_header_len`](crate::Limits::max_header_len) (4 MiB) | a header is held whole until its tag verifies |
//! | [`max_encryption_context_len`](crate::Limits::max_encryption_context_len) (65535) | the stored context is parsed into a map |
//! | [`max_encrypted_data_keys`](crate::Limits::max_encrypted_data_keys) (none; **set it**) | work per message: each encrypted data key may cost an RSA decryption (about 3 ms; a 4 MiB header holds some 15,000) or a key-service call. A message with more is refused before any key is read, and the keyrings working on one message (children of a multi-keyring included) stop after that many attempts in all. Set it to the most recipients your writers use (10 covers most services: `Client::builder().max_encrypted_data_keys(10)`); the format allows 65535 |
//!
//! Besides the limits:
//!
//! * **Memory.** A streaming decryption holds at most about two frames (or batches of frames)
//!   plus a read chunk: with the defaults, a few MiB per stream, whatever the sender declares.
//!   (`benches/memory.rs` measures it.)
//! * **Time before authentication.** The header is parsed incrementally: each field is read once,
//!   however the bytes arrive, so a header trickled a byte at a time costs the same work as one
//!   sent whole (the decryptor used to parse it again from its first byte whenever more bytes
//!   arrived: quadratic work, with no key needed).
//! * **Error messages.** A failed decryption lists at most
//!   [`MAX_LISTED_ATTEMPTS`](crate::error::MAX_LISTED_ATTEMPTS) keyring attempts, then "and N
//!   more" (all of them stay in the error value).
//! * **Plaintext length.** [`EncryptOptions::max_plaintext_length`](crate::EncryptOptions::max_plaintext_length)
//!   is a promise the encryptor keeps: encrypting more fails with
//!   [`LimitError::PlaintextLengthExceeded`](crate::error::LimitError::PlaintextLengthExceeded),
//!   so a caller cannot declare 1 byte to a caching CMM (which counts the declared bytes against
//!   its byte limit) and then stream gigabytes under the same data key.
//! * **Spill files** of the verified release mode are created mode 0600, unlinked at once, and
//!   hold only ciphertext under a one-time key.
//! * **32-bit targets.** Frame and body lengths whose wire length does not fit in the address
//!   space are refused, rather than wrapping around.
//!
//! ## RSA PKCS#1 v1.5: candidates, not keys
//!
//! A data key unwrapped with RSA PKCS#1 v1.5 is only a *candidate*. The RustCrypto backend
//! decrypts with *implicit rejection*: a ciphertext that is not for this RSA key decrypts to
//! random bytes rather than failing, so that an attacker learns nothing from the outcome (the
//! Bleichenbacher and Marvin padding oracles). The encrypted data keys of two RSA recipients
//! with the same provider ID and key name cannot be told apart, and about once in 250 tries the
//! other recipient's key unwraps to random bytes of exactly the data key's length.
//!
//! So the [`RawRsaKeyring`](crate::RawRsaKeyring) checks each PKCS#1 v1.5 candidate against the
//! message before taking it, through the materials
//! ([`DecryptionMaterials::check_candidate`](crate::DecryptionMaterials::check_candidate)): the
//! key commitment of v2 messages, the header tag of v1 messages. A wrong candidate is a failed
//! attempt like any other, and the search goes on with the next encrypted data key and the next
//! keyring.
//!
//! The aws-lc backend reports bad padding as an error. Left at that, "unwrapping failed" (bad
//! padding) and "commitment mismatch" (good padding, wrong key) would be two different outcomes,
//! which is a padding oracle. The keyring removes it for both backends: on *any* PKCS#1 v1.5
//! failure (an error, or a result of the wrong length) it checks a random candidate of the right
//! length instead, exactly as it checks a real one. Bad padding and a wrong candidate then give
//! the same error after the same work (one RSA decryption, one key derivation, one comparison).
//! This emulates implicit rejection above the backend rather than inside it: what remains is the
//! backend's own constant-time decryption. OAEP needs none of this: its failures are explicit and
//! indistinguishable by design. Prefer OAEP for new keys.
//!
//! ## What the caller must do
//!
//! * **Check the encryption context.** Decryption proves the context is the one the writer used;
//!   it does not prove it is the one you expected. Pass the expected pairs to
//!   `decrypt(...).encryption_context(...)`, which fails on any mismatch.
//! * **Finish what you start.** An [`Encryptor`](crate::proto::Encryptor) must be finished; a
//!   writer adapter must be shut down. Without the final frame the output is not a message and
//!   every reader will reject it.
//! * **Keep keys secret.** Data keys and signing keys are zeroized when dropped and never
//!   printed by `Debug`; raw wrapping keys are held only inside the crypto backend's keyed
//!   objects.
//!
//! ## Which cache
//!
//! The hierarchical keyring (for branch keys) and the caching CMM (for data keys) take a
//! [`CacheType`](crate::cache::CacheType), named as in the Material Providers Library:
//!
//! * **`Default`** — an LRU cache of `entry_capacity` entries (1000). When an entry is missing or
//!   past its TTL, one caller fetches it and the others wait for that fetch. The right choice
//!   unless many callers cross the TTL boundary together.
//! * **`StormTracking`** — the same LRU, plus: from `grace_period` (10 s) before an entry
//!   expires, one caller per `grace_interval` (1 s) refreshes it while every other caller keeps
//!   the old entry; after expiry, callers wait for the refresh for up to `in_flight_ttl` (10 s);
//!   at most `fan_out` (20) identifiers are fetched at once. Pick it for busy services. The grace
//!   period must be shorter than the TTL (checked), and the grace interval should be longer than
//!   the slowest answer from the key store.
//! * **`Shared`** — one cache you make yourself, passed as an `Arc` to several keyrings and
//!   CMMs. Their entries are kept apart by partition ID (random unless you set one), logical key
//!   store name and branch key ID. Give two keyrings the same partition ID only if each may use
//!   the other's branch keys: a cache hit skips the key store, and with it the KMS access check.
//! * **`No`** — every request goes to the key store or the underlying CMM.
//!
//! The MPL also has `SingleThreaded` and `MultiThreaded` caches. Here both are `Default`,
//! because every cache in [`crate::cache`] is thread-safe.
//!
//! What a storm costs: 1,000 tasks each encrypt through one hierarchical keyring every 200 ms
//! (5,000 requests per second) for 4 s, starting 2 s before the branch key expires (TTL 60 s).
//! The key store is in-process and answers after a fixed delay. The test runs on Tokio's paused
//! clock, so these figures are exact and do not depend on the machine
//! (`cargo test --test cache_types storm -- --nocapture`):
//!
//! | cache | store answers in | key-store calls | requests that waited | longest wait | total wait |
//! |---|---|---|---|---|---|
//! | `No` | 500 ms | 20,000 | 20,000 | 500 ms | 10,000 s |
//! | `Default` | 500 ms | 1 | 1,000 (every task, once) | 500 ms | 400.5 s |
//! | `StormTracking` | 500 ms | 1 | 1 (the refresher) | 500 ms | 0.5 s |
//! | `Default` | 2.5 s | 1 | 1,000 | 2.5 s | 2,400.5 s |
//! | `StormTracking` | 2.5 s | 3 | 1,000 | 2.5 s | 406.1 s |
//!
//! When the key store answers within the grace interval, storm tracking turns the stall into one
//! refresh that nobody else waits for. The longest wait does not change: the caller that
//! refreshes still waits for the key store. When the key store is slower than the grace
//! interval, a new refresh starts every interval until the first one returns (3 calls here), and
//! requests that arrive after expiry wait for that first refresh. Even so, the total wait is a
//! sixth of `Default`'s.
