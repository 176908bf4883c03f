//! Where output bytes go, and what may be written at all.
//!
//! * A regular file, or a name that does not exist yet: a temporary file (`.esdk-partial-*`,
//!   mode 0600) beside the target, renamed into place by [`Sink::finish`]; dropping the
//!   [`Sink`] removes it.
//! * Anything else that exists and is not a folder (a character device such as `/dev/null`, a
//!   FIFO, a Unix socket, a block device): written directly, never renamed over. Only a block
//!   device needs `--overwrite`, since writing to it replaces what it holds.
//! * A symbolic link: refused, as the output itself and as any folder below an output folder,
//!   so nothing is ever written outside the output tree.

use std::fs;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;

use tokio::io::{AsyncWrite, AsyncWriteExt as _};

use crate::Failure;

/// What exists at an output path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Existing {
    Nothing,
    Regular,
    Folder,
    /// A device, FIFO or socket (`block`: a block device).
    Special {
        block: bool,
    },
}

fn link_refused(path: &Path) -> Failure {
    Failure::usage(format!(
        "{} is a symbolic link; esdk does not write through links (name the link's target, \
         or `-` for standard output)",
        path.display()
    ))
}

/// Looks at `path` without following a link; a link is refused.
fn inspect(path: &Path) -> Result<Existing, Failure> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Existing::Nothing),
        Err(e) => {
            return Err(Failure::io(format!(
                "cannot inspect {}: {e}",
                path.display()
            )));
        }
    };
    let kind = meta.file_type();
    Ok(if kind.is_symlink() {
        return Err(link_refused(path));
    } else if kind.is_dir() {
        Existing::Folder
    } else if kind.is_file() {
        Existing::Regular
    } else {
        Existing::Special {
            block: is_block_device(&kind),
        }
    })
}

#[cfg(unix)]
fn is_block_device(kind: &fs::FileType) -> bool {
    use std::os::unix::fs::FileTypeExt as _;
    kind.is_block_device()
}

#[cfg(not(unix))]
fn is_block_device(_: &fs::FileType) -> bool {
    false
}

/// `path` without a trailing `/` or `.` (so that a link named `out/` is seen as a link).
pub fn normalized(path: &str) -> PathBuf {
    let p: PathBuf = Path::new(path).components().collect();
    if p.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        p
    }
}

/// Whether `path` is an existing folder. A symbolic link is refused, whatever it points to.
pub fn is_folder(path: &Path) -> Result<bool, Failure> {
    Ok(inspect(path)? == Existing::Folder)
}

fn exists(path: &Path) -> Failure {
    Failure::usage(format!(
        "{} exists; pass --overwrite to replace it",
        path.display()
    ))
}

/// Checks the output file `target` before any work: not a link, not a folder, and not an
/// existing regular file or block device unless `overwrite`.
pub fn check(target: &Path, overwrite: bool) -> Result<(), Failure> {
    match inspect(target)? {
        Existing::Nothing => Ok(()),
        Existing::Folder => Err(Failure::usage(format!(
            "{} is a folder, not a file",
            target.display()
        ))),
        Existing::Regular | Existing::Special { block: true } if !overwrite => Err(exists(target)),
        Existing::Regular | Existing::Special { .. } => Ok(()),
    }
}

/// The folders from `root` (excluded) down to the parent of `root/rel`.
fn folders_below(root: &Path, rel: &Path) -> Vec<PathBuf> {
    let mut path = root.to_path_buf();
    let mut out = Vec::new();
    let parent = rel.parent().unwrap_or(Path::new(""));
    for c in parent.components() {
        if let Component::Normal(name) = c {
            path.push(name);
            out.push(path.clone());
        }
    }
    out
}

/// Checks every folder between `root` and the output file `root/rel`: each must be a folder (not
/// a link, not a file) or not exist yet.
pub fn check_below(root: &Path, rel: &Path) -> Result<(), Failure> {
    for folder in folders_below(root, rel) {
        match inspect(&folder)? {
            Existing::Nothing | Existing::Folder => {}
            _ => {
                return Err(Failure::usage(format!(
                    "{} exists and is not a folder",
                    folder.display()
                )));
            }
        }
    }
    Ok(())
}

/// Creates the folders between `root` and `root/rel` one at a time, refusing a link at each
/// step (a link placed there since [`check_below`] is still refused).
pub fn create_below(root: &Path, rel: &Path) -> Result<(), Failure> {
    for folder in folders_below(root, rel) {
        match fs::create_dir(&folder) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(Failure::io(format!(
                    "cannot create {}: {e}",
                    folder.display()
                )));
            }
        }
        if inspect(&folder)? != Existing::Folder {
            return Err(Failure::usage(format!(
                "{} exists and is not a folder",
                folder.display()
            )));
        }
    }
    Ok(())
}

type BoxWrite = Pin<Box<dyn AsyncWrite + Send>>;

/// Where one message's bytes go: a regular file written with plain `write()` calls on the
/// calling thread (large pieces, no hop to a blocking pool), or an async writer (standard
/// output, a device, FIFO or socket, which may block for as long as its reader waits).
pub enum Out<'a> {
    /// A regular file, and the count of bytes written to it.
    File(&'a mut fs::File, &'a mut u64),
    Async(&'a mut (dyn AsyncWrite + Send + Unpin)),
}

impl Out<'_> {
    /// Writes all of `buf`.
    pub async fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Self::File(f, written) => {
                std::io::Write::write_all(f, buf)?;
                **written += buf.len() as u64;
                Ok(())
            }
            Self::Async(w) => w.write_all(buf).await,
        }
    }
}

/// Outputs of at most this many bytes are flushed to disk on the calling thread: their
/// `fsync` is short, and a hop to the blocking pool (two thread wake-ups) would cost more than
/// it. Larger ones are flushed on the pool, so that a signal during a long flush is acted on
/// at once.
const INLINE_SYNC_BYTES: u64 = 1 << 20;

/// An open output.
pub enum Sink {
    /// A temporary file beside a regular-file target, renamed into place by [`Sink::finish`].
    Temporary {
        tmp: tempfile::NamedTempFile,
        file: fs::File,
        target: PathBuf,
        overwrite: bool,
        /// Bytes written so far.
        written: u64,
    },
    /// A device, FIFO or socket, written directly.
    Direct(BoxWrite),
}

impl Sink {
    /// Opens `target` for writing (checked as by [`check`]). Opening a FIFO waits for a reader.
    pub async fn open(target: &Path, overwrite: bool) -> Result<Self, Failure> {
        check(target, overwrite)?;
        match inspect(target)? {
            Existing::Special { .. } => Ok(Self::Direct(open_direct(target).await?)),
            _ => {
                let dir = match target.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
                // Same folder as the target, so the final rename is atomic. Mode 0600 (the
                // tempfile default); removed on drop, that is on every failure path.
                let tmp = tempfile::Builder::new()
                    .prefix(".esdk-partial-")
                    .tempfile_in(dir)
                    .map_err(|e| {
                        Failure::io(format!("cannot create a file in {}: {e}", dir.display()))
                    })?;
                let file = tmp.as_file().try_clone()?;
                Ok(Self::Temporary {
                    tmp,
                    file,
                    target: target.to_path_buf(),
                    overwrite,
                    written: 0,
                })
            }
        }
    }

    /// Where to write.
    pub fn writer(&mut self) -> Out<'_> {
        match self {
            Self::Temporary { file, written, .. } => Out::File(file, written),
            Self::Direct(w) => Out::Async(w),
        }
    }

    /// Completes the output: renames the temporary file into place, or flushes and closes a
    /// direct output.
    pub async fn finish(self) -> Result<(), Failure> {
        match self {
            Self::Direct(mut w) => {
                w.shutdown().await?;
                Ok(())
            }
            Self::Temporary {
                tmp,
                file,
                target,
                overwrite,
                written,
            } => {
                // The one fsync of the output: its data is on disk before the rename makes it
                // visible under its final name. A large output's on the blocking pool (one hop
                // per file), so a signal during a long flush to disk is still acted on at once.
                let cannot = |e: std::io::Error| {
                    Failure::io(format!("cannot write {}: {e}", target.display()))
                };
                if written <= INLINE_SYNC_BYTES {
                    file.sync_all().map_err(cannot)?;
                } else {
                    tokio::task::spawn_blocking(move || file.sync_all())
                        .await
                        .map_err(|e| {
                            Failure::io(format!("cannot write {}: {e}", target.display()))
                        })?
                        .map_err(cannot)?;
                }
                // Whatever appeared at the target meanwhile must still be replaceable (rename
                // would replace a link or a device rather than write through it).
                if matches!(inspect(&target)?, Existing::Special { .. }) {
                    return Err(Failure::usage(format!(
                        "{} turned into a device, FIFO or socket while esdk was writing",
                        target.display()
                    )));
                }
                let persisted = if overwrite {
                    tmp.persist(&target).map(drop)
                } else {
                    tmp.persist_noclobber(&target).map(drop)
                };
                persisted.map_err(|e| {
                    if e.error.kind() == ErrorKind::AlreadyExists {
                        exists(&target)
                    } else {
                        Failure::io(format!("cannot write {}: {}", target.display(), e.error))
                    }
                })
            }
        }
    }
}

/// Opens a device, FIFO or socket for writing, refusing a link or anything that is not what
/// was inspected (replaced in between).
#[cfg(unix)]
async fn open_direct(target: &Path) -> Result<BoxWrite, Failure> {
    use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};

    let cannot = |e: std::io::Error| Failure::io(format!("cannot open {}: {e}", target.display()));
    let before = fs::symlink_metadata(target).map_err(cannot)?;
    if before.file_type().is_symlink() {
        return Err(link_refused(target));
    }
    if before.file_type().is_socket() {
        let stream = tokio::net::UnixStream::connect(target)
            .await
            .map_err(cannot)?;
        return Ok(Box::pin(stream));
    }
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(target)
        .await
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                link_refused(target)
            } else {
                cannot(e)
            }
        })?;
    let after = file.metadata().await.map_err(cannot)?;
    if (after.dev(), after.ino()) != (before.dev(), before.ino())
        || after.is_file()
        || after.is_dir()
    {
        return Err(Failure::usage(format!(
            "{} was replaced while esdk opened it",
            target.display()
        )));
    }
    Ok(Box::pin(file))
}

#[cfg(not(unix))]
async fn open_direct(target: &Path) -> Result<BoxWrite, Failure> {
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .open(target)
        .await
        .map_err(|e| Failure::io(format!("cannot open {}: {e}", target.display())))?;
    Ok(Box::pin(file))
}
