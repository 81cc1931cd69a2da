# The owner's dashboard pages (concierge-core/src/front/web/pages/).

## Navigation (Credits, Conversations)
nav-credits = Credits
nav-conversations = Conversations

## Channel names (the same keys as the shared words on main: keep one copy when merging)
channel-whatsapp = WhatsApp
channel-instagram = Instagram
channel-discord = Discord
channel-email = Email
channel-web = Web chat

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
