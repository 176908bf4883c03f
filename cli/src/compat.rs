//! The spellings of aws-encryption-cli (the official AWS Encryption SDK CLI, 4.x) that `esdk`
//! also accepts: `-e`/`-d` instead of the subcommands, its algorithm suite names, its
//! `--caching` settings and its `-c KEY` (decrypt: the key must be present).

use std::ffi::OsString;
use std::time::Duration;

use esdk::AlgorithmSuite;

use crate::Failure;

const SUBCOMMANDS: [&str; 4] = ["keygen", "encrypt", "decrypt", "help"];
/// Short flags without a value that the official CLI lets users bundle with `-e`/`-d`
/// (`-eS`, `-dvv`).
const BUNDLABLE: &str = "edSvqbrR";

/// `esdk -e ARGS`, `esdk ARGS --decrypt`, `esdk --decrypt-unsigned ARGS` … become
/// `esdk encrypt ARGS` / `esdk decrypt [--decrypt-unsigned] ARGS`: the official CLI takes its
/// mode as a flag anywhere on the line.
pub fn mode_flags_to_subcommand(mut args: Vec<OsString>) -> Result<Vec<OsString>, Failure> {
    let first = args.first().and_then(|a| a.to_str()).unwrap_or("");
    if SUBCOMMANDS.contains(&first) {
        return Ok(args);
    }
    let mut mode: Option<&'static str> = None;
    let mut unsigned = false;
    let mut i = 0;
    while i < args.len() {
        let Some(arg) = args[i].to_str().map(str::to_owned) else {
            i += 1;
            continue;
        };
        if arg == "--" {
            break;
        }
        let found = match arg.as_str() {
            "--encrypt" => Some(("encrypt", None)),
            "--decrypt" => Some(("decrypt", None)),
            "--decrypt-unsigned" => Some(("decrypt", None)),
            short
                if short.len() > 1
                    && short.starts_with('-')
                    && !short.starts_with("--")
                    && short[1..].chars().all(|c| BUNDLABLE.contains(c))
                    && short[1..].contains(['e', 'd']) =>
            {
                let mode = if short.contains('e') {
                    "encrypt"
                } else {
                    "decrypt"
                };
                let rest: String = short[1..]
                    .chars()
                    .filter(|c| *c != 'e' && *c != 'd')
                    .collect();
                if short[1..].contains('e') && short[1..].contains('d') {
                    return Err(Failure::usage("-e and -d cannot be used together"));
                }
                Some((mode, (!rest.is_empty()).then(|| format!("-{rest}"))))
            }
            _ => None,
        };
        match found {
            Some((m, rest)) => {
                let this_unsigned = arg == "--decrypt-unsigned";
                if mode.is_some_and(|old| old != m || unsigned != this_unsigned) {
                    return Err(Failure::usage(
                        "give one mode: -e/--encrypt, -d/--decrypt or --decrypt-unsigned",
                    ));
                }
                mode = Some(m);
                unsigned = this_unsigned;
                match rest {
                    Some(r) => {
                        args[i] = OsString::from(r);
                        i += 1;
                    }
                    None => {
                        args.remove(i);
                    }
                }
            }
            None => i += 1,
        }
    }
    if let Some(m) = mode {
        args.insert(0, OsString::from(m));
        if unsigned {
            args.insert(1, OsString::from("--decrypt-unsigned"));
        }
    }
    Ok(args)
}

/// The official CLI's name of a suite (the Python ESDK's `Algorithm` member names): esdk's
/// names, except that the three suites without key derivation have no `_NO_KDF` suffix.
pub fn suite_name(suite: AlgorithmSuite) -> String {
    let name = format!("{suite:?}");
    match name.strip_suffix("_NO_KDF") {
        Some(short) => short.to_owned(),
        None => name,
    }
}

/// `--algorithm`: the official CLI's names, esdk's names (`…_NO_KDF`), or a hexadecimal id such
/// as `0x0478`; case-insensitive.
pub fn parse_suite(s: &str) -> Result<AlgorithmSuite, String> {
    let by_id = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .and_then(|hex| u16::from_str_radix(hex, 16).ok())
        .and_then(|id| AlgorithmSuite::from_id(id).ok());
    by_id
        .or_else(|| {
            AlgorithmSuite::ALL.into_iter().find(|suite| {
                suite_name(*suite).eq_ignore_ascii_case(s)
                    || format!("{suite:?}").eq_ignore_ascii_case(s)
            })
        })
        .ok_or_else(|| {
            let names: Vec<String> = AlgorithmSuite::ALL
                .iter()
                .map(|s| format!("{} (0x{:04X})", suite_name(*s), s.id()))
                .collect();
            format!("unknown suite {s:?}; one of: {}", names.join(", "))
        })
}

/// One `-c` value: `key=value`, or (decrypt only) `key`: the key must be in the message's
/// context, with any value.
pub fn parse_context_entry(s: &str) -> Result<(String, Option<String>), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), Some(v.to_owned()))),
        Some(_) => Err(format!("expected key=value, got {s:?}")),
        None if !s.is_empty() => Ok((s.to_owned(), None)),
        None => Err("empty encryption context entry".into()),
    }
}

/// `--caching capacity=N max_age=SECONDS [max_messages_encrypted=N] [max_bytes_encrypted=N]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Caching {
    pub capacity: usize,
    pub max_age: Duration,
    pub max_messages: Option<u64>,
    pub max_bytes: Option<u64>,
}

impl Caching {
    pub fn parse(settings: &[String]) -> Result<Self, Failure> {
        let bad = |m: String| Failure::usage(format!("--caching: {m}"));
        let (mut capacity, mut max_age, mut max_messages, mut max_bytes) = (None, None, None, None);
        for s in settings {
            let (k, v) = s
                .split_once('=')
                .filter(|(k, v)| !k.is_empty() && !v.is_empty())
                .ok_or_else(|| bad(format!("expected key=value, got {s:?}")))?;
            let int = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| bad(format!("{k}={v:?} is not a whole number")))
            };
            match k {
                "capacity" => {
                    let n = int(v)?;
                    if n == 0 {
                        return Err(bad("capacity must be at least 1".into()));
                    }
                    capacity =
                        Some(usize::try_from(n).map_err(|_| bad("capacity too large".into()))?);
                }
                "max_age" => {
                    let secs: f64 = v
                        .parse()
                        .map_err(|_| bad(format!("max_age={v:?} is not a number of seconds")))?;
                    let age = Duration::try_from_secs_f64(secs)
                        .ok()
                        .filter(|d| !d.is_zero())
                        .ok_or_else(|| bad(format!("max_age={v} must be more than 0 seconds")))?;
                    max_age = Some(age);
                }
                "max_messages_encrypted" => max_messages = Some(int(v)?),
                "max_bytes_encrypted" => max_bytes = Some(int(v)?),
                _ => {
                    return Err(bad(format!(
                        "unknown setting {k:?} (capacity, max_age, max_messages_encrypted, \
                         max_bytes_encrypted)"
                    )));
                }
            }
        }
        match (capacity, max_age) {
            (Some(capacity), Some(max_age)) => Ok(Self {
                capacity,
                max_age,
                max_messages,
                max_bytes,
            }),
            _ => Err(bad("both capacity and max_age are required".into())),
        }
    }
}

/// Python's truthy and falsy spellings, as the official CLI reads `discovery=`.
pub fn pseudo_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "t" | "1" | "yes" | "y" => Some(true),
        "false" | "f" | "0" | "no" | "n" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn mode_flags_move_to_the_front() {
        let r = mode_flags_to_subcommand(os(&["-w", "k", "-e", "-i", "-"])).unwrap();
        assert_eq!(r, os(&["encrypt", "-w", "k", "-i", "-"]));
        let r = mode_flags_to_subcommand(os(&["-Sd", "-i", "x"])).unwrap();
        assert_eq!(r, os(&["decrypt", "-S", "-i", "x"]));
        let r = mode_flags_to_subcommand(os(&["--decrypt-unsigned", "-i", "x"])).unwrap();
        assert_eq!(r, os(&["decrypt", "--decrypt-unsigned", "-i", "x"]));
        let r = mode_flags_to_subcommand(os(&["encrypt", "-e"])).unwrap();
        assert_eq!(r, os(&["encrypt", "-e"]));
        assert!(mode_flags_to_subcommand(os(&["-e", "-d"])).is_err());
        assert!(mode_flags_to_subcommand(os(&["-d", "--decrypt-unsigned"])).is_err());
        let r = mode_flags_to_subcommand(os(&["--decrypt", "-d"])).unwrap();
        assert_eq!(r, os(&["decrypt"]));
    }

    #[test]
    fn all_eleven_suites_by_both_names_and_id() {
        for suite in AlgorithmSuite::ALL {
            assert_eq!(parse_suite(&suite_name(suite)), Ok(suite));
            assert_eq!(parse_suite(&format!("{suite:?}")), Ok(suite));
            assert_eq!(parse_suite(&format!("0x{:04x}", suite.id())), Ok(suite));
        }
        assert_eq!(
            parse_suite("AES_256_GCM_IV12_TAG16"),
            Ok(AlgorithmSuite::AES_256_GCM_IV12_TAG16_NO_KDF)
        );
    }
}
