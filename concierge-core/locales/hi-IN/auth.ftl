# auth.ftl (hi-IN): login, signup, password reset (owned by the auth work).
# Keys are unique across all area files of a locale; en-IN has every key first (docs/i18n.md).
