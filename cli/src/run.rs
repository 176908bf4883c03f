//! Encrypting and decrypting files, folders and pipes.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use esdk::io::{DecryptOptions, DecryptingReader, EncryptingReader, Release};
use esdk::{
    AlgorithmSuite, Client, EncryptOptions, EncryptionContext, FrameLength, MaterialsSource,
    MessageHeader,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use zeroize::Zeroizing;

use crate::keys::Purpose;
use crate::metadata::{self, Record};
use crate::output::{self, Out, Sink};
use crate::streams::{DecodeReader, EncodeReader, FileReader, IO_CHUNK, Limited};
use crate::{Common, Failure};

/// `--max-frame-length` by default: 1 MiB, above the frame lengths the ESDKs write (4 KiB by
/// default, 1 MiB at most in practice), so a hostile header cannot make a frame cost more.
pub const DEFAULT_MAX_FRAME_LENGTH: u32 = 1 << 20;
/// `--max-body-length` by default: 64 MiB for a non-framed body, which is held whole.
pub const DEFAULT_MAX_BODY_LENGTH: u64 = 64 << 20;
/// `--max-encrypted-data-keys` by default.
pub const DEFAULT_MAX_ENCRYPTED_DATA_KEYS: u16 = 32;

/// The direction and its own options.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    Encrypt {
        suite: Option<AlgorithmSuite>,
        frame: FrameLength,
    },
    Decrypt {
        release: Release,
        max_frame_length: u32,
        max_body_length: u64,
    },
}

/// `esdk keygen`: 32 random bytes in a new file with mode 0600.
pub fn keygen(path: &Path) -> Result<(), Failure> {
    let mut key = Zeroizing::new([0u8; 32]);
    getrandom::fill(key.as_mut_slice())
        .map_err(|e| Failure::io(format!("no randomness from the OS: {e}")))?;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Failure::usage(format!(
                "{} already exists; keygen never overwrites a key",
                path.display()
            ))
        } else {
            Failure::io(format!("cannot create {}: {e}", path.display()))
        }
    })?;
    let written = file
        .write_all(key.as_slice())
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        drop(file);
        let _ = fs::remove_file(path);
        return Err(Failure::io(format!("cannot write {}: {e}", path.display())));
    }
    eprintln!("esdk: wrote a new 256-bit AES key to {}", path.display());
    Ok(())
}

struct Job {
    client: Client,
    source: MaterialsSource,
    mode: Mode,
    context: EncryptionContext,
    /// `-c KEY` on decrypt: keys the message's context must have, with any value.
    required_keys: Vec<String>,
    overwrite: bool,
    no_overwrite: bool,
    interactive: bool,
    encode: bool,
    decode: bool,
    max_length: Option<u64>,
    quiet: bool,
    metadata: Option<metadata::Sink>,
    /// The copy buffer, reused from file to file.
    buf: Vec<u8>,
}

/// `esdk encrypt` / `esdk decrypt`.
pub async fn run(common: &Common, mode: Mode) -> Result<(), Failure> {
    let purpose = match mode {
        Mode::Encrypt { .. } => Purpose::Encrypt,
        Mode::Decrypt { .. } => Purpose::Decrypt,
    };
    if common.suffix.contains('/') {
        return Err(Failure::usage("--suffix must contain no '/'"));
    }
    let stdout_used = common.output == "-";
    if stdout_used && common.metadata_output.as_deref() == Some("-") {
        return Err(Failure::usage(
            "--output - and --metadata-output - cannot both use standard output",
        ));
    }
    if common.interactive && common.input == "-" {
        return Err(Failure::usage(
            "--interactive reads its answers from standard input, which --input - uses",
        ));
    }
    let crate::setup::Setup {
        client,
        source,
        context,
        required_keys,
    } = crate::setup::setup(common, purpose, mode).await?;
    let metadata = match common.metadata_output.as_deref() {
        None => None,
        Some(target) => Some(metadata::Sink::open(target, common.overwrite_metadata)?),
    };
    let mut job = Job {
        client,
        source,
        mode,
        context,
        required_keys,
        overwrite: common.overwrite,
        no_overwrite: common.no_overwrite,
        interactive: common.interactive,
        encode: common.encode,
        decode: common.decode,
        max_length: common.max_length,
        quiet: common.quiet,
        metadata,
        buf: Vec::new(),
    };

    if common.input == "-" {
        let output = if stdout_used {
            None
        } else {
            let out = output::normalized(&common.output);
            if output::is_folder(&out)? {
                return Err(Failure::usage(
                    "standard input needs a file or `-` as --output, not a folder",
                ));
            }
            Some(out)
        };
        return job.one(None, output.as_deref()).await;
    }

    let input = PathBuf::from(&common.input);
    let meta = fs::metadata(&input)
        .map_err(|e| Failure::io(format!("cannot read {}: {e}", input.display())))?;
    if meta.is_dir() {
        if stdout_used {
            return Err(Failure::usage(
                "a folder needs a folder as --output, not standard output",
            ));
        }
        let out = output::normalized(&common.output);
        if !output::is_folder(&out)? && fs::symlink_metadata(&out).is_ok() {
            return Err(Failure::usage(format!(
                "{} is not a folder; a folder input needs a folder output",
                out.display()
            )));
        }
        let in_abs = fs::canonicalize(&input)?;
        let mut files = Vec::new();
        walk(&input, Path::new(""), &mut files)?;
        files.sort();
        // Every output is checked before any work: no two inputs share an output, no link is
        // on the way to one, nothing is replaced without --overwrite.
        let plan = folder_plan(files, mode, &common.suffix)?;
        for (_, rel_out) in &plan {
            output::check_below(&out, rel_out)?;
            output::check(&out.join(rel_out), common.overwrite)?;
        }
        fs::create_dir_all(&out)
            .map_err(|e| Failure::io(format!("cannot create {}: {e}", out.display())))?;
        let out_abs = fs::canonicalize(&out)?;
        if out_abs.starts_with(&in_abs) {
            return Err(Failure::usage(
                "the output folder must not be inside the input folder",
            ));
        }
        for (rel_in, rel_out) in plan {
            output::create_below(&out, &rel_out)?;
            job.one(Some(&input.join(&rel_in)), Some(&out.join(&rel_out)))
                .await?;
        }
        return Ok(());
    }

    let output = if stdout_used {
        None
    } else {
        let out = output::normalized(&common.output);
        Some(if output::is_folder(&out)? {
            let name = input
                .file_name()
                .ok_or_else(|| Failure::usage("the input has no file name"))?;
            renamed(&out.join(name), mode, &common.suffix)
        } else {
            out
        })
    };
    job.one(Some(&input), output.as_deref()).await
}

/// The output name for `path`: the suffix added (encrypt) or removed (decrypt; `.decrypted`
/// is added to names without it). Names are handled as the bytes they are, never converted to
/// UTF-8 (which would make distinct names equal).
fn renamed(path: &Path, mode: Mode, suffix: &str) -> PathBuf {
    let name = path.file_name().unwrap_or_default();
    let with = |tail: &str| {
        let mut n = name.to_os_string();
        n.push(tail);
        n
    };
    let new = match mode {
        Mode::Encrypt { .. } => with(suffix),
        Mode::Decrypt { .. } => match strip_suffix(name, suffix) {
            Some(stem) if !stem.is_empty() => stem,
            _ => with(".decrypted"),
        },
    };
    path.with_file_name(new)
}

#[cfg(unix)]
fn strip_suffix(name: &OsStr, suffix: &str) -> Option<OsString> {
    use std::os::unix::ffi::OsStrExt as _;
    name.as_bytes()
        .strip_suffix(suffix.as_bytes())
        .map(|stem| OsStr::from_bytes(stem).to_os_string())
}

#[cfg(not(unix))]
fn strip_suffix(name: &OsStr, suffix: &str) -> Option<OsString> {
    name.to_str()?.strip_suffix(suffix).map(OsString::from)
}

/// The output (relative path) of each input file (relative path) of a folder. Refused: two
/// inputs with the same output (`x` and `x.decrypted.encrypted` both decrypt to `x.decrypted`),
/// and an output file with the name of a folder that other outputs go into.
fn folder_plan(
    files: Vec<PathBuf>,
    mode: Mode,
    suffix: &str,
) -> Result<Vec<(PathBuf, PathBuf)>, Failure> {
    let mut taken: HashMap<PathBuf, PathBuf> = HashMap::new();
    let mut plan = Vec::with_capacity(files.len());
    for rel in files {
        let target = renamed(&rel, mode, suffix);
        if let Some(other) = taken.insert(target.clone(), rel.clone()) {
            return Err(Failure::usage(format!(
                "{} and {} would both be written to {}; nothing was written (rename one)",
                other.display(),
                rel.display(),
                target.display()
            )));
        }
        plan.push((rel, target));
    }
    let folders: HashSet<&Path> = plan
        .iter()
        .flat_map(|(_, target)| target.ancestors().skip(1))
        .filter(|p| !p.as_os_str().is_empty())
        .collect();
    if let Some((rel, target)) = plan
        .iter()
        .find(|(_, target)| folders.contains(target.as_path()))
    {
        return Err(Failure::usage(format!(
            "{} would be written to {}, a folder other outputs need; nothing was written \
             (rename one)",
            rel.display(),
            target.display()
        )));
    }
    Ok(plan)
}

/// Collects the regular files under `root` (relative paths). Symbolic links are skipped with a
/// warning, so a link cannot lead the walk out of the tree or into a loop.
fn walk(root: &Path, rel: &Path, files: &mut Vec<PathBuf>) -> Result<(), Failure> {
    let dir = root.join(rel);
    let entries = fs::read_dir(&dir)
        .map_err(|e| Failure::io(format!("cannot list {}: {e}", dir.display())))?;
    for entry in entries {
        let entry = entry?;
        let kind = entry.file_type()?;
        let path = rel.join(entry.file_name());
        if kind.is_dir() {
            walk(root, &path, files)?;
        } else if kind.is_file() {
            files.push(path);
        } else {
            eprintln!(
                "esdk: skipping {} (not a regular file)",
                root.join(&path).display()
            );
        }
    }
    Ok(())
}

/// Counts the bytes read through it, and advances the progress bar if there is one.
struct Counting<R> {
    inner: R,
    count: u64,
    progress: Option<ProgressBar>,
}

/// A progress bar for `name` on stderr when stderr is a terminal (`len` bytes, or a spinner
/// when the length is unknown); `None` otherwise, so scripts and logs stay quiet.
fn progress(name: &str, len: Option<u64>, quiet: bool) -> Option<ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = match len {
        Some(len) => ProgressBar::new(len).with_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .ok()?
            .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {msg} {bytes} {bytes_per_sec}").ok()?,
        ),
    };
    bar.set_draw_target(ProgressDrawTarget::stderr());
    Some(bar.with_message(name.to_owned()))
}

impl<R: AsyncRead + Unpin> AsyncRead for Counting<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        self.count += n;
        if let Some(bar) = &self.progress {
            bar.inc(n);
        }
        r
    }
}

type BoxRead = Pin<Box<dyn AsyncRead + Send>>;

/// Opens an input file and returns it with its length when it is a regular file. A regular
/// file is read on this thread ([`FileReader`]); anything else (a FIFO, a device) through
/// tokio's blocking pool, since its reads can wait without end. The open itself does not wait
/// for a FIFO's writer (`O_NONBLOCK`), so a path swapped for a FIFO cannot hang this thread.
async fn open_input(path: &Path) -> std::io::Result<(BoxRead, Option<u64>)> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if meta.is_file() {
        return Ok((
            Box::pin(FileReader::new(file, meta.len())),
            Some(meta.len()),
        ));
    }
    drop(file);
    let file = tokio::fs::File::open(path).await?;
    Ok((Box::pin(file), None))
}

/// Copies `from` into `out` in pieces of up to [`IO_CHUNK`] bytes: what the reader has ready is
/// gathered into one buffer and written with one call, and whatever is gathered is written out
/// as soon as the reader has to wait (a pipe's next bytes), so streaming stays streaming.
/// Returns the number of bytes copied.
async fn pump<R: AsyncRead + Unpin + ?Sized>(
    from: &mut R,
    mut out: Out<'_>,
    buf: &mut Vec<u8>,
) -> std::io::Result<u64> {
    use futures::FutureExt as _;
    use tokio::io::AsyncReadExt as _;

    // One buffer for every file of a run (allocated and zeroed once, not once per file).
    buf.resize(IO_CHUNK, 0);
    let mut filled = 0;
    let mut total = 0u64;
    loop {
        if filled == buf.len() {
            out.write_all(buf).await?;
            filled = 0;
        }
        let n = match from.read(&mut buf[filled..]).now_or_never() {
            Some(r) => r?,
            None => {
                if filled > 0 {
                    out.write_all(&buf[..filled]).await?;
                    filled = 0;
                }
                from.read(&mut buf[filled..]).await?
            }
        };
        if n == 0 {
            break;
        }
        filled += n;
        total += n as u64;
    }
    out.write_all(&buf[..filled]).await?;
    Ok(total)
}

/// Whether `output` exists and is the file `input` (through links, hard links included): one
/// `stat` of the output when it does not exist yet, the usual case.
#[cfg(unix)]
fn same_file(input: &Path, output: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (fs::metadata(output), fs::metadata(input)) {
        (Ok(o), Ok(i)) => (o.dev(), o.ino()) == (i.dev(), i.ino()),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(input: &Path, output: &Path) -> bool {
    matches!(
        (fs::canonicalize(input), fs::canonicalize(output)),
        (Ok(a), Ok(b)) if a == b
    )
}

/// What one message looked like, for `--metadata-output`.
struct Outcome {
    header: MessageHeader,
    context: EncryptionContext,
    bytes_in: u64,
    bytes_out: u64,
}

impl Job {
    /// Processes one input (`None`: standard input) into one output (`None`: standard output).
    async fn one(&mut self, input: Option<&Path>, output: Option<&Path>) -> Result<(), Failure> {
        let shown_in = input.map_or("-".into(), |p| p.display().to_string());
        let shown_out = output.map_or("-".into(), |p| p.display().to_string());
        if let (Some(i), Some(o)) = (input, output)
            && same_file(i, o)
        {
            return Err(Failure::usage(format!(
                "{shown_in}: the output is the input itself"
            )));
        }
        let mut replace = self.overwrite;
        if let Some(o) = output {
            // An existing regular file: --no-overwrite skips it, --interactive asks.
            if !replace
                && output::check(o, false).is_err()
                && fs::symlink_metadata(o).is_ok_and(|m| m.is_file())
            {
                if !self.replace_existing(&shown_out)? {
                    tracing::warn!("skipping {shown_in}: its output {shown_out} exists");
                    return Ok(());
                }
                replace = true;
            }
            output::check(o, replace)?;
        }
        tracing::info!(
            "{}ing {shown_in} to {shown_out}",
            match self.mode {
                Mode::Encrypt { .. } => "encrypt",
                Mode::Decrypt { .. } => "decrypt",
            }
        );
        let (reader, len): (BoxRead, Option<u64>) = match input {
            None => (Box::pin(tokio::io::stdin()), None),
            Some(p) => open_input(p)
                .await
                .map_err(|e| Failure::io(format!("cannot open {shown_in}: {e}")))?,
        };
        // The plaintext length, when known (the spec's `maxPlaintextLength`: the known length,
        // else the caller's bound), checked against --max-length before any key is used.
        let plaintext_len = match self.mode {
            Mode::Encrypt { .. } if !self.decode => len,
            _ => None,
        };
        if let (Mode::Encrypt { .. }, Some(max), Some(n)) =
            (self.mode, self.max_length, plaintext_len)
            && n > max
        {
            return Err(Failure::from(esdk::Error::Limit(
                esdk::error::LimitError::PlaintextTooLarge(max),
            ))
            .context(format!("{shown_in} ({n} bytes, --max-length {max})")));
        }
        let reader = Counting {
            inner: reader,
            count: 0,
            progress: progress(&shown_in, len, self.quiet),
        };

        let outcome = match output {
            None => {
                let mut stdout = tokio::io::stdout();
                let r = self
                    .transform(reader, plaintext_len, Out::Async(&mut stdout))
                    .await;
                let flushed = stdout.flush().await;
                let o = r?;
                flushed.map_err(|e| Failure::io(format!("standard output: {e}")))?;
                o
            }
            Some(target) => {
                // A temporary file renamed into place, or a device, FIFO or socket written
                // directly; dropped on every failure path, which removes a temporary file.
                let mut sink = Sink::open(target, replace).await?;
                let o = self
                    .transform(reader, plaintext_len, sink.writer())
                    .await
                    .map_err(|f| f.context(&shown_in))?;
                sink.finish().await?;
                o
            }
        };
        let input = metadata::shown_path(input, "<stdin>");
        let output = metadata::shown_path(output, "<stdout>");
        self.report(&input, &output, &outcome)
    }

    /// Whether to replace an existing output: never with `--no-overwrite`, the user's answer
    /// with `--interactive`, otherwise a usage error.
    fn replace_existing(&self, shown_out: &str) -> Result<bool, Failure> {
        if self.no_overwrite {
            return Ok(false);
        }
        if !self.interactive {
            return Err(Failure::usage(format!(
                "{shown_out} exists; pass --overwrite to replace it"
            )));
        }
        eprint!("Overwrite existing output file \"{shown_out}\" with new contents? [y/N]: ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin()
            .read_line(&mut answer)
            .map_err(|e| Failure::io(format!("cannot read the answer: {e}")))?;
        Ok(answer.trim_start().starts_with(['y', 'Y']))
    }

    async fn transform(
        &mut self,
        mut reader: Counting<BoxRead>,
        plaintext_len: Option<u64>,
        out: Out<'_>,
    ) -> Result<Outcome, Failure> {
        let mut buf = std::mem::take(&mut self.buf);
        let result = self
            .transform_inner(&mut reader, plaintext_len, out, &mut buf)
            .await;
        self.buf = buf;
        if let Some(bar) = reader.progress.take() {
            bar.finish_and_clear();
        }
        result
    }

    async fn transform_inner(
        &self,
        reader: &mut Counting<BoxRead>,
        plaintext_len: Option<u64>,
        out: Out<'_>,
        buf: &mut Vec<u8>,
    ) -> Result<Outcome, Failure> {
        let mut input: Pin<Box<dyn AsyncRead + Send + '_>> = Box::pin(&mut *reader);
        if self.decode {
            input = Box::pin(DecodeReader::new(input));
        }
        match self.mode {
            Mode::Encrypt { suite, frame } => {
                if let Some(max) = self.max_length {
                    input = Box::pin(Limited::new(input, max));
                }
                let mut options = EncryptOptions::new()
                    .encryption_context(&self.context)
                    .frame_length(frame);
                if let Some(suite) = suite {
                    options = options.algorithm_suite(suite);
                }
                if let Some(n) = plaintext_len.or(self.max_length) {
                    options = options.max_plaintext_length(n);
                }
                let mut enc =
                    EncryptingReader::new(&self.client, &self.source, &mut input, &options).await?;
                let header = enc.header().clone();
                let bytes_out = if self.encode {
                    pump(&mut EncodeReader::new(&mut enc), out, buf).await?
                } else {
                    pump(&mut enc, out, buf).await?
                };
                drop(enc);
                drop(input);
                Ok(Outcome {
                    context: header.encryption_context().clone(),
                    header,
                    bytes_in: reader.count,
                    bytes_out,
                })
            }
            Mode::Decrypt { release, .. } => {
                let mut options = DecryptOptions::new().release(release);
                if !self.context.is_empty() {
                    options = options.encryption_context(&self.context);
                }
                let mut dec =
                    DecryptingReader::new(&self.client, &self.source, &mut input, &options).await?;
                let header = dec.header().clone();
                let context = dec.encryption_context().clone();
                if let Some(missing) = self.required_keys.iter().find(|k| !context.contains_key(k))
                {
                    return Err(Failure::from(esdk::Error::Policy(
                        esdk::error::PolicyError::MissingRequiredEncryptionContextKey(
                            missing.clone(),
                        ),
                    )));
                }
                let bytes_out = if self.encode {
                    pump(&mut EncodeReader::new(&mut dec), out, buf).await?
                } else {
                    pump(&mut dec, out, buf).await?
                };
                drop(dec);
                drop(input);
                Ok(Outcome {
                    header,
                    context,
                    bytes_in: reader.count,
                    bytes_out,
                })
            }
        }
    }

    fn report(&mut self, input: &str, output: &str, o: &Outcome) -> Result<(), Failure> {
        let Some(sink) = self.metadata.as_mut() else {
            return Ok(());
        };
        let mode = match self.mode {
            Mode::Encrypt { .. } => "encrypt",
            Mode::Decrypt {
                release: Release::UnsignedOnly,
                ..
            } => "decrypt-unsigned",
            Mode::Decrypt { .. } => "decrypt",
        };
        let record = Record {
            mode,
            input,
            output,
            header: &o.header,
            context: &o.context,
            bytes_in: o.bytes_in,
            bytes_out: o.bytes_out,
        };
        sink.write(&record.to_json())
    }
}
