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
//! The [`Decryptor`](crate::proto::Decryptor) implements the specification's release rules, and
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
//! ## Limits
//!
//! Every length in a message is checked before memory is committed to it, against the format's
//! own bounds and against [`Limits`](crate::Limits). Memory per stream is bounded by one frame
//! (plus the header); set `max_frame_length` when you decrypt messages from untrusted writers,
//! and `max_encrypted_data_keys` when you know how many keys your writers use (each encrypted
//! data key may cost a key-service call).
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
