//! `multipart/form-data` bodies (RFC 7578), the way a browser sends a form with a file input:
//! parsed as the MIME multipart they are by `mail-parser` (already the email channel's MIME
//! parser), each part's bytes taken raw from the body (form data has no transfer encoding, so
//! nothing is decoded or re-encoded: a file reads back byte for byte).

use mail_parser::{MessageParser, MimeHeaders};

use super::super::header;
use super::super::reply::Request;

/// One field of a multipart form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Part {
    /// The field's `name`.
    pub name: String,
    /// The file name a file input gave, as the browser sent it.
    pub filename: Option<String>,
    /// The field's value or the file's bytes.
    pub bytes: Vec<u8>,
}

/// The boundary of a `multipart/form-data` request, `None` for any other content type.
fn boundary(req: &Request) -> Option<String> {
    let content_type = header(req, "content-type")?;
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|param| {
        let (key, value) = param.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_owned())
            .filter(|b| !b.is_empty() && b.len() <= 70)
    })
}

/// Whether the request's body is `multipart/form-data`.
pub(crate) fn is_multipart(req: &Request) -> bool {
    boundary(req).is_some()
}

/// The fields of a `multipart/form-data` request in order; `None` when the request is not
/// one or its body is not well-formed multipart.
pub(crate) fn parts(req: &Request) -> Option<Vec<Part>> {
    let boundary = boundary(req)?;
    // The body is a MIME multipart entity without its header: give it the one the request
    // carried, so the MIME parser reads the parts.
    let mut entity =
        format!("Content-Type: multipart/form-data; boundary=\"{boundary}\"\r\n\r\n").into_bytes();
    let header_len = entity.len();
    entity.extend_from_slice(req.body());
    let message = MessageParser::default().parse(&entity[..])?;
    if !message.root_part().is_multipart() {
        return None;
    }
    let raw = &entity[..];
    let mut fields = Vec::new();
    for part in message.parts.iter().skip(1) {
        let Some(disposition) = part.content_disposition() else {
            continue;
        };
        if !disposition.c_type.eq_ignore_ascii_case("form-data") {
            continue;
        }
        let Some(name) = disposition.attribute("name") else {
            continue;
        };
        let (start, end) = (part.offset_body as usize, part.offset_end as usize);
        if start < header_len || start > end {
            return None;
        }
        let bytes = raw.get(start..end)?;
        // The line break before the next boundary belongs to the boundary, not the value.
        let bytes = bytes
            .strip_suffix(b"\r\n")
            .or_else(|| bytes.strip_suffix(b"\n"))
            .unwrap_or(bytes);
        fields.push(Part {
            name: name.to_owned(),
            filename: disposition.attribute("filename").map(str::to_owned),
            bytes: bytes.to_vec(),
        });
    }
    Some(fields)
}

/// The text value of the first field called `name`.
pub(crate) fn text<'a>(parts: &'a [Part], name: &str) -> Option<&'a str> {
    parts
        .iter()
        .find(|p| p.name == name && p.filename.is_none())
        .and_then(|p| std::str::from_utf8(&p.bytes).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(boundary: &str, body: &[u8]) -> Request {
        http::Request::builder()
            .method("POST")
            .uri("/dashboard/knowledge")
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(bytes::Bytes::copy_from_slice(body))
            .unwrap()
    }

    const BOUNDARY: &str = "----WebKitFormBoundaryx8vG2ZcQb1TQ7hJq";

    fn body(file: &[u8]) -> Vec<u8> {
        let mut body = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntoken-value\r\n\
             --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"document\"; filename=\"faq.md\"\r\n\
             Content-Type: text/markdown\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(file);
        body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        body
    }

    #[test]
    fn a_browser_upload_reads_back_byte_for_byte() {
        let file = "# Cakes\r\n\r\nEggless cakes cost ₹650.\nLast line without break".as_bytes();
        let parts = parts(&request(BOUNDARY, &body(file))).expect("well-formed");
        assert_eq!(text(&parts, "csrf"), Some("token-value"));
        let upload = parts.iter().find(|p| p.name == "document").unwrap();
        assert_eq!(upload.filename.as_deref(), Some("faq.md"));
        assert_eq!(upload.bytes, file);
    }

    #[test]
    fn binary_files_are_not_decoded() {
        let file = [0x25, 0x50, 0x44, 0x46, 0x00, 0xff, 0xfe, 0x0d, 0x0a, 0x80];
        let parts = parts(&request(BOUNDARY, &body(&file))).expect("well-formed");
        assert_eq!(parts[1].bytes, file);
    }

    #[test]
    fn other_content_types_are_not_multipart() {
        let req = http::Request::builder()
            .method("POST")
            .uri("/")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(bytes::Bytes::from_static(b"csrf=x"))
            .unwrap();
        assert!(!is_multipart(&req));
        assert_eq!(parts(&req), None);
    }

    #[test]
    fn a_body_without_its_boundary_has_no_fields() {
        let parts = parts(&request(BOUNDARY, b"just some text")).unwrap_or_default();
        assert!(text(&parts, "csrf").is_none());
    }
}
