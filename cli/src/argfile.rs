//! `@FILE` arguments, read the way aws-encryption-cli reads them.
//!
//! Any argument that starts with `@` is replaced by the arguments in that file (recursively, as
//! Python's argparse `fromfile_prefix_chars` does). Each line is split on its own with the rules
//! of Python's `shlex` in POSIX mode as the official CLI configures it:
//!
//! * whitespace separates arguments; a line's arguments never continue on the next line;
//! * `'…'` and `"…"` quote, and inside either a backslash escapes the quote character or a
//!   backslash (any other backslash is kept); outside quotes a backslash escapes any character;
//! * `#` at the start of an argument, or after an unquoted word character, starts a comment
//!   that runs to the end of the line;
//! * then each argument is trimmed, a leading `~` or `~/` becomes `$HOME`, and `$NAME` or
//!   `${NAME}` become the environment variable's value when it is set (left as is otherwise).

use std::ffi::OsString;

use crate::Failure;

/// The deepest chain of `@FILE`s that name other `@FILE`s.
const MAX_DEPTH: usize = 16;

/// `args` (without the program name) with every `@FILE` replaced by its arguments.
pub fn expand(args: Vec<OsString>) -> Result<Vec<OsString>, Failure> {
    expand_at(args, 0)
}

fn expand_at(args: Vec<OsString>, depth: usize) -> Result<Vec<OsString>, Failure> {
    let mut out = Vec::with_capacity(args.len());
    for arg in args {
        let Some(path) = arg.to_str().and_then(|s| s.strip_prefix('@')) else {
            out.push(arg);
            continue;
        };
        if depth >= MAX_DEPTH {
            return Err(Failure::usage(format!(
                "@{path}: argument files nested more than {MAX_DEPTH} deep"
            )));
        }
        let text = std::fs::read(path)
            .map_err(|e| Failure::usage(format!("cannot read argument file {path:?}: {e}")))?;
        let text = String::from_utf8_lossy(&text);
        let mut inner = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let words = split_line(line)
                .map_err(|why| Failure::usage(format!("{path}:{}: {why}", n + 1)))?;
            inner.extend(words.iter().map(|w| OsString::from(expand_word(w.trim()))));
        }
        out.extend(expand_at(inner, depth + 1)?);
    }
    Ok(out)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Between,
    Word,
    Quoted(char),
    /// After a backslash; the state to return to.
    Escape(Escaped),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Escaped {
    Word,
    Quoted(char),
}

/// One line split into arguments (Python `shlex`, POSIX mode, `whitespace_split`, both quote
/// characters escapable).
pub fn split_line(line: &str) -> Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut token = String::new();
    let mut quoted = false;
    let mut state = State::Between;
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n');
    for c in line.chars() {
        match state {
            State::Between => {
                if is_space(c) {
                    continue;
                } else if c == '#' {
                    break;
                } else if c == '\\' {
                    state = State::Escape(Escaped::Word);
                } else if c == '\'' || c == '"' {
                    state = State::Quoted(c);
                } else {
                    token.push(c);
                    state = State::Word;
                }
            }
            State::Word => {
                if is_space(c) {
                    words.push(std::mem::take(&mut token));
                    quoted = false;
                    state = State::Between;
                } else if c == '#' {
                    state = State::Between;
                    break;
                } else if c == '\'' || c == '"' {
                    state = State::Quoted(c);
                } else if c == '\\' {
                    state = State::Escape(Escaped::Word);
                } else {
                    token.push(c);
                }
            }
            State::Quoted(q) => {
                quoted = true;
                if c == q {
                    state = State::Word;
                } else if c == '\\' {
                    state = State::Escape(Escaped::Quoted(q));
                } else {
                    token.push(c);
                }
            }
            State::Escape(back) => {
                if let Escaped::Quoted(q) = back
                    && c != '\\'
                    && c != q
                {
                    token.push('\\');
                }
                token.push(c);
                state = match back {
                    Escaped::Word => State::Word,
                    Escaped::Quoted(q) => State::Quoted(q),
                };
            }
        }
    }
    match state {
        State::Quoted(_) => return Err("no closing quotation"),
        State::Escape(_) => return Err("no escaped character"),
        State::Word => words.push(token),
        State::Between if quoted || !token.is_empty() => words.push(token),
        State::Between => {}
    }
    Ok(words)
}

/// `~` and `$NAME`/`${NAME}` expansion, as Python's `os.path.expanduser` then `expandvars`.
fn expand_word(word: &str) -> String {
    let word = match word.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => match std::env::var("HOME") {
            Ok(home) => format!("{}{rest}", home.trim_end_matches('/')),
            Err(_) => word.to_owned(),
        },
        _ => word.to_owned(),
    };
    if !word.contains('$') {
        return word;
    }
    let mut out = String::with_capacity(word.len());
    let mut rest = word.as_str();
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, len) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        match std::env::var(name) {
            Ok(value) if len > 0 && !name.is_empty() => {
                out.push_str(&value);
                rest = &after[len..];
            }
            _ => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::split_line;

    fn split(s: &str) -> Vec<String> {
        split_line(s).unwrap()
    }

    #[test]
    fn lines_split_like_python_shlex() {
        assert_eq!(split("-e  -w key=a\tkey=b"), ["-e", "-w", "key=a", "key=b"]);
        assert_eq!(split(r#"-o "a b" 'c d'"#), ["-o", "a b", "c d"]);
        assert_eq!(split(r#""it\"s" 'x\'y' "a\b""#), ["it\"s", "x'y", "a\\b"]);
        assert_eq!(split(r"a\ b \#c"), ["a b", "#c"]);
        assert_eq!(split("# all comment"), Vec::<String>::new());
        assert_eq!(split("key=abc#def ghi"), ["key=abc"]);
        assert_eq!(split("x '' y"), ["x", "", "y"]);
        assert_eq!(split(r#"pre"quoted part"post"#), ["prequoted partpost"]);
        assert!(split_line("'open").is_err());
        assert!(split_line("end\\").is_err());
    }
}
