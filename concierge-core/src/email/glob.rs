//! The whole-field globs of email rules: a small matcher over characters, linear in the
//! pattern times the text, with no regex engine behind it (the Worker's bundle pays for every
//! byte).
//!
//! Syntax: `*` any run of characters (line breaks included; `**` is the same), `?` one
//! character, `[abc]`/`[a-z]`/`[!a-z]`/`[^a-z]` classes (a `]` first in a class is literal, as
//! is a `-` first or last), `{a,b}` alternatives (not nested; empty ones allowed), `\x` the
//! character `x` itself. Everything else is literal. Case folding is the caller's: rules
//! lower-case both the pattern and the field.

/// The most alternatives a pattern may expand to (`{a,b}{c,d}` is four).
const MAX_ALTERNATIVES: usize = 1024;

/// One step of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    /// This character.
    Literal(char),
    /// `?`: any one character.
    One,
    /// `*`: any run of characters, the empty one included.
    Any,
    /// `[...]`: one character in (or, negated, not in) the ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Token {
    fn matches(&self, c: char) -> bool {
        match self {
            Token::Literal(l) => *l == c,
            Token::One => true,
            Token::Any => false,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
            }
        }
    }
}

/// A compiled glob: a match is a match of any of its alternatives (sequences of tokens).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Glob {
    alternatives: Vec<Vec<Token>>,
}

/// A pattern the syntax refuses; the message says why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GlobError(pub(crate) &'static str);

impl Glob {
    /// Compiles `pattern`.
    pub(crate) fn new(pattern: &str) -> Result<Glob, GlobError> {
        // Alternatives built so far (the product of the groups before this point).
        let mut done: Vec<Vec<Token>> = vec![Vec::new()];
        // Inside `{...}`: the group's alternatives, the last one being built.
        let mut group: Option<Vec<Vec<Token>>> = None;
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            let token = match c {
                '*' => Token::Any,
                '?' => Token::One,
                '\\' => Token::Literal(
                    chars
                        .next()
                        .ok_or(GlobError("dangling '\\' at the end of the pattern"))?,
                ),
                '[' => class(&mut chars)?,
                '{' => {
                    if group.is_some() {
                        return Err(GlobError("nested alternate groups are not allowed"));
                    }
                    group = Some(vec![Vec::new()]);
                    continue;
                }
                ',' if group.is_some() => {
                    if let Some(g) = group.as_mut() {
                        g.push(Vec::new());
                    }
                    continue;
                }
                '}' => {
                    let alternatives = group.take().ok_or(GlobError(
                        "unopened alternate group; missing '{' (escape '}' as '\\}')",
                    ))?;
                    if done.len().saturating_mul(alternatives.len()) > MAX_ALTERNATIVES {
                        return Err(GlobError("too many alternatives (at most 1024)"));
                    }
                    done = done
                        .iter()
                        .flat_map(|head| {
                            alternatives.iter().map(move |tail| {
                                let mut seq = head.clone();
                                seq.extend(tail.iter().cloned());
                                seq
                            })
                        })
                        .collect();
                    continue;
                }
                other => Token::Literal(other),
            };
            let target = match group.as_mut() {
                Some(g) => g.last_mut(),
                None => None,
            };
            match target {
                Some(seq) => seq.push(token),
                None => done.iter_mut().for_each(|seq| seq.push(token.clone())),
            }
        }
        if group.is_some() {
            return Err(GlobError(
                "unclosed alternate group; missing '}' (escape '{' as '\\{')",
            ));
        }
        for seq in &mut done {
            seq.dedup_by(|a, b| *a == Token::Any && *b == Token::Any);
        }
        done.dedup();
        Ok(Glob { alternatives: done })
    }

    /// Whether the glob matches the whole of `text`.
    pub(crate) fn is_match(&self, text: &str) -> bool {
        self.alternatives.iter().any(|seq| matches(seq, text))
    }
}

/// Parses a class after its `[`.
fn class(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<Token, GlobError> {
    const UNCLOSED: GlobError = GlobError("unclosed character class; missing ']'");
    let negated = matches!(chars.peek(), Some('!' | '^'));
    if negated {
        chars.next();
    }
    let mut ranges: Vec<(char, char)> = Vec::new();
    let mut first = true;
    loop {
        let c = chars.next().ok_or(UNCLOSED)?;
        if c == ']' && !first {
            break;
        }
        first = false;
        if chars.peek() == Some(&'-') {
            let mut ahead = chars.clone();
            ahead.next();
            match ahead.peek() {
                Some(']') | None => ranges.push((c, c)),
                Some(&hi) => {
                    if hi < c {
                        return Err(GlobError("invalid range: its start is after its end"));
                    }
                    chars.next();
                    chars.next();
                    ranges.push((c, hi));
                }
            }
        } else {
            ranges.push((c, c));
        }
    }
    Ok(Token::Class { negated, ranges })
}

/// Whether `tokens` match the whole of `text`: greedy, going back only to the last `*` (each
/// `*` can only ever take more text), so at most pattern length × text length steps.
fn matches(tokens: &[Token], text: &str) -> bool {
    let mut t = 0; // the next token
    let mut s = 0; // the next byte of text
                   // After the last `*` seen: the token following it, and where in the text its run ends.
    let mut star: Option<(usize, usize)> = None;
    loop {
        match tokens.get(t) {
            Some(Token::Any) => {
                t += 1;
                star = Some((t, s));
                continue;
            }
            Some(token) => {
                if let Some(c) = text[s..].chars().next() {
                    if token.matches(c) {
                        t += 1;
                        s += c.len_utf8();
                        continue;
                    }
                }
            }
            None if s == text.len() => return true,
            None => {}
        }
        // A mismatch: the last `*` takes one more character, or there is no match.
        let Some((after, end)) = star else {
            return false;
        };
        let Some(c) = text[end..].chars().next() else {
            return false;
        };
        let end = end + c.len_utf8();
        star = Some((after, end));
        t = after;
        s = end;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn glob(p: &str) -> Glob {
        Glob::new(p).unwrap()
    }

    #[test]
    fn stars_and_literals_match_whole_fields() {
        assert!(glob("*invoice*").is_match("your invoice 42"));
        assert!(glob("*invoice*").is_match("invoice"));
        assert!(!glob("invoice").is_match("invoice 42"));
        assert!(glob("*@bank.example").is_match("alerts@bank.example"));
        assert!(!glob("*@bank.example").is_match("alerts@bank.example.evil"));
        assert!(glob("*").is_match(""));
        assert!(glob("**").is_match("a\nb"));
        assert!(glob("").is_match(""));
        assert!(!glob("").is_match("a"));
        assert!(glob("a*b*c").is_match("aXbYbZc"));
        assert!(!glob("a*b*c").is_match("aXbYbZ"));
        assert!(glob("*line one*line two*").is_match("line one\r\nline two\r\n"));
    }

    #[test]
    fn question_marks_take_one_character_not_one_byte() {
        assert!(glob("?lodie").is_match("élodie"));
        assert!(glob("caf?").is_match("café"));
        assert!(!glob("caf?").is_match("caf"));
        assert!(glob("*🎂*").is_match("a 🎂 cake"));
        assert!(glob("?").is_match("🎂"));
    }

    #[test]
    fn classes_ranges_and_negation() {
        assert!(glob("*pour [0-9] personnes*").is_match("réservation pour 4 personnes 🎂"));
        assert!(!glob("[0-9]").is_match("x"));
        assert!(glob("[!0-9]").is_match("x"));
        assert!(glob("[^0-9]").is_match("x"));
        assert!(!glob("[!0-9]").is_match("5"));
        assert!(glob("[]]").is_match("]"));
        assert!(glob("[!]]").is_match("a"));
        assert!(glob("[a-]").is_match("-"));
        assert!(glob("[-a]").is_match("-"));
        assert!(glob("[*?{]").is_match("{"));
        assert!(glob("[é-ë]").is_match("ê"));
    }

    #[test]
    fn alternatives_and_escapes() {
        let g = glob("*@{bank,card}.example");
        assert!(g.is_match("a@bank.example"));
        assert!(g.is_match("a@card.example"));
        assert!(!g.is_match("a@shop.example"));
        assert!(glob("{a,}b").is_match("b"));
        assert!(glob("{a,b}{c,d}").is_match("bd"));
        assert!(
            glob("a,b").is_match("a,b"),
            "a comma outside a group is literal"
        );
        assert!(glob("\\*").is_match("*"));
        assert!(!glob("\\*").is_match("x"));
        assert!(glob("\\{a\\}").is_match("{a}"));
    }

    #[test]
    fn malformed_patterns_say_why() {
        for (pattern, why) in [
            ("[unclosed", "unclosed character class"),
            ("[]", "unclosed character class"),
            ("[z-a]", "invalid range"),
            ("{a,b", "unclosed alternate group"),
            ("a}", "unopened alternate group"),
            ("{a,{b}}", "nested alternate groups"),
            ("abc\\", "dangling"),
        ] {
            let e = Glob::new(pattern).unwrap_err();
            assert!(e.0.starts_with(why), "{pattern}: {}", e.0);
        }
        let many = "{a,b}".repeat(11);
        assert!(Glob::new(&many).unwrap_err().0.starts_with("too many"));
        assert!(Glob::new(&"{a,b}".repeat(10)).is_ok());
    }

    #[test]
    fn a_long_body_with_many_stars_stays_fast() {
        let body = "ab".repeat(100_000);
        assert!(!glob("*a*a*a*a*a*a*a*a*c*").is_match(&body));
        assert!(glob("*b*b*b*").is_match(&body));
    }

    /// An ASCII pattern over a small alphabet, as text for globset and for us.
    fn pattern() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("a".to_owned()),
                Just("b".to_owned()),
                Just(",".to_owned()),
                Just("-".to_owned()),
                Just("*".to_owned()),
                Just("?".to_owned()),
                Just("[a-b]".to_owned()),
                Just("[!a]".to_owned()),
                Just("[]a]".to_owned()),
                Just("{a,b}".to_owned()),
                Just("{,ab}".to_owned()),
                Just("{a*,?b}".to_owned()),
                Just("\\*".to_owned()),
            ],
            0..8,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        /// Where it compiles, the matcher agrees with globset configured as the rules used to
        /// configure it (whole field, `*` crosses everything, backslash escapes, empty
        /// alternatives).
        #[test]
        fn agrees_with_globset(p in pattern(), text in "[ab,*\\-\n]{0,10}") {
            let theirs = globset::GlobBuilder::new(&p)
                .literal_separator(false)
                .backslash_escape(true)
                .empty_alternates(true)
                .build()
                .unwrap()
                .compile_matcher();
            let ours = Glob::new(&p).unwrap();
            prop_assert_eq!(ours.is_match(&text), theirs.is_match(&text), "{:?} on {:?}", p, text);
        }

        /// No pattern panics the compiler, and no text the matcher.
        #[test]
        fn never_panics(p in "\\PC{0,24}", text in "\\PC{0,40}") {
            if let Ok(g) = Glob::new(&p) {
                let _ = g.is_match(&text);
            }
        }
    }
}
