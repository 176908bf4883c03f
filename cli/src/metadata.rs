//! `--metadata-output` records: one JSON object per processed file, with the official CLI's
//! keys (`mode`, `input`, `output`, `header` with its encrypted data keys) and esdk's own
//! additions (suite id, byte counts, the full encryption context).
//!
//! As in the official CLI, keys are sorted, paths are absolute (`<stdin>`/`<stdout>` for the
//! standard streams), and the `header` object mirrors the Python ESDK's `MessageHeader`:
//! base64 for binary values, provider ids included, keys sorted by provider id and key info.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use base64::Engine as _;
use esdk::{ContentType, EncryptionContext, MessageHeader};
use serde_json::{Value, json};

use crate::Failure;
use crate::compat::suite_name;

/// Where records go.
pub enum Sink {
    Stdout,
    File(fs::File),
}

impl Sink {
    /// `-` or a file, appended to (truncated first with `--overwrite-metadata`).
    pub fn open(target: &str, overwrite: bool) -> Result<Self, Failure> {
        if target == "-" {
            return Ok(Self::Stdout);
        }
        if target.is_empty() {
            return Err(Failure::usage("--metadata-output needs a file name or -"));
        }
        if Path::new(target).is_dir() {
            return Err(Failure::usage(format!(
                "--metadata-output {target} is a folder"
            )));
        }
        let mut options = fs::OpenOptions::new();
        options.create(true);
        if overwrite {
            options.write(true).truncate(true);
        } else {
            options.append(true);
        }
        options
            .open(target)
            .map(Self::File)
            .map_err(|e| Failure::io(format!("cannot open metadata file {target}: {e}")))
    }

    pub fn write(&mut self, record: &Value) -> Result<(), Failure> {
        let text = format!("{record}\n");
        let written = match self {
            Self::Stdout => {
                let mut s = std::io::stdout().lock();
                s.write_all(text.as_bytes()).and_then(|()| s.flush())
            }
            Self::File(f) => f.write_all(text.as_bytes()),
        };
        written.map_err(|e| Failure::io(format!("cannot write metadata: {e}")))
    }
}

/// The name the official CLI gives a path (absolute), or a standard stream.
pub fn shown_path(path: Option<&Path>, stream: &str) -> String {
    match path {
        None => stream.to_owned(),
        Some(p) => std::path::absolute(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string(),
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn context_json(ec: &EncryptionContext) -> Value {
    Value::Object(
        ec.iter()
            .map(|(k, v)| (k.to_owned(), Value::from(v)))
            .collect(),
    )
}

/// The official CLI's `header` object.
pub fn header_json(h: &MessageHeader) -> Value {
    let v1 = h.version() == esdk::suite::MessageFormatVersion::V1;
    let mut keys: Vec<_> = h.encrypted_data_keys().iter().collect();
    keys.sort_by(|a, b| {
        (a.provider_id().as_bytes(), a.provider_info())
            .cmp(&(b.provider_id().as_bytes(), b.provider_info()))
    });
    let keys: Vec<Value> = keys
        .iter()
        .map(|k| {
            json!({
                "encrypted_data_key": b64(k.ciphertext()),
                "key_provider": {
                    "key_info": b64(k.provider_info()),
                    "provider_id": b64(k.provider_id().as_bytes()),
                },
            })
        })
        .collect();
    json!({
        "algorithm": suite_name(h.algorithm_suite()),
        "commitment_key": h.commitment_key().map(b64),
        "content_type": match h.content_type() {
            ContentType::NonFramed => 1,
            _ => 2,
        },
        "encrypted_data_keys": keys,
        "encryption_context": context_json(h.encryption_context()),
        "frame_length": h.frame_length(),
        "header_iv_length": if v1 { Some(12) } else { None },
        "message_id": b64(h.message_id()),
        "type": if v1 { Some(128) } else { None },
        "version": if v1 { "1.0" } else { "2.0" },
    })
}

/// What one processed file is described by.
pub struct Record<'a> {
    pub mode: &'a str,
    pub input: &'a str,
    pub output: &'a str,
    pub header: &'a MessageHeader,
    pub context: &'a EncryptionContext,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl Record<'_> {
    pub fn to_json(&self) -> Value {
        let h = self.header;
        let suite = h.algorithm_suite();
        let keys: Vec<Value> = h
            .encrypted_data_keys()
            .iter()
            .map(|edk| {
                json!({
                    "provider_id": edk.provider_id(),
                    "provider_info": b64(edk.provider_info()),
                })
            })
            .collect();
        json!({
            "mode": self.mode,
            "input": self.input,
            "output": self.output,
            "header": header_json(h),
            "algorithm_suite": suite_name(suite),
            "algorithm_suite_id": format!("0x{:04X}", suite.id()),
            "message_id": b64(h.message_id()),
            "frame_length": h.frame_length(),
            "encryption_context": context_json(self.context),
            "encrypted_data_keys": keys,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
        })
    }
}
