#![no_main]
//! Fuzz target `discord_event`: the webhook events parser and the auto-reply trigger decision
//! must never panic.
use concierge_core::channels::discord::{
    message_to_inbound, parse_api_error, parse_event, DiscordEvent, DiscordTriggers,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(DiscordEvent::Message(msg)) = parse_event(data) {
        let triggers = DiscordTriggers {
            bot_user_id: "1234560123453231555".into(),
            inbound_mentions: true,
            inbound_channel_ids: vec![msg.channel_id.clone()],
        };
        let _ = message_to_inbound(&msg, &triggers);
    }
    let _ = parse_api_error(data);
});
