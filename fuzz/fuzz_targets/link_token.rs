#![no_main]
//! Fuzz target `link_token`: approval link tokens (the signed approve/reject links of the email
//! digest). Verifying an arbitrary token for arbitrary draft ids, actions and times must never
//! panic, and must only succeed before the expiry the token carries. A token we sign must
//! verify until its expiry second, be refused from then on, and be refused for another draft
//! or action.
//!
//! Input: `key NUL draft_id NUL action NUL token NUL now_ms NUL expires_ms` (missing fields are
//! empty; times are decimal milliseconds, 0 when they do not parse).
use concierge_core::approval::{sign_link_token, verify_link_token, LinkTokenError};
use concierge_core::time::Timestamp;
use libfuzzer_sys::fuzz_target;

fn millis(field: &[u8]) -> Timestamp {
    let n = std::str::from_utf8(field)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    Timestamp::from_millis(n)
}

fuzz_target!(|data: &[u8]| {
    let mut fields = data.splitn(6, |&b| b == 0);
    let mut next = || fields.next().unwrap_or_default();
    let key = next();
    let draft_id = String::from_utf8_lossy(next()).into_owned();
    let action = String::from_utf8_lossy(next()).into_owned();
    let token = String::from_utf8_lossy(next()).into_owned();
    let now = millis(next());
    let expires_at = millis(next());

    // An arbitrary token: anything may be refused, nothing may panic, and an accepted token is
    // one whose expiry is still ahead.
    if verify_link_token(key, &draft_id, &action, &token, now).is_ok() {
        let (expires, _) = token.split_once('.').expect("an accepted token has a dot");
        let expires: i64 = expires
            .parse()
            .expect("an accepted token has a numeric expiry");
        assert!(
            now.as_secs() < expires,
            "accepted at {now} a token expiring at {expires}s"
        );
    }

    // Sign → verify. Expiry has whole-second precision: valid while `now` is in an earlier
    // second than `expires_at`, never at or after `expires_at`.
    let signed = sign_link_token(key, &draft_id, &action, expires_at);
    let verdict = verify_link_token(key, &draft_id, &action, &signed, now);
    if now.as_secs() < expires_at.as_secs() {
        assert_eq!(verdict, Ok(()), "our own token refused before its expiry");
    } else {
        assert_eq!(verdict, Err(LinkTokenError::Expired));
    }
    if now >= expires_at {
        assert!(verdict.is_err(), "a token verified at or after its expiry");
    }
    // The token names its draft and action: another one does not verify.
    let other_action = format!("{action}x");
    assert_eq!(
        verify_link_token(key, &draft_id, &other_action, &signed, now),
        Err(LinkTokenError::Forged)
    );
    let other_draft = format!("{draft_id}x");
    assert_eq!(
        verify_link_token(key, &other_draft, &action, &signed, now),
        Err(LinkTokenError::Forged)
    );
});
