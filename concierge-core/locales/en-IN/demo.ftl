# The live demo page, GET /demo (concierge-core/src/front/web/demo_page.rs,
# templates/web/demo.html; the strings the script shows are rendered into data-* attributes).

demo-title = Live demo
demo-tagline = AI replies for small businesses, in their own voice
demo-heading = Chat with a sample business
demo-intro = Pick a sample business and chat with its assistant. You play one of its customers: ask what a customer would ask, such as opening hours, prices or an order.
demo-channels = Real customers never use this page. They write to the business on WhatsApp, Instagram, Discord or email, and Concierge answers them there.
demo-pick-heading = Sample businesses
demo-pick-action = Chat as a customer
demo-privacy = These businesses are samples. Nothing you write here reaches a real business, and the chat is not saved: close it and it is gone.
demo-noscript = The chat needs JavaScript. Turn it on and reload the page to try it.

## The chat dialog
demo-close = Close
demo-chat-role = You are playing a customer of this sample business. Real customers reach it on WhatsApp, Instagram, Discord or email.
demo-view-prompt = View prompt
demo-prompt-hint = The exact instructions the model receives for this business, fixed guard rails included.
demo-you = You
demo-typing = The assistant is typing…
demo-handoff-title = A person would take over here.
demo-handoff-notice = In a real conversation the business is notified and someone from the team replies. Until then the assistant only reassures the customer.
demo-input-label = Your message
demo-input-placeholder = Write as a customer would…
demo-send = Send
demo-enter-hint = Enter sends; Shift+Enter starts a new line.

## What the chat shows when a turn fails (never the server's own text)
demo-error-rate-limited = You are sending messages a little fast. Wait a few seconds, then try again.
demo-error-unavailable = The demo's AI is not available right now. Please try again later.
demo-error-model = The assistant did not answer this time. Please try again.
demo-error-invalid = That message could not be sent. Keep it under 1,000 characters and try again.
demo-error-network = Concierge could not be reached. Check your connection and try again.
demo-error-other = Something went wrong. Please try again.
demo-error-load = The sample businesses could not be loaded. Reload the page to try again.
