#![no_main]
//! Fuzz target `verdicts`: the strict classifier-verdict parsers must never panic on whatever
//! the fast model answers, and must agree with each other: the two pass words differ, so no
//! answer passes both, and a rejection reads the same in both.
use concierge_core::safety::{
    parse_injection_verdict, parse_persona_verdict, vague_reason_for, Verdict,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let answer = String::from_utf8_lossy(data);
    let injection = parse_injection_verdict(&answer);
    let persona = parse_persona_verdict(&answer);
    match (&injection, &persona) {
        (Ok(Verdict::Pass), Ok(Verdict::Pass)) => panic!("one answer passed both classifiers"),
        (Ok(r @ Verdict::Reject { .. }), other) | (other, Ok(r @ Verdict::Reject { .. })) => {
            assert_eq!(other.as_ref(), Ok(r), "a rejection read differently");
            if let Verdict::Reject { category } = r {
                if let Some(c) = category {
                    assert!(!c.trim().is_empty(), "blank category kept");
                }
                let _ = vague_reason_for(category.as_deref());
            }
        }
        _ => {}
    }
});
