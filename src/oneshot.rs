//! The one-shot drivers: [`Client::encrypt`] and [`Client::decrypt`] over the sans-IO
//! [`Encryptor`](crate::proto::Encryptor) and [`Decryptor`](crate::proto::Decryptor), in
//! batches of frames on every core for large messages (see [`crate::parallel`]). The calls,
//! their options and the header phase live in [`crate::client`]; the frame slot layout and the
//! runs of frames in `proto::frames`.

use bytes::BytesMut;

use crate::client::{Client, DecryptOutput, EncryptOptions, EncryptOutput, MaterialsSource};
use crate::context::EncryptionContext;
use crate::error::{Error, FormatError, Result};
use crate::format::FrameLength;
use crate::parallel::{self, Parallelism};
use crate::proto::frames;
use crate::proto::{DecryptEvent, Encryptor};

/// One-shot encryption of `plaintext`: the header phase, then every frame, in batches on
/// every core when the client's [`Parallelism`] applies to the message.
pub(crate) async fn encrypt(
    client: &Client,
    source: &MaterialsSource,
    plaintext: &[u8],
    options: EncryptOptions,
) -> Result<EncryptOutput> {
    let mut options = options;
    options.plaintext_length = Some(plaintext.len() as u64);
    let mut encryptor = client.encryptor(source, &options).await?;
    let par = *client.parallelism();
    let ciphertext = if par.applies(plaintext.len()) {
        encrypt_parallel(&mut encryptor, plaintext, &par).await?
    } else {
        // One allocation for the whole message: the header, then room for every frame (a
        // frame adds at most 40 bytes: sequence number, final-frame marker and length, IV,
        // tag) and the footer (at most 2 + 104 bytes); it becomes the returned Vec without
        // a copy.
        let mut out = BytesMut::new();
        encryptor.write_header(&mut out);
        let frame_length = FrameLength::new(encryptor.header().frame_length())
            .ok_or_else(|| Error::misuse("zero frame length"))?;
        out.reserve(max_body_len(plaintext.len(), frame_length));
        encryptor.update(plaintext, &mut out)?;
        encryptor.finish(&mut out)?;
        Vec::from(out)
    };
    let header = encryptor.header().clone();
    let mut encryption_context = header.encryption_context().clone();
    for (k, v) in options.encryption_context.iter() {
        encryption_context.insert(k, v);
    }
    Ok(EncryptOutput {
        ciphertext,
        header,
        encryption_context,
    })
}

/// Room for the body and footer of a message with `len` plaintext bytes: a frame adds at most
/// 40 bytes (sequence number, final-frame marker and length, IV, tag), the footer at most
/// 2 + 104.
fn max_body_len(len: usize, frame_length: FrameLength) -> usize {
    let frames = len / frame_length.get() as usize + 1;
    len + frames * 40 + 106
}

/// One-shot encryption in batches of frames on every core (see [`crate::parallel`]).
///
/// Large outputs are allocated zeroed (fresh pages from the OS, not yet touched) and each frame
/// is written at its place by the thread that seals it, so the page faults of the new buffer
/// are spread over the cores too; smaller ones are laid out by this thread and sealed in place
/// (see [`parallel::FRESH_PAGES_BYTES`]).
async fn encrypt_parallel(
    encryptor: &mut Encryptor,
    plaintext: &[u8],
    par: &Parallelism,
) -> Result<Vec<u8>> {
    let mut head = BytesMut::new();
    encryptor.write_header(&mut head);
    let frame_length = FrameLength::new(encryptor.header().frame_length())
        .ok_or_else(|| Error::misuse("zero frame length"))?;
    let f = frame_length.get() as usize;
    let capacity = head.len() + max_body_len(plaintext.len(), frame_length);
    let fresh = capacity >= parallel::FRESH_PAGES_BYTES;
    let mut out = if fresh {
        vec![0u8; capacity]
    } else {
        Vec::with_capacity(capacity)
    };
    let mut len = head.len();
    if fresh {
        out[..len].copy_from_slice(&head);
    } else {
        out.extend_from_slice(&head);
    }
    let mut rest = plaintext;
    let batch = par.one_shot_batch_frames(f);
    while let Some(mut run) = encryptor.claim_frames(rest.len(), batch) {
        let (src, more) = rest.split_at(run.jobs.plain_total());
        let wire = run.jobs.wire_total();
        if fresh {
            parallel::seal(&mut run, Some(src), &mut out[len..len + wire], par)?;
        } else {
            frames::lay_out(src, f, &mut out);
            parallel::seal(&mut run, None, &mut out[len..len + wire], par)?;
        }
        encryptor.end_run(run);
        len += wire;
        rest = more;
        parallel::yield_now().await;
    }
    let mut tail = BytesMut::new();
    encryptor.update(rest, &mut tail)?;
    encryptor.finish(&mut tail)?;
    if fresh {
        out[len..len + tail.len()].copy_from_slice(&tail);
        out.truncate(len + tail.len());
    } else {
        out.extend_from_slice(&tail);
    }
    Ok(out)
}

/// How much ciphertext one-shot decryption hands the decryptor at a time.
const DECRYPT_PIECE: usize = 256 * 1024;

/// One-shot decryption of a whole message: nothing is returned unless every check passed.
pub(crate) async fn decrypt(
    client: &Client,
    source: &MaterialsSource,
    ciphertext: &[u8],
    reproduced: Option<&EncryptionContext>,
    unsigned_only: bool,
) -> Result<DecryptOutput> {
    let mut decryptor = client.decryptor(unsigned_only);
    let par = *client.parallelism();
    // The ciphertext goes to the decryptor a piece at a time through one small buffer, in
    // which frames are decrypted in place (in cache) before their plaintext is copied to
    // the output: one pass over the output, no second copy of the message in memory.
    // Large messages instead go in batches of frames straight from the ciphertext to their
    // place in the output, on every core (see `crate::parallel`). The output is allocated
    // zeroed and untouched (plaintext is never longer than the ciphertext) and cut to
    // length at the end.
    let mut rest = ciphertext;
    let mut input = BytesMut::with_capacity(DECRYPT_PIECE.min(rest.len()));
    let mut plaintext = Vec::new();
    // Bytes of `plaintext` written; `plaintext` is longer only when allocated zeroed.
    let mut filled = 0;
    let mut context = None;
    let mut batches = false;
    loop {
        if batches && input.is_empty() {
            let frame_length = decryptor.header().map_or(1, |h| h.frame_length() as usize);
            if let Some(mut run) =
                decryptor.claim_frames(rest, par.one_shot_batch_frames(frame_length))
            {
                let (src, more) = rest.split_at(run.jobs.wire_total());
                let n = run.jobs.plain_total();
                let copied = plaintext.len() == filled;
                if copied {
                    // Laid out here (the one copy), opened in place by the workers.
                    frames::copy_contents(src, run.jobs.cipher.wire_len(), &mut plaintext);
                }
                let dst = &mut plaintext[filled..filled + n];
                let outcome = parallel::open_to(&mut run, src, dst, copied, &par);
                decryptor.end_run(run, outcome)?;
                filled += n;
                rest = more;
                parallel::yield_now().await;
                continue;
            }
            batches = false;
        }
        let event = decryptor.decode(&mut input).map_err(|e| match e {
            // Count the trailing bytes not handed over yet too.
            Error::Format(FormatError::TrailingData(n)) => {
                FormatError::TrailingData(n + rest.len()).into()
            }
            e => e,
        })?;
        match event {
            Some(DecryptEvent::Header(header)) => {
                let materials = client
                    .decrypt_materials(source, &header, reproduced)
                    .await?;
                decryptor.supply_materials(&materials)?;
                context = Some(materials.encryption_context().clone());
                // The body starts right after the header: what `input` holds is its first
                // bytes, still in `ciphertext`.
                let body = &ciphertext[decryptor.header_len()..];
                if par.applies(body.len()) {
                    rest = body;
                    input.clear();
                    batches = true;
                }
                // Plaintext is never longer than the body (see `parallel::FRESH_PAGES_BYTES`
                // for the zeroed allocation).
                plaintext = if batches && body.len() >= parallel::FRESH_PAGES_BYTES {
                    vec![0u8; body.len()]
                } else {
                    Vec::with_capacity(body.len())
                };
            }
            Some(DecryptEvent::Plaintext(chunk)) => {
                if plaintext.len() == filled {
                    plaintext.extend_from_slice(&chunk);
                } else {
                    plaintext[filled..filled + chunk.len()].copy_from_slice(&chunk);
                }
                filled += chunk.len();
            }
            Some(DecryptEvent::Done) => break,
            None if rest.is_empty() => return Err(FormatError::Truncated.into()),
            None => {
                // A piece, or as much again as is buffered when a large frame is still
                // incomplete, so that buffering it costs linear time.
                let (piece, more) = rest.split_at(rest.len().min(DECRYPT_PIECE.max(input.len())));
                input.extend_from_slice(piece);
                rest = more;
            }
        }
    }
    if !rest.is_empty() {
        return Err(FormatError::TrailingData(input.len() + rest.len()).into());
    }
    decryptor.finish(&input)?;
    let header = decryptor.header().cloned().ok_or(FormatError::Truncated)?;
    plaintext.truncate(filled);
    Ok(DecryptOutput {
        plaintext,
        header,
        encryption_context: context.unwrap_or_default(),
    })
}
