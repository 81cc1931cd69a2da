# Sign-in, sign-up and sign-out (en-US): concierge-core/templates/web/auth/ and the dashboard header.

login-title = Sign in to your dashboard
login-email = Email
login-password = Password
login-submit = Sign in
login-signup-link = New here? Create an account for your business
login-error-credentials = That email and password do not match an account. Please try again.
login-error-rate-limited = Too many attempts to sign in. Please wait a few minutes and try again.
login-or = or
login-google = Continue with Google
login-facebook = Continue with Facebook
oauth-error-state = That sign-in link has expired or was not started here. Please try again.
oauth-error-cancelled = Sign-in was canceled. You can try again, or use your email and password.
oauth-error-provider = We couldn't complete the sign-in with that provider. Please try again in a moment.
oauth-error-no-email = The provider didn't share a verified email address, so we can't find your account.
oauth-error-no-account = No business account uses that email. Ask this Concierge's operator to add you.

signup-title = Create your business account
signup-intro = One account runs one business. You can connect WhatsApp, Instagram, Discord and email afterwards.
signup-business = Business name
signup-email = Email
signup-password = Password
signup-password-hint = At least 10 characters. A few unrelated words make a strong password.
signup-submit = Create account
signup-login-link = Already have an account? Sign in
signup-error-email = Enter an email address such as owner@example.com.
signup-error-email-taken = This email already has an account. Sign in instead.
signup-error-password = The password must be 10 to 256 characters long.
signup-error-business = Enter your business name (up to 100 characters).
signup-error-rate-limited = Too many sign-ups from your network. Please try again later.

signup-closed-title = Sign-up is closed
signup-closed-body = This Concierge does not take new sign-ups. Ask its operator to create an account for your business.

nav-logout-everywhere = Sign out everywhere
