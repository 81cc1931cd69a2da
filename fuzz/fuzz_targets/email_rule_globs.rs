#![no_main]
//! Fuzz target `email_rule_globs`: rule patterns derived from the input are compiled and routed
//! against a fixed email; compiling may fail, nothing may panic.
//!
//! Input layout: chunks separated by NUL; each chunk's first byte picks the field
//! (from, to, subject, body, has_attachment) and the rest is the pattern.
use concierge_core::channels::email::{parse_email, ParsedEmail};
use concierge_core::email::{CompiledRules, EmailAction, EmailRule, MatchCriteria};
use libfuzzer_sys::fuzz_target;

const EMAIL: &[u8] = b"From: \"Priya Sharma\" <Priya.Sharma@gmail.com>\r\n\
To: hello@shop.cncg.email, orders@shop.cncg.email\r\n\
Cc: Rohan <rohan@example.in>\r\n\
Subject: =?UTF-8?B?UsOpc2VydmF0aW9uIPCfjoI=?= invoice #1042\r\n\
Message-ID: <fuzz@example.com>\r\n\
\r\n\
Hi,\r\nCould I order a cake (1 kg) for Saturday?\r\n/path/like/text and [brackets] {braces}\r\n";

fuzz_target!(|data: &[u8]| {
    let Ok(email): Result<ParsedEmail, _> = parse_email(EMAIL) else {
        return;
    };
    let rules: Vec<EmailRule> = data
        .split(|&b| b == 0)
        .take(16)
        .enumerate()
        .map(|(i, chunk)| {
            let (selector, rest) = chunk.split_first().unwrap_or((&0, &[]));
            let pattern = String::from_utf8_lossy(rest).into_owned();
            let mut criteria = MatchCriteria::default();
            match selector % 5 {
                0 => criteria.from = Some(pattern),
                1 => criteria.to = Some(pattern),
                2 => criteria.subject = Some(pattern),
                3 => criteria.body = Some(pattern),
                _ => criteria.has_attachment = Some(rest.first().is_some_and(|b| b & 1 == 1)),
            }
            EmailRule {
                name: format!("rule {i}"),
                criteria,
                action: EmailAction::AiReply,
            }
        })
        .collect();
    match CompiledRules::compile(&rules) {
        Ok(compiled) => {
            if let Some((index, _)) = compiled.route(&email, "hello@shop.cncg.email") {
                assert!(index < rules.len());
            }
        }
        Err(err) => {
            assert!(err.index < rules.len());
            let _ = err.to_string();
        }
    }
});
