# common.ftl: the layout, navigation, generic words and error messages.
# en-IN is canonical: every key exists here first (docs/i18n.md).

## Navigation and layout

nav-overview = Overview
nav-persona = Persona
nav-rules = Reply rules
nav-knowledge = Knowledge
nav-settings = Settings
nav-approvals = Approvals
nav-credits = Credits
nav-conversations = Conversations
nav-signed-in-as = Signed in as { $email }
nav-logout = Log out

## The overview page

overview-title = Overview
overview-intro = How your concierge is doing: recent conversations, replies waiting for your approval and the credits left.

## Generic words

common-save = Save
common-cancel = Cancel
common-back = Back
common-edit = Edit
common-delete = Delete
common-yes = Yes
common-no = No
common-loading = Loading…
# $count: a number (i18n::text_count), shown with the locale's digit grouping.
common-minutes-ago =
    { $count ->
        [one] { $count } minute ago
       *[other] { $count } minutes ago
    }

## Errors: shown to the owner, never with internals; $id is the operation id to quote to support.

error-title = Something went wrong
error-generic = Something went wrong on our side. Please try again; if it keeps happening, quote reference { $id } to support.
error-not-found = This page does not exist.
error-forbidden = You do not have access to this page.
error-csrf = This form has expired. Reload the page and try again.
error-rate-limited = Too many attempts. Please wait a minute and try again.
error-invalid-form = Some fields need attention. Check the highlighted fields and try again.
