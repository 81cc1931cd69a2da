//! Documents (Markdown, plain text, CSV, HTML, PDF) read into sections under their heading path.
//!
//! [`parse`] is the one entry point: an adapter reads a file's bytes, picks its
//! [`DocumentKind`] (usually [`DocumentKind::from_file_name`]) and gets back a [`Document`]: its
//! text, normalized and cut into [`Section`]s under the headings above them, and a
//! [`Document::content_hash`] that says whether it changed since it was last embedded.
//! [`super::chunk::chunks`] then cuts the sections to the embedding model's size.
//!
//! Pure and deterministic: no file system, no clock; the same bytes give the same document on
//! every target, wasm32 included. PDF needs the crate feature `pdf` (native adapters); without it
//! a PDF is refused with [`DocumentError::Unsupported`].
//!
//! What each kind becomes:
//! - **Markdown**: a section per heading (ATX `#` or setext `===`), under the path of headings
//!   above it (`## B` under `# A` is `[A, B]`; a later `# C` starts again at `[C]`). Paragraphs,
//!   list items (`- `), table cells (`a | b`, a row a line) and code are kept; images, HTML
//!   comments, tags, front matter and link URLs are dropped (link text stays).
//! - **Text**: one section with no heading, its paragraphs kept.
//! - **CSV**: a section per row, rendered with its header as one fact,
//!   `Item: Eggless chocolate cake; Price: ₹900; Notes: 48 h notice`, under the file stem
//!   (`menu` for `menus/menu.csv`). The row's own first column starts its text, so a citation
//!   reads `menu > Item: Eggless chocolate cake; …` without repeating the value in the heading
//!   (retrieval indexes heading and text together). Rows are separated by `,`, or by `;` or tab
//!   when the header line has more of those; empty rows are skipped, a row with a different
//!   number of fields than the header is an error naming its line.
//! - **HTML**: the visible text, a section per `h1`–`h6` (the `<title>` is the root heading when
//!   the page has no `h1`). Dropped: `script`, `style`, `nav`, `header`, `footer`, `aside`,
//!   `form`, `noscript`, `template`, `svg`, `iframe`, comments, and elements whose `id` or `class`
//!   names a cookie/consent/GDPR banner, navigation, breadcrumbs or footer, or whose `role` is
//!   `navigation`, `banner`, `contentinfo`, `menu`, `menubar` or `dialog`. An `id`/`class` of
//!   `menu` alone is kept: on a bakery's or restaurant's page `#menu` is usually the food menu.
//! - **PDF** (feature `pdf`): the text layer, a section per page under `[Page N]`; a scanned PDF
//!   without one is [`DocumentError::NoTextLayer`].

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The largest document [`parse`] reads: 5 MiB. A business's menu, FAQ or price list is a few
/// kilobytes; anything this large is more likely an export or a mistake, and would crowd out
/// every other document in the tenant's chunk budget.
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024 * 1024;

/// The formats [`parse`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocumentKind {
    /// CommonMark with GitHub tables and task lists (`.md`, `.markdown`).
    Markdown,
    /// Plain text (`.txt`, `.text`).
    Text,
    /// Comma-separated values with a header row (`.csv`).
    Csv,
    /// A web page (`.html`, `.htm`).
    Html,
    /// A PDF's text layer (`.pdf`; needs the crate feature `pdf`).
    Pdf,
}

impl DocumentKind {
    /// Every kind, in declaration order.
    pub const ALL: [DocumentKind; 5] = [
        DocumentKind::Markdown,
        DocumentKind::Text,
        DocumentKind::Csv,
        DocumentKind::Html,
        DocumentKind::Pdf,
    ];

    /// The kind a file name's extension says, case-insensitively (`FAQ.MD` is Markdown);
    /// `None` for any other extension or none.
    pub fn from_file_name(name: &str) -> Option<Self> {
        let file = name.rsplit(['/', '\\']).next().unwrap_or(name);
        let (_, extension) = file.rsplit_once('.')?;
        match extension.to_ascii_lowercase().as_str() {
            "md" | "markdown" => Some(Self::Markdown),
            "txt" | "text" => Some(Self::Text),
            "csv" => Some(Self::Csv),
            "html" | "htm" => Some(Self::Html),
            "pdf" => Some(Self::Pdf),
            _ => None,
        }
    }

    /// The kind's lowercase name, as in messages and the serialized form (`markdown`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Markdown => "markdown",
            Self::Text => "text",
            Self::Csv => "csv",
            Self::Html => "html",
            Self::Pdf => "pdf",
        }
    }
}

impl fmt::Display for DocumentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A document read into sections: what [`super::chunk::chunks`] cuts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    /// Where it came from, as the adapter names it (a path relative to the listed folder, or a
    /// file name); every chunk carries it for citation.
    pub source: String,
    /// The format it was read as.
    pub kind: DocumentKind,
    /// Its text under its headings, in document order; never empty.
    pub sections: Vec<Section>,
    /// SHA-256 (lowercase hex) of the normalized sections, heading paths and texts: equal
    /// exactly when the chunks would be, so an unchanged document (even one re-saved with other
    /// line endings, or a page whose scripts changed) is not embedded again.
    pub content_hash: String,
}

/// A run of text under one heading path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// The headings above the text, outermost first; empty above a document's first heading.
    pub heading: Vec<String>,
    /// The text: normalized (LF line ends, no trailing spaces, at most one blank line between
    /// paragraphs, no blank lines at either end), never empty.
    pub text: String,
}

/// Why a document could not be read. Every message names the document and says what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// The bytes are not UTF-8 text (or hold NUL bytes), so the file is binary or in another
    /// encoding.
    #[error(
        "{document} is not a text file we can read: it has bytes that are not UTF-8 text. \
         Save it as UTF-8 text (\"CSV UTF-8\" in Excel), or upload it as a PDF"
    )]
    Binary {
        /// The document's source.
        document: String,
    },
    /// Over [`MAX_DOCUMENT_BYTES`].
    #[error(
        "{document} is too large: {size} bytes, and the limit is {limit} bytes. \
         Split it into smaller files"
    )]
    TooLarge {
        /// The document's source.
        document: String,
        /// Its size in bytes.
        size: usize,
        /// [`MAX_DOCUMENT_BYTES`].
        limit: usize,
    },
    /// No text left once markup, blank lines and dropped parts are gone.
    #[error("{document} has no text to learn from (it is empty, or only markup or headings)")]
    Empty {
        /// The document's source.
        document: String,
    },
    /// A CSV row with a different number of fields than the header.
    #[error(
        "{document}, line {line}: this row has {found} fields but the header has {expected}. \
         Every row needs the same columns; check for a missing or extra comma, or a comma \
         inside a value that is not in double quotes"
    )]
    RaggedCsv {
        /// The document's source.
        document: String,
        /// The row's line number, from 1.
        line: u64,
        /// The header's field count.
        expected: u64,
        /// The row's field count.
        found: u64,
    },
    /// Any other malformed CSV.
    #[error("{document}, line {line}: this is not valid CSV ({message})")]
    Csv {
        /// The document's source.
        document: String,
        /// The line number, from 1 (0 when the parser did not say).
        line: u64,
        /// What the CSV parser reported.
        message: String,
    },
    /// A kind this build cannot read.
    #[error("{document}: {kind} documents are not supported here. {hint}")]
    Unsupported {
        /// The document's source.
        document: String,
        /// The kind's name ([`DocumentKind::as_str`]).
        kind: &'static str,
        /// What to do instead.
        hint: &'static str,
    },
    /// A PDF with no text layer: scanned pages are images.
    #[error(
        "{document} has no text we can read: it looks like a scanned PDF (pictures of pages). \
         Upload the original document, or run it through OCR first"
    )]
    NoTextLayer {
        /// The document's source.
        document: String,
    },
    /// A PDF that could not be opened.
    #[error(
        "{document} could not be read as a PDF ({message}). If it is password-protected, \
         upload a copy without the password"
    )]
    Pdf {
        /// The document's source.
        document: String,
        /// What the PDF reader reported.
        message: String,
    },
}

/// Reads `bytes` as a `kind` document named `source`.
///
/// Text kinds must be UTF-8 (a byte-order mark is dropped, CRLF and CR become LF).
///
/// # Errors
/// [`DocumentError::TooLarge`] over [`MAX_DOCUMENT_BYTES`]; [`DocumentError::Binary`] for bytes
/// that are not UTF-8 text or hold NUL; [`DocumentError::Empty`] when no text is left;
/// [`DocumentError::RaggedCsv`] / [`DocumentError::Csv`] for malformed CSV;
/// [`DocumentError::Unsupported`] for a PDF without the `pdf` feature;
/// [`DocumentError::NoTextLayer`] / [`DocumentError::Pdf`] for a scanned or unreadable PDF.
pub fn parse(kind: DocumentKind, source: &str, bytes: &[u8]) -> Result<Document, DocumentError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(DocumentError::TooLarge {
            document: source.to_owned(),
            size: bytes.len(),
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    let raw_sections = match kind {
        DocumentKind::Pdf => pdf::sections(source, bytes)?,
        _ => {
            let text = decode(source, bytes)?;
            match kind {
                DocumentKind::Markdown => markdown::sections(&text),
                DocumentKind::Text => vec![Section {
                    heading: Vec::new(),
                    text,
                }],
                DocumentKind::Csv => csv_rows::sections(source, &text)?,
                DocumentKind::Html => html::sections(&text),
                DocumentKind::Pdf => unreachable!("handled above"),
            }
        }
    };
    let sections: Vec<Section> = raw_sections
        .into_iter()
        .filter_map(|section| {
            let text = normalize(&section.text);
            let heading = section
                .heading
                .into_iter()
                .map(|h| collapse_whitespace(&h))
                .collect();
            (!text.is_empty()).then_some(Section { heading, text })
        })
        .collect();
    if sections.is_empty() {
        return Err(DocumentError::Empty {
            document: source.to_owned(),
        });
    }
    let content_hash = content_hash(&sections);
    Ok(Document {
        source: source.to_owned(),
        kind,
        sections,
        content_hash,
    })
}

/// UTF-8 only: no BOM, LF line ends.
fn decode(source: &str, bytes: &[u8]) -> Result<String, DocumentError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let binary = || DocumentError::Binary {
        document: source.to_owned(),
    };
    if bytes.contains(&0) {
        return Err(binary());
    }
    let text = std::str::from_utf8(bytes).map_err(|_| binary())?;
    Ok(text.replace("\r\n", "\n").replace('\r', "\n"))
}

/// LF line ends, control characters as spaces, no trailing spaces, runs of blank lines as one,
/// no blank lines at either end.
fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_pending = false;
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    for line in text.split('\n') {
        let line: String = line
            .chars()
            .map(|c| if c.is_control() && c != '\t' { ' ' } else { c })
            .collect();
        let line = line.trim_end();
        if line.trim_start().is_empty() {
            blank_pending = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
            if blank_pending {
                out.push('\n');
            }
        }
        blank_pending = false;
        out.push_str(line);
    }
    out
}

/// Runs of whitespace as one space, none at either end (headings, HTML text).
fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn content_hash(sections: &[Section]) -> String {
    let mut hasher = Sha256::new();
    for section in sections {
        for heading in &section.heading {
            hasher.update(heading.as_bytes());
            hasher.update([0x1f]);
        }
        hasher.update([0x1e]);
        hasher.update(section.text.as_bytes());
        hasher.update([0x1d]);
    }
    hex::encode(hasher.finalize())
}

/// A heading path being built: `(level, text)` outermost first. A heading of level `n` closes
/// every open heading of level `n` or deeper.
#[derive(Debug, Default)]
struct HeadingPath(Vec<(usize, String)>);

impl HeadingPath {
    fn enter(&mut self, level: usize, text: &str) {
        let text = collapse_whitespace(text);
        if text.is_empty() {
            return;
        }
        while self.0.last().is_some_and(|(open, _)| *open >= level) {
            self.0.pop();
        }
        self.0.push((level, text));
    }

    fn path(&self) -> Vec<String> {
        self.0.iter().map(|(_, text)| text.clone()).collect()
    }
}

/// Text being gathered for one section, with the block breaks between its parts.
#[derive(Debug, Default)]
struct TextBuffer(String);

impl TextBuffer {
    /// Ends the current line (nothing at the start).
    fn newline(&mut self) {
        if !self.0.is_empty() && !self.0.ends_with('\n') {
            self.0.push('\n');
        }
    }

    /// Ends the current paragraph (nothing at the start).
    fn blank_line(&mut self) {
        self.newline();
        if !self.0.is_empty() && !self.0.ends_with("\n\n") {
            self.0.push('\n');
        }
    }

    fn push(&mut self, text: &str) {
        self.0.push_str(text);
    }

    fn at_line_start(&self) -> bool {
        self.0.is_empty() || self.0.ends_with('\n')
    }

    fn take(&mut self) -> String {
        std::mem::take(&mut self.0)
    }
}

mod markdown {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

    use super::{html, HeadingPath, Section, TextBuffer};

    pub(super) fn sections(text: &str) -> Vec<Section> {
        let options = Options::ENABLE_TABLES
            | Options::ENABLE_STRIKETHROUGH
            | Options::ENABLE_TASKLISTS
            | Options::ENABLE_FOOTNOTES
            | Options::ENABLE_YAML_STYLE_METADATA_BLOCKS
            | Options::ENABLE_PLUSES_DELIMITED_METADATA_BLOCKS;
        let mut walker = Walker::default();
        for event in Parser::new_ext(text, options) {
            walker.event(event);
        }
        walker.finish()
    }

    #[derive(Debug, Default)]
    struct Walker {
        sections: Vec<Section>,
        path: HeadingPath,
        body: TextBuffer,
        /// The text of the heading being read, with its level.
        heading: Option<(usize, String)>,
        /// Open lists: the next number of an ordered one, `None` for bullets.
        lists: Vec<Option<u64>>,
        /// Inside an image or a metadata block (their text is dropped).
        dropped: usize,
        /// Cells already written in the current table row.
        cells: usize,
        /// Consecutive raw HTML, read for its text once it ends.
        html: String,
    }

    impl Walker {
        fn event(&mut self, event: Event<'_>) {
            if !matches!(event, Event::Html(_) | Event::InlineHtml(_)) && !self.html.is_empty() {
                let html = std::mem::take(&mut self.html);
                let text = html::inline_text(&html);
                self.text(&text);
            }
            match event {
                Event::Start(tag) => self.start(tag),
                Event::End(tag) => self.end(tag),
                Event::Text(text)
                | Event::Code(text)
                | Event::InlineMath(text)
                | Event::DisplayMath(text) => self.text(&text),
                Event::Html(html) | Event::InlineHtml(html) => {
                    if self.dropped == 0 {
                        self.html.push_str(&html);
                    }
                }
                Event::SoftBreak => self.text(" "),
                Event::HardBreak => {
                    if self.heading.is_none() {
                        self.body.newline();
                    }
                }
                Event::Rule => self.body.blank_line(),
                Event::TaskListMarker(done) => self.text(if done { "[x] " } else { "[ ] " }),
                Event::FootnoteReference(_) => {}
            }
        }

        fn text(&mut self, text: &str) {
            if self.dropped > 0 {
                return;
            }
            match &mut self.heading {
                Some((_, heading)) => heading.push_str(text),
                None => self.body.push(text),
            }
        }

        fn start(&mut self, tag: Tag<'_>) {
            match tag {
                Tag::Heading { level, .. } => {
                    self.flush();
                    self.heading = Some((level as usize, String::new()));
                }
                Tag::Image { .. } | Tag::MetadataBlock(_) => self.dropped += 1,
                Tag::Paragraph => {
                    if self.lists.is_empty() {
                        self.body.blank_line();
                    } else {
                        self.body.newline();
                    }
                }
                Tag::CodeBlock(_) | Tag::BlockQuote(_) | Tag::Table(_) | Tag::HtmlBlock => {
                    self.body.blank_line();
                }
                Tag::List(first) => {
                    self.body.newline();
                    self.lists.push(first);
                }
                Tag::Item => {
                    self.body.newline();
                    let depth = self.lists.len().saturating_sub(1);
                    self.body.push(&"  ".repeat(depth));
                    match self.lists.last_mut() {
                        Some(Some(number)) => {
                            self.body.push(&format!("{number}. "));
                            *number = number.saturating_add(1);
                        }
                        _ => self.body.push("- "),
                    }
                }
                Tag::TableHead | Tag::TableRow => {
                    self.body.newline();
                    self.cells = 0;
                }
                Tag::TableCell => {
                    if self.cells > 0 {
                        self.body.push(" | ");
                    }
                    self.cells += 1;
                }
                Tag::DefinitionListTitle | Tag::DefinitionListDefinition => self.body.newline(),
                _ => {}
            }
        }

        fn end(&mut self, tag: TagEnd) {
            match tag {
                TagEnd::Heading(_) => {
                    if let Some((level, text)) = self.heading.take() {
                        self.path.enter(level, &text);
                    }
                }
                TagEnd::Image | TagEnd::MetadataBlock(_) => {
                    self.dropped = self.dropped.saturating_sub(1);
                }
                TagEnd::Paragraph => {
                    if self.lists.is_empty() {
                        self.body.blank_line();
                    } else {
                        self.body.newline();
                    }
                }
                TagEnd::List(_) => {
                    self.lists.pop();
                    if self.lists.is_empty() {
                        self.body.blank_line();
                    } else {
                        self.body.newline();
                    }
                }
                TagEnd::Item | TagEnd::TableHead | TagEnd::TableRow => self.body.newline(),
                TagEnd::CodeBlock | TagEnd::BlockQuote(_) | TagEnd::Table | TagEnd::HtmlBlock => {
                    self.body.blank_line();
                }
                _ => {}
            }
        }

        /// Closes the section above a new heading.
        fn flush(&mut self) {
            let text = self.body.take();
            if !text.trim().is_empty() {
                self.sections.push(Section {
                    heading: self.path.path(),
                    text,
                });
            }
        }

        fn finish(mut self) -> Vec<Section> {
            if !self.html.is_empty() {
                let html = std::mem::take(&mut self.html);
                let text = html::inline_text(&html);
                self.text(&text);
            }
            if let Some((level, text)) = self.heading.take() {
                self.path.enter(level, &text);
            }
            self.flush();
            self.sections
        }
    }
}

mod csv_rows {
    use super::{DocumentError, Section};

    pub(super) fn sections(source: &str, text: &str) -> Result<Vec<Section>, DocumentError> {
        let header_line = text
            .lines()
            .find(|line| !line.trim().is_empty())
            .unwrap_or("");
        let delimiter = [b',', b';', b'\t']
            .into_iter()
            .rev()
            .max_by_key(|d| header_line.bytes().filter(|b| b == d).count())
            .filter(|d| header_line.as_bytes().contains(d))
            .unwrap_or(b',');
        // Flexible, so that a row of empty fields (`,,`, or spaces) is skipped whatever its
        // length, and the field count is checked here with the row's real line number.
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(true)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let line = |position: Option<&csv::Position>| {
            position.map_or(0, |position| line_at(text, position.byte()))
        };
        let error = |e: csv::Error| DocumentError::Csv {
            document: source.to_owned(),
            line: line(e.position()),
            message: e.to_string(),
        };
        let headers: Vec<String> = reader
            .headers()
            .map_err(error)?
            .iter()
            .map(super::collapse_whitespace)
            .collect();
        let heading = vec![file_stem(source)];
        let mut sections = Vec::new();
        for record in reader.records() {
            let record = record.map_err(error)?;
            if record.iter().all(|field| field.trim().is_empty()) {
                continue;
            }
            if record.len() != headers.len() {
                return Err(DocumentError::RaggedCsv {
                    document: source.to_owned(),
                    line: line(record.position()),
                    expected: headers.len() as u64,
                    found: record.len() as u64,
                });
            }
            let fact = record
                .iter()
                .zip(&headers)
                .filter_map(|(value, header)| {
                    let value = super::collapse_whitespace(value);
                    if value.is_empty() {
                        return None;
                    }
                    Some(if header.is_empty() {
                        value
                    } else {
                        format!("{header}: {value}")
                    })
                })
                .collect::<Vec<_>>()
                .join("; ");
            sections.push(Section {
                heading: heading.clone(),
                text: fact,
            });
        }
        Ok(sections)
    }

    /// The line (from 1) of the record starting at `byte`. The parser skips empty lines
    /// without counting them, so its own line numbers drift; the byte offset does not.
    fn line_at(text: &str, byte: u64) -> u64 {
        let bytes = text.as_bytes();
        let byte = usize::try_from(byte).unwrap_or(usize::MAX).min(bytes.len());
        let before = bytes[..byte].iter().filter(|&&b| b == b'\n').count();
        let blank = bytes[byte..].iter().take_while(|&&b| b == b'\n').count();
        (1 + before + blank) as u64
    }

    /// `menus/Menu 2024.csv` → `Menu 2024`.
    fn file_stem(source: &str) -> String {
        let file = source.rsplit(['/', '\\']).next().unwrap_or(source);
        let stem = match file.rsplit_once('.') {
            Some((stem, _)) if !stem.is_empty() => stem,
            _ => file,
        };
        if stem.trim().is_empty() {
            source.to_owned()
        } else {
            stem.to_owned()
        }
    }
}

mod html {
    use html5gum::{DefaultEmitter, StartTag, Token, Tokenizer};

    use super::{HeadingPath, Section, TextBuffer};

    /// Elements whose content is never the business's text.
    const DROPPED: &[&str] = &[
        "script", "style", "nav", "footer", "header", "aside", "form", "noscript", "template",
        "svg", "iframe", "object", "canvas", "button", "select", "math",
    ];
    /// Words in an `id` or `class` that mark a banner, navigation or footer (`cookie-banner`,
    /// `site_nav`, `footerLinks` is not split and so kept).
    const DROPPED_WORDS: &[&str] = &[
        "cookie",
        "cookies",
        "consent",
        "gdpr",
        "banner",
        "nav",
        "navbar",
        "navigation",
        "breadcrumb",
        "breadcrumbs",
        "footer",
        "sidebar",
        "popup",
        "modal",
    ];
    /// `role` values of the same.
    const DROPPED_ROLES: &[&str] = &[
        "navigation",
        "banner",
        "contentinfo",
        "menu",
        "menubar",
        "dialog",
        "alertdialog",
    ];
    /// Elements without an end tag.
    const VOID: &[&str] = &[
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr",
    ];
    /// Elements that end a paragraph.
    const BLOCKS: &[&str] = &[
        "p",
        "div",
        "section",
        "article",
        "main",
        "blockquote",
        "pre",
        "table",
        "ul",
        "ol",
        "dl",
        "figure",
        "figcaption",
        "address",
        "details",
        "summary",
        "hr",
        "body",
    ];
    /// Elements that end a line.
    const LINES: &[&str] = &["br", "tr", "li", "dt", "dd", "caption", "option"];

    fn name(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).to_ascii_lowercase()
    }

    fn heading_level(name: &str) -> Option<usize> {
        match name.as_bytes() {
            [b'h', digit @ b'1'..=b'6'] => Some(usize::from(digit - b'0')),
            _ => None,
        }
    }

    fn is_dropped(name: &str, tag: &StartTag<()>) -> bool {
        if DROPPED.contains(&name) {
            return true;
        }
        let attribute = |key: &str| {
            tag.attributes
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key.as_bytes()))
                .map(|(_, v)| String::from_utf8_lossy(&v.value).to_ascii_lowercase())
        };
        if attribute("role").is_some_and(|role| {
            role.split_whitespace()
                .any(|role| DROPPED_ROLES.contains(&role))
        }) {
            return true;
        }
        ["id", "class"].into_iter().filter_map(attribute).any(|v| {
            v.split(|c: char| !c.is_ascii_alphanumeric())
                .any(|word| DROPPED_WORDS.contains(&word))
        })
    }

    fn tokens(html: &str) -> impl Iterator<Item = Token> + '_ {
        let mut emitter = DefaultEmitter::default();
        emitter.naively_switch_states(true);
        Tokenizer::new_with_emitter(html, emitter).filter_map(Result::ok)
    }

    /// One piece of a page's kept content.
    #[derive(Debug)]
    enum Piece {
        Text(String),
        Preformatted(String),
        Line,
        Paragraph,
        Cell,
        Item,
        Heading(usize, String),
    }

    /// The page's kept content in order, and its `<title>`.
    fn pieces(html: &str) -> (Vec<Piece>, String) {
        let mut pieces = Vec::new();
        let mut title = String::new();
        // The element being dropped and how many of the same name are open inside it.
        let mut dropping: Option<(String, usize)> = None;
        let mut in_title = false;
        let mut heading: Option<(usize, String)> = None;
        let mut pre = 0usize;
        for token in tokens(html) {
            match token {
                Token::StartTag(tag) => {
                    let name = name(&tag.name);
                    let void = tag.self_closing || VOID.contains(&name.as_str());
                    if let Some((dropped, depth)) = &mut dropping {
                        if *dropped == name && !void {
                            *depth += 1;
                        }
                        continue;
                    }
                    if !void && is_dropped(&name, &tag) {
                        dropping = Some((name, 1));
                        continue;
                    }
                    if name == "title" {
                        in_title = !void;
                    } else if let Some(level) = heading_level(&name) {
                        heading = Some((level, String::new()));
                    } else if name == "pre" {
                        pre += 1;
                        pieces.push(Piece::Paragraph);
                    } else if name == "td" || name == "th" {
                        pieces.push(Piece::Cell);
                    } else if name == "li" {
                        pieces.push(Piece::Item);
                    } else if BLOCKS.contains(&name.as_str()) {
                        pieces.push(Piece::Paragraph);
                    } else if LINES.contains(&name.as_str()) {
                        pieces.push(Piece::Line);
                    }
                }
                Token::EndTag(tag) => {
                    let name = name(&tag.name);
                    if let Some((dropped, depth)) = &mut dropping {
                        if *dropped == name {
                            *depth -= 1;
                            if *depth == 0 {
                                dropping = None;
                            }
                        }
                        continue;
                    }
                    if name == "title" {
                        in_title = false;
                    } else if heading_level(&name).is_some() {
                        if let Some((level, text)) = heading.take() {
                            pieces.push(Piece::Heading(level, text));
                        }
                    } else if name == "pre" {
                        pre = pre.saturating_sub(1);
                        pieces.push(Piece::Paragraph);
                    } else if BLOCKS.contains(&name.as_str()) {
                        pieces.push(Piece::Paragraph);
                    } else if LINES.contains(&name.as_str()) {
                        pieces.push(Piece::Line);
                    }
                }
                Token::String(text) => {
                    if dropping.is_some() {
                        continue;
                    }
                    let text = String::from_utf8_lossy(&text.value).into_owned();
                    if in_title {
                        title.push_str(&text);
                    } else if let Some((_, heading)) = &mut heading {
                        heading.push_str(&text);
                    } else if pre > 0 {
                        pieces.push(Piece::Preformatted(text));
                    } else {
                        pieces.push(Piece::Text(text));
                    }
                }
                Token::Comment(_) | Token::Doctype(_) | Token::Error(_) => {}
            }
        }
        if let Some((level, text)) = heading {
            pieces.push(Piece::Heading(level, text));
        }
        (pieces, title)
    }

    /// Appends HTML-ish text, whitespace collapsed as a browser would.
    fn push_flowing(body: &mut TextBuffer, text: &str) {
        let mut space = text.starts_with(char::is_whitespace);
        for word in text.split_whitespace() {
            if space && !body.at_line_start() && !body.0.ends_with(' ') {
                body.push(" ");
            }
            body.push(word);
            space = true;
        }
        if text.ends_with(char::is_whitespace) && !body.at_line_start() && !text.trim().is_empty() {
            body.push(" ");
        }
    }

    pub(super) fn sections(html: &str) -> Vec<Section> {
        let (pieces, title) = pieces(html);
        let mut path = HeadingPath::default();
        let has_h1 = pieces
            .iter()
            .any(|piece| matches!(piece, Piece::Heading(1, text) if !text.trim().is_empty()));
        if !has_h1 {
            path.enter(1, &title);
        }
        let mut sections = Vec::new();
        let mut body = TextBuffer::default();
        let mut cells = 0usize;
        let mut flush = |body: &mut TextBuffer, path: &HeadingPath| {
            let text = body.take();
            if !text.trim().is_empty() {
                sections.push(Section {
                    heading: path.path(),
                    text,
                });
            }
        };
        for piece in pieces {
            match piece {
                Piece::Text(text) => push_flowing(&mut body, &text),
                Piece::Preformatted(text) => body.push(&text),
                Piece::Line => {
                    body.newline();
                    cells = 0;
                }
                Piece::Paragraph => {
                    body.blank_line();
                    cells = 0;
                }
                Piece::Cell => {
                    if cells > 0 {
                        body.push(" | ");
                    }
                    cells += 1;
                }
                Piece::Item => {
                    body.newline();
                    body.push("- ");
                }
                Piece::Heading(level, text) => {
                    flush(&mut body, &path);
                    path.enter(level, &text);
                    cells = 0;
                }
            }
        }
        flush(&mut body, &path);
        sections
    }

    /// The visible text of an HTML fragment (raw HTML inside Markdown), same rules as a page
    /// but headings read as text.
    pub(super) fn inline_text(html: &str) -> String {
        let (pieces, _) = pieces(html);
        let mut body = TextBuffer::default();
        for piece in pieces {
            match piece {
                Piece::Text(text) => push_flowing(&mut body, &text),
                Piece::Preformatted(text) => body.push(&text),
                Piece::Line | Piece::Item => body.newline(),
                Piece::Paragraph => body.blank_line(),
                Piece::Cell => body.push(" "),
                Piece::Heading(_, text) => {
                    body.blank_line();
                    push_flowing(&mut body, &text);
                    body.blank_line();
                }
            }
        }
        body.take()
    }
}

#[cfg(feature = "pdf")]
mod pdf {
    use super::{DocumentError, Section};

    /// A section per page with text, under `[Page N]`.
    ///
    /// `lopdf` is not ours and reads hostile files: a panic inside it is caught and reported as
    /// an unreadable PDF (the feature is for native adapters, which unwind).
    pub(super) fn sections(source: &str, bytes: &[u8]) -> Result<Vec<Section>, DocumentError> {
        let unreadable = |message: String| DocumentError::Pdf {
            document: source.to_owned(),
            message,
        };
        let read = std::panic::catch_unwind(|| -> Result<Vec<(u32, String)>, String> {
            let document = lopdf::Document::load_mem(bytes).map_err(|e| e.to_string())?;
            if document.is_encrypted() {
                return Err("it is encrypted".to_owned());
            }
            let mut pages = Vec::new();
            for number in document.get_pages().into_keys() {
                // A page whose text cannot be decoded is treated as having none.
                let text = document.extract_text(&[number]).unwrap_or_default();
                pages.push((number, text));
            }
            Ok(pages)
        })
        .map_err(|_| unreadable("the file is damaged".to_owned()))?
        .map_err(unreadable)?;
        let sections: Vec<Section> = read
            .into_iter()
            .filter(|(_, text)| !text.trim().is_empty())
            .map(|(number, text)| Section {
                heading: vec![format!("Page {number}")],
                text,
            })
            .collect();
        if sections.is_empty() {
            return Err(DocumentError::NoTextLayer {
                document: source.to_owned(),
            });
        }
        Ok(sections)
    }
}

#[cfg(not(feature = "pdf"))]
mod pdf {
    use super::{DocumentError, Section};

    pub(super) fn sections(source: &str, _bytes: &[u8]) -> Result<Vec<Section>, DocumentError> {
        Err(DocumentError::Unsupported {
            document: source.to_owned(),
            kind: super::DocumentKind::Pdf.as_str(),
            hint: "This deployment reads Markdown, text, CSV and HTML: save the PDF's text as a \
                   .txt or .md file and add that instead",
        })
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{expect, Expect};
    use proptest::prelude::*;

    use super::*;

    /// Sections as `[A > B]` lines over their text.
    fn render(document: &Document) -> String {
        document
            .sections
            .iter()
            .map(|s| format!("[{}]\n{}\n", s.heading.join(" > "), s.text))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn check(kind: DocumentKind, source: &str, input: &str, expected: Expect) {
        let document = parse(kind, source, input.as_bytes()).expect("parses");
        assert_eq!(document.source, source);
        assert_eq!(document.kind, kind);
        expected.assert_eq(&render(&document));
    }

    const FAQ: &str = "\
---
title: FAQ
---
# Sweet Crumbs FAQ

Answers to what customers ask most.  \r
\r
\r
## Orders

### How much notice do you need?
Custom cakes need **48 hours'** notice; see [our order page](https://example.com/order).

![a cake](cake.jpg)

<!-- internal: update prices in May -->

- Cupcakes: same day
- Wedding cakes: two weeks
  1. Tasting first
  2. Then the design

Delivery
--------
| Area | Fee |
|------|-----|
| Indiranagar | ₹50 |
| Whitefield | ₹120 |

# Allergens

We bake with nuts. Use `eggless` at checkout for eggless sponge.

```
Eggless: yes
Gluten-free: on request
```
";

    #[test]
    fn markdown_faq_sections_under_heading_paths() {
        check(
            DocumentKind::Markdown,
            "faq.md",
            FAQ,
            expect![[r#"
            [Sweet Crumbs FAQ]
            Answers to what customers ask most.

            [Sweet Crumbs FAQ > Orders > How much notice do you need?]
            Custom cakes need 48 hours' notice; see our order page.

            - Cupcakes: same day
            - Wedding cakes: two weeks
              1. Tasting first
              2. Then the design

            [Sweet Crumbs FAQ > Delivery]
            Area | Fee
            Indiranagar | ₹50
            Whitefield | ₹120

            [Allergens]
            We bake with nuts. Use eggless at checkout for eggless sponge.

            Eggless: yes
            Gluten-free: on request
        "#]],
        );
    }

    #[test]
    fn text_one_section_paragraphs_kept() {
        check(
            DocumentKind::Text,
            "hours.txt",
            "\u{feff}Opening hours\r\n\r\nMon–Sat 9am to 8pm.   \r\nSunday closed.\r\n\r\n\r\n\r\nWe close early on Diwali.\r\n",
            expect![[r#"
                []
                Opening hours

                Mon–Sat 9am to 8pm.
                Sunday closed.

                We close early on Diwali.
            "#]],
        );
    }

    const MENU: &str = "\
Item,Price,Notes
Eggless chocolate cake,₹900,48 h notice
\"Red velvet, 1 kg\",₹1200,
,,
Blueberry cheesecake , ₹1500 ,\"Contains
gelatin\"
";

    #[test]
    fn csv_one_fact_per_row_under_file_stem() {
        check(
            DocumentKind::Csv,
            "menus/menu.csv",
            MENU,
            expect![[r#"
            [menu]
            Item: Eggless chocolate cake; Price: ₹900; Notes: 48 h notice

            [menu]
            Item: Red velvet, 1 kg; Price: ₹1200

            [menu]
            Item: Blueberry cheesecake; Price: ₹1500; Notes: Contains gelatin
        "#]],
        );
    }

    #[test]
    fn csv_semicolons_detected() {
        check(
            DocumentKind::Csv,
            "prices.csv",
            "Item;Price\nCroissant;₹120\n",
            expect![[r#"
                [prices]
                Item: Croissant; Price: ₹120
            "#]],
        );
    }

    const PAGE: &str = r#"<!DOCTYPE html>
<html><head><title>Sweet Crumbs Bakery</title>
<style>body { color: red }</style>
<script>var x = "<h1>not a heading</h1>";</script>
</head>
<body>
<header><h1>Sweet Crumbs</h1><nav><a href="/">Home</a> <a href="/menu">Menu</a></nav></header>
<div id="cookie-banner" class="banner">We use cookies. <div>Nested <b>consent</b> text</div> <button>Accept</button></div>
<main>
<section id="menu">
<h2>Our cakes</h2>
<p>All cakes are baked fresh &amp; to order.
   Prices include&nbsp;GST.</p>
<ul><li>Eggless chocolate cake &ndash; &#8377;900</li><li>Red velvet &ndash; ₹1200</li></ul>
<table><tr><th>Size</th><th>Serves</th></tr><tr><td>1 kg</td><td>8–10</td></tr></table>
<h3>Custom orders</h3>
<p>Call us at <a href="tel:+911234">+91 1234</a>.<br>Or e-mail.</p>
<!-- TODO: add photos -->
<img src="cake.jpg" alt="cake">
</section>
<aside>Follow us on Instagram</aside>
<div role="navigation">Skip links</div>
<h2>Visit</h2>
<p>12 MG Road, Bengaluru</p>
</main>
<form><label>Newsletter</label><input name="email"></form>
<footer>© 2024 Sweet Crumbs</footer>
<noscript>Enable JavaScript</noscript>
</body></html>"#;

    #[test]
    fn html_page_text_without_chrome() {
        check(
            DocumentKind::Html,
            "site/index.html",
            PAGE,
            expect![[r#"
            [Sweet Crumbs Bakery > Our cakes]
            All cakes are baked fresh & to order. Prices include GST.

            - Eggless chocolate cake – ₹900
            - Red velvet – ₹1200

            Size | Serves
            1 kg | 8–10

            [Sweet Crumbs Bakery > Our cakes > Custom orders]
            Call us at +91 1234.
            Or e-mail.

            [Sweet Crumbs Bakery > Visit]
            12 MG Road, Bengaluru
        "#]],
        );
    }

    #[test]
    fn html_h1_wins_over_title() {
        check(
            DocumentKind::Html,
            "a.html",
            "<title>Site</title><h1>About us</h1><p>Family run since 1998.</p>",
            expect![[r#"
                [About us]
                Family run since 1998.
            "#]],
        );
    }

    #[test]
    fn kinds_from_file_names() {
        let cases = [
            ("faq.md", Some(DocumentKind::Markdown)),
            ("docs/FAQ.MARKDOWN", Some(DocumentKind::Markdown)),
            ("notes.TXT", Some(DocumentKind::Text)),
            ("a.text", Some(DocumentKind::Text)),
            ("menu.Csv", Some(DocumentKind::Csv)),
            ("index.htm", Some(DocumentKind::Html)),
            ("index.html", Some(DocumentKind::Html)),
            ("brochure.PDF", Some(DocumentKind::Pdf)),
            ("photo.jpg", None),
            ("README", None),
            ("dir.md/README", None),
            (".md", Some(DocumentKind::Markdown)),
        ];
        for (name, kind) in cases {
            assert_eq!(DocumentKind::from_file_name(name), kind, "{name}");
        }
    }

    #[test]
    fn binary_refused() {
        for bytes in [&b"\x89PNG\r\n\x1a\n\0\0"[..], b"caf\xe9 au lait", b"a\0b"] {
            for kind in [
                DocumentKind::Text,
                DocumentKind::Markdown,
                DocumentKind::Csv,
                DocumentKind::Html,
            ] {
                assert_eq!(
                    parse(kind, "logo.png", bytes),
                    Err(DocumentError::Binary {
                        document: "logo.png".into()
                    }),
                );
            }
        }
    }

    #[test]
    fn too_large_refused_before_reading() {
        let bytes = vec![b'a'; MAX_DOCUMENT_BYTES + 1];
        let error = parse(DocumentKind::Text, "dump.txt", &bytes).unwrap_err();
        assert_eq!(
            error,
            DocumentError::TooLarge {
                document: "dump.txt".into(),
                size: MAX_DOCUMENT_BYTES + 1,
                limit: MAX_DOCUMENT_BYTES
            },
        );
        expect!["dump.txt is too large: 5242881 bytes, and the limit is 5242880 bytes. Split it into smaller files"]
            .assert_eq(&error.to_string());
        assert!(parse(DocumentKind::Text, "ok.txt", &bytes[1..]).is_ok());
    }

    #[test]
    fn ragged_csv_names_the_line() {
        let error = parse(
            DocumentKind::Csv,
            "menu.csv",
            b"Item,Price\r\nCake,900\r\n\r\n  \r\n,\r\n\"Bun\nsoft\",40,extra\r\n",
        )
        .unwrap_err();
        assert_eq!(
            error,
            DocumentError::RaggedCsv {
                document: "menu.csv".into(),
                line: 6,
                expected: 2,
                found: 3
            },
        );
        let short = parse(DocumentKind::Csv, "menu.csv", b"Item,Price\nCake\n").unwrap_err();
        assert_eq!(
            short,
            DocumentError::RaggedCsv {
                document: "menu.csv".into(),
                line: 2,
                expected: 2,
                found: 1
            },
        );
        expect!["menu.csv, line 6: this row has 3 fields but the header has 2. Every row needs the same columns; check for a missing or extra comma, or a comma inside a value that is not in double quotes"].assert_eq(&error.to_string());
    }

    #[test]
    fn empty_documents_refused() {
        let cases = [
            (DocumentKind::Text, "\u{feff} \r\n\r\n\t\n"),
            (DocumentKind::Markdown, "# Only a heading\n\n<!-- and a comment -->\n![img](a.png)\n"),
            (DocumentKind::Csv, "Item,Price\n,\n"),
            (DocumentKind::Csv, ""),
            (DocumentKind::Html, "<html><head><title>T</title><script>x()</script></head><body><nav>Home</nav></body></html>"),
        ];
        for (kind, input) in cases {
            assert_eq!(
                parse(kind, "x", input.as_bytes()),
                Err(DocumentError::Empty {
                    document: "x".into()
                }),
                "{kind}: {input:?}",
            );
        }
        expect!["notes.txt has no text to learn from (it is empty, or only markup or headings)"]
            .assert_eq(
                &DocumentError::Empty {
                    document: "notes.txt".into(),
                }
                .to_string(),
            );
    }

    #[cfg(not(feature = "pdf"))]
    #[test]
    fn pdf_unsupported_without_the_feature() {
        let error = parse(DocumentKind::Pdf, "brochure.pdf", b"%PDF-1.4\n").unwrap_err();
        assert!(
            matches!(error, DocumentError::Unsupported { kind: "pdf", .. }),
            "{error:?}"
        );
        expect!["brochure.pdf: pdf documents are not supported here. This deployment reads Markdown, text, CSV and HTML: save the PDF's text as a .txt or .md file and add that instead"].assert_eq(&error.to_string());
    }

    /// A PDF with one page per entry, each showing its text (none for an empty string, as a
    /// scanned page has none).
    #[cfg(feature = "pdf")]
    fn pdf(pages: &[&str]) -> Vec<u8> {
        use lopdf::content::{Content, Operation};
        use lopdf::{dictionary, Object, Stream};

        let mut doc = lopdf::Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let font_id = doc.add_object(dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
            "Encoding" => "WinAnsiEncoding",
        });
        let resources_id =
            doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
        let mut kids = Vec::new();
        for text in pages {
            let mut operations = Vec::new();
            if !text.is_empty() {
                operations = vec![
                    Operation::new("BT", vec![]),
                    Operation::new("Tf", vec!["F1".into(), 12.into()]),
                    Operation::new("Td", vec![72.into(), 720.into()]),
                    Operation::new("Tj", vec![Object::string_literal(*text)]),
                    Operation::new("ET", vec![]),
                ];
            }
            let content = Content { operations }.encode().expect("encodes");
            let content_id = doc.add_object(Stream::new(dictionary! {}, content));
            kids.push(Object::from(doc.add_object(dictionary! {
                "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
            })));
        }
        let count = i64::try_from(kids.len()).expect("few pages");
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! {
                "Type" => "Pages", "Kids" => kids, "Count" => count,
                "Resources" => resources_id,
                "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
            }),
        );
        let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog_id);
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).expect("saves");
        bytes
    }

    #[cfg(feature = "pdf")]
    #[test]
    fn pdf_text_layer_a_section_per_page() {
        let bytes = pdf(&["Price list: croissant 120 rupees", "", "Open daily 9 to 8"]);
        let document = parse(DocumentKind::Pdf, "prices.pdf", &bytes).expect("parses");
        expect![[r#"
            [Page 1]
            Price list: croissant 120 rupees

            [Page 3]
            Open daily 9 to 8
        "#]]
        .assert_eq(&render(&document));
    }

    #[cfg(feature = "pdf")]
    #[test]
    fn pdf_scanned_or_damaged_refused() {
        assert_eq!(
            parse(DocumentKind::Pdf, "scan.pdf", &pdf(&["", ""])),
            Err(DocumentError::NoTextLayer {
                document: "scan.pdf".into()
            }),
        );
        let error = parse(DocumentKind::Pdf, "broken.pdf", b"%PDF-1.4\n garbage").unwrap_err();
        assert!(matches!(error, DocumentError::Pdf { .. }), "{error:?}");
    }

    #[test]
    fn content_hash_ignores_line_endings_and_follows_content() {
        let lf = parse(
            DocumentKind::Markdown,
            "faq.md",
            FAQ.replace('\r', "").as_bytes(),
        )
        .unwrap();
        let crlf = parse(
            DocumentKind::Markdown,
            "faq.md",
            FAQ.replace('\r', "").replace('\n', "\r\n").as_bytes(),
        )
        .unwrap();
        let renamed = parse(DocumentKind::Markdown, "other.md", FAQ.as_bytes()).unwrap();
        let changed = parse(
            DocumentKind::Markdown,
            "faq.md",
            FAQ.replace("two weeks", "three weeks").as_bytes(),
        )
        .unwrap();
        let moved = parse(
            DocumentKind::Markdown,
            "faq.md",
            FAQ.replace("# Allergens", "## Allergens").as_bytes(),
        )
        .unwrap();
        assert_eq!(lf.content_hash, crlf.content_hash);
        assert_eq!(lf.content_hash, renamed.content_hash);
        assert_ne!(lf.content_hash, changed.content_hash);
        assert_ne!(lf.content_hash, moved.content_hash);
        assert_eq!(lf.content_hash.len(), 64);
        assert!(lf
            .content_hash
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }

    #[test]
    fn markdown_later_top_heading_resets_the_path() {
        check(
            DocumentKind::Markdown,
            "a.md",
            "Intro\n\n# A\na\n## B\nb\n#### D\nd\n# C\nc\n## \n\ne\n",
            expect![[r#"
                []
                Intro

                [A]
                a

                [A > B]
                b

                [A > B > D]
                d

                [C]
                c

                [C]
                e
            "#]],
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), kind in 0usize..5) {
            let _ = parse(DocumentKind::ALL[kind], "fuzz", &bytes);
        }

        #[test]
        fn parse_never_panics_on_markup(text in "[#a-z<>/=\" \n|*`!\\[\\]()&;,-]{0,400}", kind in 0usize..5) {
            if let Ok(document) = parse(DocumentKind::ALL[kind], "fuzz", text.as_bytes()) {
                prop_assert!(!document.sections.is_empty());
                for section in &document.sections {
                    prop_assert!(!section.text.is_empty());
                    prop_assert_eq!(normalize(&section.text), section.text.clone());
                }
            }
        }
    }
}
