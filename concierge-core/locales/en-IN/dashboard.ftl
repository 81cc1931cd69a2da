# The owner's dashboard pages (concierge-core/src/front/web/pages/).

## Shared words
save = Save
approve = Approve
reject = Reject
error-required = This field is required.
form-has-errors = Nothing was saved: please fix the fields marked below.
channel-whatsapp = WhatsApp
channel-instagram = Instagram
channel-discord = Discord
channel-email = Email
channel-web = Web chat

## Persona
persona-title = Persona
persona-review-pending = Pending review
persona-review-pending-hint = A safety review is checking this text. Until it is approved, AI replies are paused; canned replies still go out.
persona-review-approved = Approved
persona-review-approved-hint = AI replies use this persona.
persona-review-rejected = Rejected
persona-review-rejected-hint = This text was not approved, so AI replies are paused. Change it and save to ask for a new review.
persona-saved = Saved. A changed text is reviewed before AI replies use it.
persona-mode = How to describe your assistant
persona-mode-builder = Builder
persona-mode-custom = Custom text
persona-voice = Voice
persona-voice-warm = Warm and welcoming
persona-voice-professional = Polite and precise
persona-voice-playful = Light-hearted
persona-voice-concise = As few words as possible
persona-voice-caring = Gentle and patient
persona-field-business_name = Business name
persona-field-business_type = What kind of business
persona-field-assistant_name = Assistant's name (optional)
persona-field-city = City (optional)
persona-field-goal = What the assistant should achieve
persona-field-goal_url = A link that helps (menu, booking page)
persona-field-facts = Facts it may share
persona-field-handoff_conditions = When to hand over to a person
persona-field-catch_phrases = Phrases you like to use
persona-field-off_topic = Topics to decline
persona-field-custom = Your persona, in your own words
persona-one-per-line = One per line.
persona-save-hint = The mode you pick is the one saved.
persona-error-custom-empty = Write the persona, or switch to the builder.
persona-error-voice = Pick one of the voices.
view-prompt = View prompt
view-prompt-hint = Exactly what the model receives when the { $channel } default rule answers.
view-prompt-hint-none = Exactly what the model receives around your persona (no channel answers through the model yet).

## Conversation timing
settings-title = Settings
timing-title = Conversation timing
timing-intro = Leave a field empty to use the default.
timing-idle_gap_mins = Minutes of silence before a new conversation starts
timing-handoff_cooldown_mins = Minutes the assistant holds back after handing over to a person
timing-max_history_messages = Turns of history the assistant remembers
timing-default = Default: { $value }
timing-saved = Saved.
timing-not-saved = Nothing was saved: please fix the fields marked below.
timing-error-whole-number = Enter a whole number, or leave it empty.

## Reply rules
rules-title = Reply rules
rules-channels = Channels
rules-no-channel = No channel is connected yet.
rules-saved = Saved.
rules-unsaved = Changes are not saved yet: press Save.
rules-enabled = Answer on this channel
rules-wait = Seconds to wait for more messages before answering
rules-wait-hint = Bursts of messages are answered as one. 0 answers at once.
rules-error-wait = Enter a whole number of seconds from 0 to 600.
rules-name = Rule name
rules-when = When
rules-matcher-keywords = The message contains a keyword
rules-matcher-intent = The message means something
rules-keywords = Keywords, separated by commas
rules-description = What the message means, in words
rules-threshold = How close the meaning must be (0 to 1)
rules-error-threshold = Enter a number between 0 and 1.
rules-error-matcher = Pick keywords or meaning.
rules-answer = Answer with
rules-reply-canned = This exact text (free)
rules-reply-prompt = The assistant, with these instructions (uses a credit)
rules-error-reply-kind = Pick exact text or the assistant.
rules-text = Text
rules-up = Move up
rules-down = Move down
rules-remove = Remove
rules-add = Add a rule
rules-default = When no rule matches
rules-default-hint = Every message no rule matches gets this answer.

## Approvals
approvals-title = Approvals
approvals-empty = No replies are waiting for your approval.
approvals-from = From { $customer }
approvals-draft = Drafted reply
approvals-send-edited = Send my edit
approval-outcome-sent = Approved and sent.
approval-outcome-rejected = Rejected: nothing was sent.
approval-outcome-not-found = This draft was already decided or has expired.
approval-outcome-not-sent = Approved, but it could not be sent: the conversation's reply window has closed.
approval-link-title = Approve a reply
approval-link-confirm-approve = Approve and send
approval-link-confirm-reject = Reject this reply
approval-link-expired = This link has expired. Open the dashboard to decide.
approval-link-invalid = This link is not valid.

## Channels
nav-channels = Channels
channels-title = Channels
channels-saved = Saved. Messages to this account now reach your assistant.
channels-connect = Connect
channels-disconnect = Disconnect
channels-phone-number-id = Phone number ID (from Meta's WhatsApp Manager)
channels-page-id = Instagram business account ID
channels-token = Access token
channels-token-hint = Stored encrypted and never shown again. Leave empty to keep the stored token.
channels-error-token = A token has no spaces and is at most 4096 characters.
channels-error-web = Web chat is set up from the widget settings.
channels-guild-id = Server (guild) ID
channels-discord-mentions = Answer when the bot is mentioned
channels-discord-channels = Channel IDs where every message is answered
channels-email-domains = Domains whose mail you receive
channels-email-from = Replies come from (optional)
channels-email-rules = Routing rules, in order (TOML)
channels-email-rules-hint = The first rule that matches wins; mail no rule matches is answered by the assistant. The same format as the tenant file's [[channels.email.rules."domain"]] tables.

## Onboarding wizard
welcome-title = Set up your assistant
welcome-steps = Steps
welcome-step-business = Your business
welcome-step-persona = Persona
welcome-step-channels = Channels
welcome-step-timing = Conversation timing
welcome-locale = Language and region
welcome-currency = Billing currency
welcome-error-locale = Pick one of the languages.
welcome-error-currency = Pick one of the currencies.
welcome-error-archetype = Pick one of the personas.
welcome-persona-intro = Start from a persona that fits; you can change every word later.
welcome-persona-own = Or write your own on the persona page.
welcome-channels-intro = Connect the channels your customers write on: WhatsApp, Instagram, Discord or email.
welcome-channels-open = Open channels
welcome-timing-intro = The defaults suit most businesses. Change them any time.
welcome-timing-open = Open conversation timing
welcome-next = Save and continue
welcome-skip = Skip for now
welcome-finish = Finish
welcome-continue = Continue setting up your assistant
locale-en-IN = English (India)
locale-en-US = English (United States)
locale-hi-IN = हिन्दी (भारत)

# The owner's dashboard pages (concierge-core/src/front/web/pages/).

## Navigation (Credits, Conversations)

## Credits
credits-title = Credits
credits-balance = Balance
credits-price = Price of one AI reply
credits-price-hint = Only AI replies use credits. Canned replies, intent matching and safety checks are free, and a reply that fails is refunded.
credits-price-missing = No price is set for { $currency } yet, so AI replies are paused. Please contact support.
credits-truncated = Showing the latest { $count } entries of each list.
credits-grants = Credits added
credits-grants-empty = No credits have been added yet.
credits-col-reason = Reason
credits-col-granted = Added
credits-col-remaining = Left
credits-col-granted-at = Added on
credits-col-expires = Expires
credits-expires-never = Never
credits-expired = Expired
credits-debits = Usage
credits-debits-hint = One row per AI reply. A refunded row was returned to your balance because the reply could not be made or sent.
credits-debits-empty = No AI replies have used credits yet.
credits-col-when = When
credits-col-turn = Reply
credits-col-amount = Amount
credits-col-status = Status
credits-status-charged = Charged
credits-status-refunded = Refunded

## Conversations
conversations-title = Conversations
conversations-intro = Recent conversations in which the assistant took part. Only what happened is kept, never what was written.
conversations-truncated = Showing the { $count } most recent conversations.
conversations-empty = No conversations yet. They appear here once the assistant answers a customer.
conversations-col-last = Last message
conversations-col-customer = Customer
conversations-col-channel = Channel
conversations-col-messages = Messages
conversations-col-started = Started
conversations-col-action = Last action
conversation-title = Conversation
conversation-back = All conversations
conversation-heading = Conversation with { $customer }
conversation-count = Messages: { $count }
conversation-no-bodies = Message text is not stored: this page shows when each message came or went and what the assistant did.
conversation-col-when = When
conversation-col-direction = Direction
conversation-col-channel = Channel
conversation-col-action = Action
conversation-direction-inbound = From the customer
conversation-direction-outbound = To the customer

## Operator panel
manage-title = Operator panel
manage-tenants = Businesses
manage-empty = No business has been set up yet.
manage-balance = Balance: { $balance }
manage-approve-persona = Approve persona
manage-reject-persona = Reject persona
manage-grant = Grant credits
manage-grant-amount = Credits
manage-grant-expires = Expires after (days, optional)
manage-grant-reason = Reason (optional)
manage-grant-submit = Grant
manage-done-approved = Persona approved: AI replies use it now.
manage-done-rejected = Persona rejected: the owner sees the vague reason.
manage-done-granted = Credits granted.
manage-not-built = Not built yet: the pricing per currency, the personas catalog and the audit log of management actions.
manage-login-title = Operator sign-in
manage-login-token = Admin token
manage-login-hint = The deployment's CONCIERGE_ADMIN_TOKEN (ADMIN_TOKEN on Cloudflare).
manage-login-submit = Sign in
manage-login-error = That token is not right.
manage-login-rate-limited = Too many failed attempts. Wait a few minutes, then try again.
