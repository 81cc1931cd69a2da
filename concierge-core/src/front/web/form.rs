//! Reading HTML form bodies (`application/x-www-form-urlencoded`) and carrying field errors
//! back into the page that shows them.

use std::collections::HashMap;

use crate::conversation::FieldError;

use super::super::reply::Request;

/// A submitted form: every field by name (repeated names keep every value, in order).
#[derive(Debug, Default, Clone)]
pub(crate) struct Form {
    fields: HashMap<String, Vec<String>>,
}

impl Form {
    /// Parses the request's body as a URL-encoded form.
    pub(crate) fn parse(req: &Request) -> Form {
        Form::from_bytes(req.body())
    }

    /// Parses URL-encoded bytes (a body or a query string).
    pub(crate) fn from_bytes(bytes: &[u8]) -> Form {
        let mut fields: HashMap<String, Vec<String>> = HashMap::new();
        for (name, value) in form_urlencoded::parse(bytes) {
            fields
                .entry(name.into_owned())
                .or_default()
                .push(value.into_owned());
        }
        Form { fields }
    }

    /// The first value of `name`, as sent.
    pub(crate) fn raw(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    /// The first value of `name`, trimmed; `""` when absent.
    pub(crate) fn text(&self, name: &str) -> String {
        self.raw(name).unwrap_or("").trim().to_owned()
    }

    /// The first value of `name`, trimmed, or `None` when absent or blank.
    pub(crate) fn optional(&self, name: &str) -> Option<String> {
        Some(self.text(name)).filter(|v| !v.is_empty())
    }

    /// The non-blank lines of a textarea, trimmed.
    pub(crate) fn lines(&self, name: &str) -> Vec<String> {
        self.raw(name)
            .unwrap_or("")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// An optional whole number: blank is `None`; anything else that is not a number is a
    /// field error worded by `not_a_number`.
    pub(crate) fn optional_u32(
        &self,
        name: &str,
        not_a_number: &str,
        errors: &mut Vec<FieldError>,
    ) -> Option<u32> {
        let raw = self.text(name);
        if raw.is_empty() {
            return None;
        }
        match raw.parse::<u32>() {
            Ok(v) => Some(v),
            Err(_) => {
                errors.push(FieldError::new(name, not_a_number));
                None
            }
        }
    }
}

/// Field errors by field name, for templates: `errors.get("idle_gap_mins")`.
#[derive(Debug, Default, Clone)]
pub(crate) struct Errors(Vec<FieldError>);

impl Errors {
    /// The errors to show.
    pub(crate) fn new(errors: Vec<FieldError>) -> Self {
        Errors(errors)
    }

    /// The messages about `field`, joined (empty when none).
    pub(crate) fn get(&self, field: &str) -> String {
        self.0
            .iter()
            .filter(|e| e.field == field)
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The messages about `field` or anything under it (`channels.email` covers
    /// `channels.email.domains[0]`), each with the field's path.
    pub(crate) fn under(&self, prefix: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|e| {
                e.field == prefix
                    || e.field
                        .strip_prefix(prefix)
                        .is_some_and(|rest| rest.starts_with(['.', '[']))
            })
            .map(|e| e.message.clone())
            .collect()
    }

    /// Whether `field` has an error.
    pub(crate) fn has(&self, field: &str) -> bool {
        self.0.iter().any(|e| e.field == field)
    }

    /// Whether there is any error.
    pub(crate) fn any(&self) -> bool {
        !self.0.is_empty()
    }
}

/// Whether the request came from htmx (it swaps a fragment instead of loading a page).
pub(crate) fn is_htmx(req: &Request) -> bool {
    req.headers().contains_key("hx-request")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_lines_and_numbers() {
        let form = Form::from_bytes(b"a=+x+&b=&c=1%0D%0A%0D%0A2+&n=12&bad=1e3&n=99");
        assert_eq!(form.text("a"), "x");
        assert_eq!(form.optional("b"), None);
        assert_eq!(form.lines("c"), vec!["1", "2"]);
        let mut errors = Vec::new();
        assert_eq!(form.optional_u32("n", "nan", &mut errors), Some(12));
        assert_eq!(form.optional_u32("b", "nan", &mut errors), None);
        assert_eq!(form.optional_u32("bad", "nan", &mut errors), None);
        assert_eq!(errors, vec![FieldError::new("bad", "nan")]);
    }
}
