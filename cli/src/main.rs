//! `esdk`: encrypt and decrypt files, folders and pipes in the AWS Encryption SDK message format.
//!
//! ```text
//! esdk keygen --output my.key
//! esdk encrypt --wrapping-keys key=aes:my.key --input report.pdf --output report.pdf.encrypted
//! esdk decrypt --wrapping-keys key=aes:my.key --input report.pdf.encrypted --output report.pdf
//! ```
//!
//! Exit status:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | a message could not be encrypted or decrypted: malformed, truncated or tampered input, wrong key, policy or limit refusal, keyring failure |
//! | 2 | usage: bad arguments, unreadable or invalid key file, output exists (without `--overwrite`) |
//! | 3 | I/O: an input could not be read or an output written |
//! | 129, 130, 143 | stopped by SIGHUP, SIGINT (Ctrl-C) or SIGTERM (128 + the signal number); temporary outputs were removed |
//!
//! Outputs:
//!
//! * A regular file (or a name that does not exist yet) is written to a temporary file
//!   (`.esdk-partial-*`, mode 0600) beside the target and renamed into place only when the whole
//!   message has been written (encrypt) or authenticated (decrypt); on failure, and on SIGINT,
//!   SIGTERM or SIGHUP, the temporary file is removed.
//! * Standard output (`--output -`) and any output that is not a regular file (a character
//!   device such as `/dev/null`, a FIFO, a Unix socket) are written directly and are never
//!   renamed over or replaced; they need no `--overwrite` (a block device does). What was
//!   written cannot be taken back: when decrypting, only authenticated frames are written, and
//!   `--buffer` holds everything back until the signature has verified.
//! * Symbolic links are refused: an output named on the command line must not be a link, and
//!   nothing below an output folder may be one (checked for every file before any work, and
//!   again when each file is written), so nothing is written outside the output tree. Use `-`
//!   instead of `/dev/stdout`.
//! * A folder is refused before any work when two inputs would get the same output name (for
//!   example `x` and `x.decrypted.encrypted` both decrypt to `x.decrypted`), or an output file
//!   would take the name of an output folder. Names are never converted to UTF-8.
//!
//! Limits on decrypt (each refusal names the option that raises it):
//!
//! | option | default | defends against |
//! |---|---|---|
//! | `--max-frame-length` | 1 MiB (1048576) | a header declaring huge frames: each frame is held whole until its tag is checked |
//! | `--max-body-length` | 64 MiB (67108864) | a huge non-framed body, which is held whole until its tag is checked |
//! | `--max-encrypted-data-keys` | 32 (encrypt and decrypt) | unbounded key-unwrapping work (each RSA key costs milliseconds, each KMS key a remote call) |
//!
//! Key files must be regular files of at most 64 KiB. Like ssh, esdk warns on standard error
//! when a private key file (AES, RSA private) can be read or written by group or others. An RSA
//! key without `name=` gets a name derived from its public key (`rsa-sha256:` and the SHA-256 of
//! its DER SubjectPublicKeyInfo in hex), so the keys of a multi-recipient message never share a
//! name; to decrypt messages written by earlier esdk versions, where every RSA key was named
//! `default`, a private key without `name=` also tries that old name.

mod argfile;
mod compat;
mod crypto;
mod ecdh;
mod keys;
mod kms;
mod logging;
mod metadata;
mod output;
mod run;
mod setup;
mod signals;
mod streams;

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

/// Why the command failed, and with which exit status.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    message: String,
    /// More about the cause, shown with `-v` (a service error's full SDK error).
    detail: Option<String>,
}

impl Failure {
    /// Exit status 1: the message itself failed.
    pub const CRYPTO: u8 = 1;
    /// Exit status 2: usage.
    pub const USAGE: u8 = 2;
    /// Exit status 3: I/O.
    pub const IO: u8 = 3;
    /// Exit status 128 + n: stopped by signal n (SIGINT 130, SIGTERM 143, SIGHUP 129), as
    /// shells report it.
    pub const SIGNALED: u8 = 128;

    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: Self::USAGE,
            message: message.into(),
            detail: None,
        }
    }

    pub fn io(message: impl Into<String>) -> Self {
        Self {
            code: Self::IO,
            message: message.into(),
            detail: None,
        }
    }

    /// Adds where the failure happened.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl From<esdk::Error> for Failure {
    fn from(e: esdk::Error) -> Self {
        match e {
            esdk::Error::Io(io) => Self::from(io),
            other => {
                tracing::debug!(error = ?other, "failure");
                Self {
                    code: Self::CRYPTO,
                    message: format!("{other}{}", hint(&other)),
                    detail: logging::detail(&other),
                }
            }
        }
    }
}

/// The option that raises the limit `e` reports, if any.
fn hint(e: &esdk::Error) -> &'static str {
    use esdk::error::LimitError;
    match e {
        esdk::Error::Limit(LimitError::FrameTooLarge { .. }) => {
            " (raise the limit with --max-frame-length)"
        }
        esdk::Error::Limit(LimitError::BodyTooLarge { .. }) => {
            " (raise the limit with --max-body-length)"
        }
        esdk::Error::Limit(LimitError::TooManyEncryptedDataKeys { .. }) => {
            " (raise the limit with --max-encrypted-data-keys)"
        }
        _ => "",
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        // An adapter's typed error, possibly inside another adapter's I/O error.
        let mut io = &e;
        loop {
            match esdk::io::error_of(io) {
                Some(esdk::Error::Io(inner)) => io = inner,
                Some(typed) => {
                    return Self {
                        code: Self::CRYPTO,
                        message: format!("{typed}{}", hint(typed)),
                        detail: logging::detail(typed),
                    };
                }
                None => break,
            }
        }
        if let Some(b64) = io
            .get_ref()
            .and_then(|i| i.downcast_ref::<streams::Base64Error>())
        {
            return Self {
                code: Self::CRYPTO,
                message: b64.to_string(),
                detail: None,
            };
        }
        Self::io(e.to_string())
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "esdk",
    version,
    about = "Encrypt and decrypt files, folders and pipes in the AWS Encryption SDK format",
    after_help = "The official aws-encryption-cli's spellings work too: `esdk -e …`/`esdk -d …` \
                  (or --encrypt, --decrypt, --decrypt-unsigned anywhere on the line), @FILE \
                  argument files, its --commitment-policy and --algorithm names, -w key=ARN.\n\n\
                  Exit status: 0 success; 1 a message could not be encrypted or decrypted \
                  (malformed, tampered, truncated, wrong key, refused); 2 usage (bad arguments, \
                  key file, output exists); 3 I/O error; 129/130/143 stopped by SIGHUP/SIGINT/SIGTERM \
                  (temporary outputs removed). Outputs that are not regular files (/dev/null, \
                  FIFOs, sockets) are written directly, never replaced; symbolic links are \
                  refused as outputs and inside output folders."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a new random 256-bit AES wrapping key (mode 0600; never overwrites).
    Keygen {
        /// The key file to create.
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Encrypt a file, a folder (recursively) or standard input.
    #[command(short_flag = 'e', long_flag = "encrypt")]
    Encrypt(EncryptArgs),
    /// Decrypt a file, a folder (recursively) or standard input.
    #[command(short_flag = 'd', long_flag = "decrypt")]
    Decrypt(DecryptArgs),
}

/// Options common to both directions.
#[derive(Debug, Args)]
pub struct Common {
    /// Input: a file, a folder, or `-` for standard input.
    #[arg(long, short)]
    pub input: String,
    /// Output: a file, a folder, or `-` for standard output.
    #[arg(long, short)]
    pub output: String,
    /// Wrapping keys, one group per occurrence: `key=aes:PATH [namespace=NS] [name=NAME]`,
    /// `key=rsa-public:PATH`/`key=rsa-private:PATH [padding=oaep-sha256|…]`; AWS KMS
    /// `key=ARN|alias/NAME|KEY_ID [region=R] [profile=P] [grant-token=T]` (`mrk-` keys are
    /// MRK-aware), `discovery=true [region=R] [discovery-partition=P] [discovery-account=ID]`,
    /// `key=kms-rsa:ARN [public-key=PEM]`; ECDH `key=ecdh:PRIV.pem recipient=PUB.pem`,
    /// `key=ecdh-ephemeral:PUB.pem`, `key=ecdh-discovery:PRIV.pem`, `key=kms-ecdh:ARN
    /// recipient=PUB.pem`, `key=kms-ecdh-discovery:ARN` [curve=p256|p384|p521]; hierarchical
    /// `key=hierarchy:BRANCH_KEY_ID key-store-table=T key-store-kms-key=ARN [cache-ttl=S]`.
    /// Several keys or groups make a multi-keyring (the first generates the data key). Without
    /// `name=`, an RSA key is named `rsa-sha256:` + the SHA-256 of its public key (a private key
    /// also tries the former default name, `default`). Key files: regular files of at most
    /// 64 KiB.
    #[arg(long = "wrapping-keys", short = 'w', num_args = 1.., required = true, action = ArgAction::Append)]
    pub wrapping_keys: Vec<String>,
    /// `--wrapping-keys` grouped by occurrence (filled from the matches after parsing).
    #[arg(skip)]
    pub key_groups: Vec<Vec<String>>,
    /// Encryption context `key=value` pairs (one or more per occurrence). On decrypt, each pair
    /// must be in the message, and a bare `key` must be present with any value.
    #[arg(long = "encryption-context", short = 'c', num_args = 1.., action = ArgAction::Append, value_parser = compat::parse_context_entry)]
    pub encryption_context: Vec<(String, Option<String>)>,
    /// Commitment policy.
    #[arg(long, value_enum, default_value_t = Policy::RequireEncryptRequireDecrypt)]
    pub commitment_policy: Policy,
    /// Refuse messages with more encrypted data keys than this [default: 32] (bounds the
    /// key-unwrapping work a message can ask for; 65535 lifts the limit).
    #[arg(long)]
    pub max_encrypted_data_keys: Option<u16>,
    /// Encrypt: refuse a plaintext longer than this many bytes (and tell the keyrings and the
    /// cache the bound). Decrypt: refuse a frame length, or a non-framed body, above it.
    #[arg(long, value_name = "BYTES")]
    pub max_length: Option<u64>,
    /// Write one JSON line per processed file to this file (appended) or `-` (standard output).
    #[arg(long, conflicts_with = "suppress_metadata")]
    pub metadata_output: Option<String>,
    /// No metadata (the default; the official CLI needs this or --metadata-output).
    #[arg(long, short = 'S')]
    pub suppress_metadata: bool,
    /// Truncate the --metadata-output file instead of appending to it.
    #[arg(long, requires = "metadata_output")]
    pub overwrite_metadata: bool,
    /// Replace existing output files.
    #[arg(long, conflicts_with_all = ["no_overwrite", "interactive"])]
    pub overwrite: bool,
    /// Skip (with a warning) inputs whose output file exists, instead of failing.
    #[arg(long, conflicts_with = "interactive")]
    pub no_overwrite: bool,
    /// Ask on standard error before replacing an existing output file (answer y on standard
    /// input; anything else skips the file).
    #[arg(long)]
    pub interactive: bool,
    /// Base64-encode the output.
    #[arg(long)]
    pub encode: bool,
    /// Base64-decode the input (whitespace and line breaks are ignored).
    #[arg(long)]
    pub decode: bool,
    /// Cache data keys across messages: `capacity=N max_age=SECONDS
    /// [max_messages_encrypted=N] [max_bytes_encrypted=N]` (encrypt caches only inputs of
    /// known length: files, or standard input with --max-length).
    #[arg(long, num_args = 1.., value_name = "SETTING")]
    pub caching: Option<Vec<String>>,
    /// Suffix added to (encrypt) or removed from (decrypt) file names in folders and when the
    /// output is an existing folder (`--suffix` alone: none).
    #[arg(long, num_args = 0..=1, default_value = ".encrypted", default_missing_value = "")]
    pub suffix: String,
    /// Folders are always processed recursively; accepted for the official CLI's sake.
    #[arg(short = 'r', short_alias = 'R', long = "recursive")]
    pub recursive: bool,
    /// No progress bar (it is shown only when stderr is a terminal anyway), and no warnings.
    #[arg(long, short)]
    pub quiet: bool,
    /// More logs on stderr: -v info, -vv debug, -vvv and -vvvv add the AWS SDK's.
    #[arg(short = 'v', action = ArgAction::Count)]
    pub verbose: u8,
    /// Threads that encrypt or decrypt a large file's frames at once: 1 (the default) keeps
    /// each file on one thread, the least CPU per file (handing 1 MiB batches to a pool costs
    /// about a third more CPU for unsigned suites); 0 uses every core (RAYON_NUM_THREADS caps
    /// them), for less wall-clock time on an otherwise idle machine.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub threads: usize,
    /// AWS KMS endpoint URL (default: the AWS SDK's, or AWS_ENDPOINT_URL).
    #[arg(long)]
    pub kms_endpoint: Option<String>,
    /// Amazon DynamoDB endpoint URL for branch key stores (default: the AWS SDK's, or
    /// AWS_ENDPOINT_URL).
    #[arg(long)]
    pub dynamodb_endpoint: Option<String>,
}

#[derive(Debug, Args)]
struct EncryptArgs {
    #[command(flatten)]
    common: Common,
    /// Algorithm suite: the official CLI's names (AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    /// AES_256_GCM_IV12_TAG16, …), esdk's (…_NO_KDF) or an id such as 0x0478 (default: the
    /// policy's default, 0x0578).
    #[arg(long, value_parser = compat::parse_suite)]
    algorithm: Option<esdk::AlgorithmSuite>,
    /// Plaintext bytes per frame.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    frame_length: u32,
    /// Accepted for the official CLI's sake: encrypted files are always written whole or not
    /// at all.
    #[arg(short = 'b', long = "buffer")]
    buffer: bool,
}

#[derive(Debug, Args)]
struct DecryptArgs {
    #[command(flatten)]
    common: Common,
    /// Release no plaintext until the whole message, signature included, has verified
    /// (plaintext beyond 64 MiB is held in an encrypted temporary file).
    #[arg(short = 'b', long, conflicts_with = "unsigned_only")]
    buffer: bool,
    /// Refuse signed messages (before reading their body).
    #[arg(long, alias = "decrypt-unsigned")]
    unsigned_only: bool,
    /// Refuse messages whose frame length is above this many bytes, before reading a frame (a
    /// frame is held whole until its tag is checked).
    #[arg(long, default_value_t = run::DEFAULT_MAX_FRAME_LENGTH)]
    max_frame_length: u32,
    /// Refuse non-framed messages whose body is longer than this many bytes, before reading it
    /// (such a body is held whole until its tag is checked).
    #[arg(long, default_value_t = run::DEFAULT_MAX_BODY_LENGTH)]
    max_body_length: u64,
}

/// `--commitment-policy` values: the official CLI's spellings, and esdk's upper-case ones.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Policy {
    /// Encrypt with committing suites; decrypt only committed messages (default).
    #[value(
        name = "require-encrypt-require-decrypt",
        alias = "REQUIRE_ENCRYPT_REQUIRE_DECRYPT"
    )]
    RequireEncryptRequireDecrypt,
    /// Encrypt with committing suites; decrypt anything.
    #[value(
        name = "require-encrypt-allow-decrypt",
        alias = "REQUIRE_ENCRYPT_ALLOW_DECRYPT"
    )]
    RequireEncryptAllowDecrypt,
    /// Encrypt with non-committing suites; decrypt anything.
    #[value(
        name = "forbid-encrypt-allow-decrypt",
        alias = "FORBID_ENCRYPT_ALLOW_DECRYPT"
    )]
    ForbidEncryptAllowDecrypt,
}

impl From<Policy> for esdk::CommitmentPolicy {
    fn from(p: Policy) -> Self {
        match p {
            Policy::RequireEncryptRequireDecrypt => Self::REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
            Policy::RequireEncryptAllowDecrypt => Self::REQUIRE_ENCRYPT_ALLOW_DECRYPT,
            Policy::ForbidEncryptAllowDecrypt => Self::FORBID_ENCRYPT_ALLOW_DECRYPT,
        }
    }
}

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let program = if args.is_empty() {
        OsString::from("esdk")
    } else {
        args.remove(0)
    };
    let args = match argfile::expand(args).and_then(compat::mode_flags_to_subcommand) {
        Ok(a) => a,
        Err(f) => {
            eprintln!("esdk: error: {}", f.message);
            return ExitCode::from(f.code);
        }
    };
    let matches = Cli::command().get_matches_from(std::iter::once(program).chain(args));
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // clap's derive flattens repeated multi-value options; the groups come from the matches.
    if let Some((_, sub)) = matches.subcommand()
        && let Ok(Some(groups)) = sub.try_get_occurrences::<String>("wrapping_keys")
    {
        let groups: Vec<Vec<String>> = groups.map(|g| g.cloned().collect()).collect();
        match &mut cli.command {
            Command::Encrypt(a) => a.common.key_groups = groups,
            Command::Decrypt(a) => a.common.key_groups = groups,
            Command::Keygen { .. } => {}
        }
    }
    let (verbosity, quiet) = match &cli.command {
        Command::Encrypt(a) => (a.common.verbose, a.common.quiet),
        Command::Decrypt(a) => (a.common.verbose, a.common.quiet),
        Command::Keygen { .. } => (0, false),
    };
    logging::init(verbosity, quiet);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("esdk: cannot start the async runtime: {e}");
            return ExitCode::from(Failure::IO);
        }
    };
    let result = runtime.block_on(async {
        // The handlers are installed here, before `work` creates any temporary output: a signal
        // in between would otherwise kill the process with the default action and leave that
        // output behind.
        let mut signals = signals::Signals::install()
            .map_err(|e| Failure::io(format!("cannot install signal handlers: {e}")))?;
        tokio::select! {
            biased;
            (number, name) = signals.recv() => Err(Failure {
                code: Failure::SIGNALED.saturating_add(u8::try_from(number).unwrap_or(0)),
                message: format!("interrupted by {name}; temporary outputs were removed"),
                detail: None,
            }),
            // Dropping `work` removes any temporary output: nothing is left under a final name.
            r = work(cli.command) => r,
        }
    });
    // Do not wait for blocking reads still in flight (a standard input that never ends after
    // Ctrl-C): the outcome is decided and temporary outputs are already removed.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("esdk: error: {}", f.message);
            if let Some(detail) = &f.detail {
                tracing::info!("cause of the error: {detail}");
            }
            ExitCode::from(f.code)
        }
    }
}

async fn work(command: Command) -> Result<(), Failure> {
    match command {
        Command::Keygen { output } => run::keygen(&output),
        Command::Encrypt(a) => {
            if a.buffer {
                tracing::debug!("-b/--buffer: encrypted files are always written whole anyway");
            }
            let frame = esdk::FrameLength::new(a.frame_length)
                .ok_or_else(|| Failure::usage("--frame-length must be at least 1"))?;
            run::run(
                &a.common,
                run::Mode::Encrypt {
                    suite: a.algorithm,
                    frame,
                },
            )
            .await
        }
        Command::Decrypt(a) => {
            let release = if a.buffer {
                esdk::io::Release::verified(64 << 20)
            } else if a.unsigned_only {
                esdk::io::Release::UnsignedOnly
            } else {
                esdk::io::Release::Streaming
            };
            run::run(
                &a.common,
                run::Mode::Decrypt {
                    release,
                    max_frame_length: a.max_frame_length,
                    max_body_length: a.max_body_length,
                },
            )
            .await
        }
    }
}
