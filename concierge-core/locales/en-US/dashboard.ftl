# dashboard.ftl (en-US): the dashboard pages other than the overview (owned by the dashboard work).
# Keys are unique across all area files of a locale; en-IN has every key first (docs/i18n.md).
