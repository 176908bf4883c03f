//! Hostile senders (issue 14): each promise of the README and `esdk::manual` must hold when the
//! sender controls timing, sizes and key material, under default settings. Every test counts
//! work or bytes, never time.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use esdk::io::{DecryptOptions, DecryptingReader, DecryptingWriter, MessageDecoder};
use esdk::proto::DecryptEvent;
use esdk::{Client, MaterialsSource, RawAesKeyring};
use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio_util::codec::FramedRead;

// ---------------------------------------------------------------------------------------------
// Helpers

fn aes_keys() -> MaterialsSource {
    MaterialsSource::from(RawAesKeyring::new("hostile", "aes", &[7u8; 32]).unwrap())
}

/// An `AsyncRead` that hands out its bytes `step` at a time, as a trickling sender would.
struct Trickle {
    data: Bytes,
    step: usize,
}

impl AsyncRead for Trickle {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.data.len().min(self.step).min(buf.remaining());
        let chunk = self.data.split_to(n);
        buf.put_slice(&chunk);
        Poll::Ready(Ok(()))
    }
}

/// A v2 header (body and a bogus tag) with an encryption context of about `ec_len` bytes and
/// `edks` empty encrypted data keys: what a sender with no key at all can make.
fn hostile_header(ec_len: usize, edks: u16, frame_length: u32) -> Vec<u8> {
    let mut ec = Vec::new();
    let mut pairs = 0u16;
    let mut body = Vec::new();
    while body.len() + 2 + 16 <= ec_len {
        let k = format!("k{pairs:05}");
        body.extend_from_slice(&(k.len() as u16).to_be_bytes());
        body.extend_from_slice(k.as_bytes());
        body.extend_from_slice(&5u16.to_be_bytes());
        body.extend_from_slice(b"value");
        pairs += 1;
    }
    ec.extend_from_slice(&pairs.to_be_bytes());
    ec.extend_from_slice(&body);
    let mut h = vec![0x02, 0x04, 0x78];
    h.extend_from_slice(&[0x11; 32]);
    h.extend_from_slice(&(ec.len() as u16).to_be_bytes());
    h.extend_from_slice(&ec);
    h.extend_from_slice(&edks.to_be_bytes());
    for _ in 0..edks {
        h.extend_from_slice(&[0; 6]);
    }
    h.push(0x02);
    h.extend_from_slice(&frame_length.to_be_bytes());
    h.extend_from_slice(&[0x22; 32]);
    h.extend_from_slice(&[0x33; 16]);
    h
}

/// Header-parse work of `f` on this thread.
async fn work_of<F: std::future::Future<Output = ()>>(f: F) -> u64 {
    let before = esdk::format::header_parse_work();
    f.await;
    esdk::format::header_parse_work() - before
}

// ---------------------------------------------------------------------------------------------
// Item 2: a trickled header costs linear work.

#[tokio::test]
async fn a_header_fed_a_byte_at_a_time_costs_linear_work() {
    // A 64 KiB context and 20,000 empty data keys (about 190 KB of header).
    let header = hostile_header(65_000, 20_000, 4096);
    let client = Client::new();

    // One parse of the whole header, as the reference.
    let whole = work_of(async {
        let mut d = client.decryptor(false);
        let mut input = BytesMut::from(&header[..]);
        assert!(matches!(
            d.decode(&mut input).unwrap(),
            Some(DecryptEvent::Header(_))
        ));
    })
    .await;
    assert!(whole as usize >= header.len() / 2, "work {whole}");

    let mut ratios = Vec::new();
    // The sans-IO decryptor, a byte per call.
    let w = work_of(async {
        let mut d = client.decryptor(false);
        let mut input = BytesMut::new();
        let mut got = false;
        for &b in &header {
            input.put_u8(b);
            if let Some(ev) = d.decode(&mut input).unwrap() {
                assert!(matches!(ev, DecryptEvent::Header(_)));
                got = true;
                break;
            }
        }
        assert!(got);
    })
    .await;
    ratios.push(("Decryptor", w));
    // DecryptingReader over a reader that yields a byte per read.
    let w = work_of(async {
        let inner = Trickle {
            data: Bytes::from(header.clone()),
            step: 1,
        };
        let err = DecryptingReader::new(&client, aes_keys(), inner, &DecryptOptions::new())
            .await
            .unwrap_err();
        assert!(matches!(err, esdk::Error::Keyring(_)), "{err}");
    })
    .await;
    ratios.push(("DecryptingReader", w));
    // DecryptingWriter, written a byte per write.
    let w = work_of(async {
        let mut w = DecryptingWriter::new(&client, aes_keys(), Vec::new(), &DecryptOptions::new());
        let mut failed = false;
        for b in header.chunks(1) {
            if w.write_all(b).await.is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed || w.shutdown().await.is_err());
    })
    .await;
    ratios.push(("DecryptingWriter", w));
    // decrypt_stream over one-byte items.
    let w = work_of(async {
        let items = futures::stream::iter(
            header
                .iter()
                .map(|&b| Ok::<_, io::Error>(Bytes::copy_from_slice(&[b])))
                .collect::<Vec<_>>(),
        );
        let out =
            esdk::io::decrypt_stream(&client, aes_keys(), items, &DecryptOptions::new()).await;
        assert!(out.is_err());
    })
    .await;
    ratios.push(("decrypt_stream", w));
    // The codec over a reader that yields a byte per read.
    let w = work_of(async {
        let inner = Trickle {
            data: Bytes::from(header.clone()),
            step: 1,
        };
        let mut framed = FramedRead::new(inner, MessageDecoder::new(&client, &DecryptOptions::new()));
        let first = framed.next().await.unwrap().unwrap();
        assert!(matches!(first, esdk::io::DecryptItem::Header(_)));
    })
    .await;
    ratios.push(("MessageDecoder", w));

    for (name, w) in &ratios {
        let ratio = *w as f64 / whole as f64;
        println!("{name}: {w} units for a byte at a time, {whole} for the whole header: ratio {ratio:.2}");
    }
    for (name, w) in ratios {
        assert!(
            w <= 3 * whole,
            "{name}: {w} units of header-parse work, more than 3 x {whole}"
        );
    }
}
