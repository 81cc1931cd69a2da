# demo.ftl (hi-IN): the public demo page (owned by the demo work).
# Keys are unique across all area files of a locale; en-IN has every key first (docs/i18n.md).
