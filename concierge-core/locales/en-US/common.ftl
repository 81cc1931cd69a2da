# common.ftl: the layout, navigation, generic words and error messages (en-US).
# Same keys as en-IN; only what US English says differently needs to differ.

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
overview-intro = How your concierge is doing: recent conversations, replies waiting for your approval, and the credits left.

## Generic words

common-save = Save
common-cancel = Cancel
common-back = Back
common-edit = Edit
common-delete = Delete
common-yes = Yes
common-no = No
common-loading = Loading…
common-minutes-ago =
    { $count ->
        [one] { $count } minute ago
       *[other] { $count } minutes ago
    }

## Errors

error-title = Something went wrong
error-generic = Something went wrong on our end. Please try again; if it keeps happening, give support reference { $id }.
error-not-found = This page doesn't exist.
error-forbidden = You don't have access to this page.
error-csrf = This form has expired. Reload the page and try again.
error-rate-limited = Too many attempts. Please wait a minute and try again.
error-invalid-form = Some fields need attention. Check the highlighted fields and try again.
