//! Reading tenant files with problems located at a line, a column and a dotted field path.
//!
//! Parsing and validation are the core's ([`TenantFile`] and [`TenantFile::validate`]); this
//! module only maps what they report back to a place in the file a person can jump to.

use std::fmt;
use std::path::Path;

use concierge_core::tenant::TenantFile;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::error::{read_text, CliError};

/// One problem in an input file, as `file:line:column: field: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file, as given on the command line.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// The dotted path of the field (`channels.whatsapp.replies.rules[1].name`), when known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", one_line(&self.message))
    }
}

/// Collapses a multi-line message into one line.
pub(crate) fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The 1-based line and column of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit_once('\n')
        .map_or(before, |(_, rest)| rest)
        .chars()
        .count()
        + 1;
    (line, column)
}

/// A tenant file read from disk and accepted by the core.
#[derive(Clone, Debug)]
pub struct TenantSource {
    /// The TOML text.
    pub text: String,
    /// The parsed, validated file.
    pub file: TenantFile,
    /// Where it was read from (its `[knowledge] paths` are relative to it).
    pub path: std::path::PathBuf,
}

/// Reads and checks a tenant file; every problem is located.
///
/// # Errors
/// The problems, at least one, when the file is not a valid tenant file.
pub fn check_tenant(display: &str, text: &str) -> Result<TenantFile, Vec<Problem>> {
    let file: TenantFile = match toml::from_str(text) {
        Ok(file) => file,
        Err(e) => {
            let (line, column) = e
                .span()
                .map(|s| line_col(text, s.start))
                .map_or((None, None), |(l, c)| (Some(l), Some(c)));
            return Err(vec![Problem {
                file: display.to_owned(),
                line,
                column,
                field: None,
                message: e.message().to_owned(),
            }]);
        }
    };
    match file.validate() {
        Ok(()) => Ok(file),
        Err(errors) => Err(errors
            .into_iter()
            .map(|e| {
                let (line, column) = locate(text, &e.field)
                    .map(|offset| line_col(text, offset))
                    .map_or((None, None), |(l, c)| (Some(l), Some(c)));
                Problem {
                    file: display.to_owned(),
                    line,
                    column,
                    field: Some(e.field),
                    message: e.message,
                }
            })
            .collect()),
    }
}

/// Loads a tenant file for a command; the first problem becomes the error line.
///
/// # Errors
/// [`CliError::BadInput`] when the file cannot be read or is invalid.
pub fn load_tenant(path: &Path) -> Result<TenantSource, CliError> {
    let text = read_text(path)?;
    let display = path.display().to_string();
    match check_tenant(&display, &text) {
        Ok(file) => Ok(TenantSource {
            text,
            file,
            path: path.to_owned(),
        }),
        Err(problems) => {
            let more = problems.len().saturating_sub(1);
            let first = problems
                .first()
                .map_or_else(|| format!("{display}: invalid"), ToString::to_string);
            Err(CliError::bad_input(if more > 0 {
                format!("{first} (and {more} more: run `concierge validate {display}`)")
            } else {
                first
            }))
        }
    }
}

/// One step of a dotted field path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// Splits `channels.email.rules."shop.example"[0].match` into keys and indexes.
fn segments(path: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut chars = path.chars().peekable();
    let mut key = String::new();
    let flush = |key: &mut String, out: &mut Vec<Segment>| {
        if !key.is_empty() {
            out.push(Segment::Key(std::mem::take(key)));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                for q in chars.by_ref() {
                    if q == '"' {
                        break;
                    }
                    key.push(q);
                }
            }
            '.' => flush(&mut key, &mut out),
            '[' => {
                flush(&mut key, &mut out);
                let digits: String = chars.by_ref().take_while(|d| *d != ']').collect();
                if let Ok(i) = digits.trim().parse() {
                    out.push(Segment::Index(i));
                }
            }
            other => key.push(other),
        }
    }
    flush(&mut key, &mut out);
    out
}

/// The byte offset of the deepest part of `path` found in `text` (the field itself when it is
/// written, else the nearest table that holds it).
pub(crate) fn locate(text: &str, path: &str) -> Option<usize> {
    let root = DeTable::parse(text).ok()?;
    let mut best: Option<usize> = None;
    let mut table: Option<&DeTable<'_>> = Some(root.get_ref());
    let mut array: Option<&[Spanned<DeValue<'_>>]> = None;
    for segment in segments(path) {
        let found: &Spanned<DeValue<'_>> = match (&segment, table, array) {
            (Segment::Key(k), Some(t), _) => {
                let Some((key, value)) = t.iter().find(|(key, _)| key.get_ref() == k) else {
                    break;
                };
                best = Some(key.span().start);
                value
            }
            (Segment::Index(i), _, Some(items)) => {
                let Some(value) = items.get(*i) else { break };
                best = Some(value.span().start);
                value
            }
            _ => break,
        };
        match found.get_ref() {
            DeValue::Table(t) => {
                table = Some(t);
                array = None;
            }
            DeValue::Array(a) => {
                table = None;
                array = Some(a);
            }
            _ => {
                table = None;
                array = None;
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_keys_and_indexes() {
        assert_eq!(
            segments(r#"channels.email.rules."a.b"[2].match"#),
            vec![
                Segment::Key("channels".into()),
                Segment::Key("email".into()),
                Segment::Key("rules".into()),
                Segment::Key("a.b".into()),
                Segment::Index(2),
                Segment::Key("match".into()),
            ]
        );
    }

    #[test]
    fn fields_are_found_at_their_line() {
        let text = "id = \"x\"\n\n[[r.rules]]\nname = \"a\"\n\n[[r.rules]]\nname = \"b\"\n";
        let at = locate(text, "r.rules[1].name").map(|o| line_col(text, o));
        assert_eq!(at, Some((7, 1)));
        // A field that is not written points at its table.
        let at = locate(text, "r.rules[0].missing").map(|o| line_col(text, o));
        assert_eq!(at.map(|(l, _)| l), Some(3));
    }
}
