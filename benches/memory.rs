//! Peak memory of the streaming adapters: 1 GiB through each, peak RSS above the process
//! baseline, against the budget of 2 frames + 8 MiB. Not a timing benchmark.
//!
//! ```text
//! cargo bench --bench memory                 # every adapter, frame lengths 4 KiB and 1 MiB
//! cargo bench --bench memory -- 1048576      # a filter on the case name
//! ESDK_MEMORY_BENCH_MIB=64 cargo bench --bench memory   # a smaller volume
//! ESDK_MEMORY_BENCH_SUITE=0478 cargo bench --bench memory  # the unsigned suite
//! ```
//!
//! Each case runs in a child process of its own (this binary, re-run with `--case NAME`), so
//! that memory the allocator kept from one case cannot hide another's. The child measures its
//! RSS once the runtime and the test pattern are set up (nothing warmed up: one-time setup
//! such as the keyring call counts against the adapter), resets the kernel's high-water mark
//! (`/proc/self/clear_refs`), streams the data, and reads `VmHWM`. Plaintext is a pattern made
//! on the fly and checked byte for byte after decryption; the decrypting cases read a message
//! that an `EncryptingReader` produces on the fly in the same process, frame by frame, so
//! their figure includes that encryptor's few frames of buffers too (not its batches: each
//! adapter has the budget to itself). Suite 0x0578 (signed) by default,
//! `ESDK_MEMORY_BENCH_SUITE=0478` for the unsigned one (whose decryption keeps two batches
//! on the pool); raw AES-256 keyring. Linux only.
//!
//! The fully verified mode (`Release::Verified`) holds up to its memory limit (8 MiB here)
//! before spilling the rest to an encrypted temporary file (1 GiB of disk for the full run);
//! its budget is that limit plus 2 frames + 8 MiB.
//!
//! The client has the default parallelism (frames on every core in streaming batches of 1 MiB):
//! the adapters that batch hold up to about three batches each (one gathered, one on the
//! pool, one being written out; decrypting an unsigned message, two on the pool),
//! which the default batch size keeps inside the same budget.
//! `ESDK_MEMORY_BENCH_SEQUENTIAL=1` measures frame by frame (`Parallelism::off()`).

use std::io;
use std::pin::Pin;
use std::process::{Command, ExitCode};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use esdk::io::{
    DecryptOptions, DecryptingReader, DecryptingWriter, EncryptItem, EncryptingReader,
    EncryptingWriter, MessageDecoder, MessageEncoder, Release, codec, decrypt_stream,
    encrypt_stream,
};
use esdk::parallel::Parallelism;
use esdk::{AlgorithmSuite, Client, EncryptOptions, FrameLength, MaterialsSource, RawAesKeyring};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::io::ReaderStream;

const BLOCK: usize = 1 << 16;
const MIB: u64 = 1 << 20;

/// The plaintext: a 64 KiB pseudo-random block repeated (a period that frames do not align to).
fn block() -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..BLOCK + 7)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
const PERIOD: usize = BLOCK + 7;

/// Reads `len` bytes of the pattern.
struct Pattern {
    block: Bytes,
    pos: u64,
    len: u64,
}

impl AsyncRead for Pattern {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let at = (self.pos % PERIOD as u64) as usize;
        let n = (self.len - self.pos)
            .min((PERIOD - at) as u64)
            .min(buf.remaining() as u64) as usize;
        buf.put_slice(&self.block[at..at + n]);
        self.pos += n as u64;
        Poll::Ready(Ok(()))
    }
}

/// Counts what is written to it and, when checking, compares it with the pattern.
struct Sink {
    block: Option<Bytes>,
    pos: u64,
}

impl Sink {
    fn take(&mut self, data: &[u8]) -> io::Result<()> {
        if let Some(block) = &self.block {
            let mut rest = data;
            while !rest.is_empty() {
                let at = (self.pos % PERIOD as u64) as usize;
                let n = rest.len().min(PERIOD - at);
                if rest[..n] != block[at..at + n] {
                    return Err(io::Error::other(format!(
                        "plaintext differs near byte {}",
                        self.pos
                    )));
                }
                rest = &rest[n..];
                self.pos += n as u64;
            }
        } else {
            self.pos += data.len() as u64;
        }
        Ok(())
    }
}

impl AsyncWrite for Sink {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.take(buf)?;
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

const ADAPTERS: [&str; 9] = [
    "EncryptingReader",
    "EncryptingWriter",
    "encrypt_stream",
    "MessageEncoder",
    "DecryptingReader",
    "DecryptingWriter",
    "decrypt_stream",
    "MessageDecoder",
    "DecryptingReader+Verified(8MiB,spill)",
];
const FRAMES: [u32; 2] = [4096, 1 << 20];
/// Memory limit of the verified case; its budget is this plus the usual one.
const VERIFIED_LIMIT: u64 = 8 * MIB;

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("status field")
}

type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// The suite, `ESDK_MEMORY_BENCH_SUITE` in hex (default 0578, signed).
fn suite() -> u16 {
    std::env::var("ESDK_MEMORY_BENCH_SUITE")
        .ok()
        .and_then(|v| u16::from_str_radix(v.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0x0578)
}

/// Frame by frame (`Parallelism::off()`) when `ESDK_MEMORY_BENCH_SEQUENTIAL` is set.
fn sequential() -> bool {
    std::env::var_os("ESDK_MEMORY_BENCH_SEQUENTIAL").is_some()
}

async fn run(adapter: &str, frame: u32, len: u64, block: Bytes) -> Result<u64, AnyError> {
    let client = if sequential() {
        Client::builder().parallelism(Parallelism::off()).build()
    } else {
        Client::new()
    };
    let keys = MaterialsSource::from(RawAesKeyring::new("bench", "memory", &[7u8; 32])?);
    let options = EncryptOptions::new()
        .frame_length(FrameLength::new(frame).expect("non-zero"))
        .algorithm_suite(AlgorithmSuite::from_id(suite())?);
    let plain = || Pattern {
        block: block.clone(),
        pos: 0,
        len,
    };
    let counting = || Sink {
        block: None,
        pos: 0,
    };
    let checking = || Sink {
        block: Some(block.clone()),
        pos: 0,
    };
    // The decrypting cases' source: frame by frame, so that their figure is the decrypting
    // adapter's (each adapter has the budget to itself; a batching source would add its own
    // batches, as the EncryptingReader case shows).
    let source = Client::builder().parallelism(Parallelism::off()).build();
    let message = || async { EncryptingReader::new(&source, &keys, plain(), &options).await };
    let out = match adapter {
        "EncryptingReader" => {
            let mut r = EncryptingReader::new(&client, &keys, plain(), &options).await?;
            let mut sink = counting();
            tokio::io::copy(&mut r, &mut sink).await?;
            sink.pos
        }
        "EncryptingWriter" => {
            let mut w = EncryptingWriter::new(&client, &keys, counting(), &options).await?;
            tokio::io::copy(&mut plain(), &mut w).await?;
            w.shutdown().await?;
            w.get_ref().pos
        }
        "encrypt_stream" => {
            let mut s =
                encrypt_stream(&client, &keys, ReaderStream::new(plain()), &options).await?;
            let mut n = 0;
            while let Some(b) = s.next().await {
                n += b?.len() as u64;
            }
            n
        }
        "MessageEncoder" => {
            let enc = MessageEncoder::new(&client, &keys, &options).await?;
            let mut framed = FramedWrite::new(counting(), enc);
            let mut chunks = ReaderStream::new(plain());
            while let Some(c) = chunks.next().await {
                framed.send(EncryptItem::Data(c?)).await?;
            }
            framed.send(EncryptItem::Finish).await?;
            framed.close().await?;
            framed.get_ref().pos
        }
        "DecryptingReader" | "DecryptingReader+Verified(8MiB,spill)" => {
            let release = if adapter == "DecryptingReader" {
                Release::Streaming
            } else {
                Release::verified(VERIFIED_LIMIT as usize)
            };
            let opts = DecryptOptions::new().release(release);
            let mut r = DecryptingReader::new(&client, &keys, message().await?, &opts).await?;
            let mut sink = checking();
            tokio::io::copy(&mut r, &mut sink).await?;
            sink.pos
        }
        "DecryptingWriter" => {
            let mut w = DecryptingWriter::new(&client, &keys, checking(), &DecryptOptions::new());
            tokio::io::copy(&mut message().await?, &mut w).await?;
            w.shutdown().await?;
            w.get_ref().pos
        }
        "decrypt_stream" => {
            let input = ReaderStream::new(message().await?);
            let mut s = decrypt_stream(&client, &keys, input, &DecryptOptions::new()).await?;
            let mut sink = checking();
            while let Some(b) = s.next().await {
                sink.take(&b?)?;
            }
            sink.pos
        }
        "MessageDecoder" => {
            let mut framed = FramedRead::new(
                message().await?,
                MessageDecoder::new(&client, &DecryptOptions::new()),
            );
            codec::decrypt_header(&mut framed, &keys).await?;
            let mut sink = checking();
            while let Some(item) = framed.next().await {
                sink.take(&item?.into_plaintext()?)?;
            }
            sink.pos
        }
        other => return Err(format!("unknown adapter {other}").into()),
    };
    if adapter.starts_with("Decrypt")
        || adapter.starts_with("decrypt")
        || adapter == "MessageDecoder"
    {
        if out != len {
            return Err(format!("{out} plaintext bytes, expected {len}").into());
        }
    } else if out <= len {
        return Err(format!("a {out}-byte message for {len} bytes of plaintext").into());
    }
    Ok(out)
}

/// In the child: runs one case and prints `baseline_kib peak_kib seconds`.
fn child(adapter: &str, frame: u32, len: u64) -> Result<(), AnyError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let block = Bytes::from(block());
    let baseline = status_kib("VmRSS:");
    std::fs::write("/proc/self/clear_refs", "5")?;
    let start = Instant::now();
    rt.block_on(run(adapter, frame, len, block))?;
    let secs = start.elapsed().as_secs_f64();
    let peak = status_kib("VmHWM:");
    println!("{baseline} {peak} {secs}");
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mib: u64 = std::env::var("ESDK_MEMORY_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let len = mib * MIB;
    if let [flag, adapter, frame] = &args[..]
        && flag == "--case"
    {
        return match child(adapter, frame.parse().expect("frame"), len) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{adapter}: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // `cargo bench` passes `--bench`; anything else is a filter on the case name.
    let filter: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let exe = std::env::current_exe().expect("own path");
    println!(
        "{mib} MiB through each adapter; suite 0x{:04x}; peak RSS above baseline (budget: 2 frames + 8 MiB{})",
        suite(),
        if sequential() {
            ", frame by frame"
        } else {
            ", batches of 1 MiB"
        }
    );
    println!(
        "{:<40} {:>9} {:>12} {:>12} {:>12} {:>9}  verdict",
        "adapter", "frame", "baseline", "peak-base", "budget", "MiB/s"
    );
    let (mut passed, mut failed) = (0, 0);
    for frame in FRAMES {
        for adapter in ADAPTERS {
            let name = format!("{adapter}/{frame}");
            if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
                continue;
            }
            let out = Command::new(&exe)
                .args(["--case", adapter, &frame.to_string()])
                .env("ESDK_MEMORY_BENCH_MIB", mib.to_string())
                .output()
                .expect("runs the child");
            let text = String::from_utf8_lossy(&out.stdout);
            let nums: Vec<f64> = text
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            let [baseline, peak, secs] = nums[..] else {
                failed += 1;
                println!(
                    "{name:<40} FAILED: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                continue;
            };
            let growth_kib = peak - baseline;
            // The verified mode holds up to its memory limit by design: that comes on top.
            let held = if adapter.contains("Verified") {
                VERIFIED_LIMIT
            } else {
                0
            };
            let budget_kib = (held + 2 * u64::from(frame) + 8 * MIB) as f64 / 1024.0;
            let ok = growth_kib <= budget_kib;
            if ok {
                passed += 1;
            } else {
                failed += 1;
            }
            println!(
                "{adapter:<40} {frame:>9} {:>9.1} MiB {:>8.1} MiB {:>8.1} MiB {:>9.0}  {}",
                baseline / 1024.0,
                growth_kib / 1024.0,
                budget_kib / 1024.0,
                mib as f64 / secs,
                if ok { "within" } else { "OVER" }
            );
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
