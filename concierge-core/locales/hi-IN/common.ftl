# common.ftl: लेआउट, नेविगेशन, सामान्य शब्द और त्रुटि संदेश (hi-IN)।

## Navigation and layout

nav-overview = सारांश
nav-persona = व्यक्तित्व
nav-rules = जवाब के नियम
nav-knowledge = जानकारी
nav-settings = सेटिंग
nav-approvals = स्वीकृतियाँ
nav-credits = क्रेडिट
nav-conversations = बातचीत
nav-signed-in-as = { $email } के रूप में साइन इन
nav-logout = लॉग आउट करें

## The overview page

overview-title = सारांश
overview-intro = आपका कंसीयर्ज कैसा काम कर रहा है: हाल की बातचीत, आपकी स्वीकृति का इंतज़ार कर रहे जवाब और बचे हुए क्रेडिट।

## Generic words

common-save = सहेजें
common-cancel = रद्द करें
common-back = वापस
common-edit = बदलें
common-delete = हटाएँ
common-yes = हाँ
common-no = नहीं
common-loading = लोड हो रहा है…
common-minutes-ago = { $count } मिनट पहले

## Errors

error-title = कुछ गड़बड़ हो गई
error-generic = हमारी तरफ़ से कुछ गड़बड़ हो गई। कृपया फिर से कोशिश करें; अगर ऐसा बार-बार हो, तो सहायता टीम को संदर्भ { $id } बताएँ।
error-not-found = यह पेज मौजूद नहीं है।
error-forbidden = आपके पास इस पेज की अनुमति नहीं है।
error-csrf = इस फ़ॉर्म की समय-सीमा खत्म हो गई है। पेज को फिर से लोड करके दोबारा कोशिश करें।
error-rate-limited = बहुत ज़्यादा कोशिशें हो गईं। कृपया एक मिनट रुककर फिर से कोशिश करें।
error-invalid-form = कुछ फ़ील्ड पर ध्यान देना ज़रूरी है। चिह्नित फ़ील्ड जाँचकर फिर से कोशिश करें।
