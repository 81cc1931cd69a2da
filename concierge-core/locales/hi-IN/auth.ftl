# साइन इन, साइन अप और साइन आउट: concierge-core/templates/web/auth/ और डैशबोर्ड का हेडर।

login-title = अपने डैशबोर्ड में साइन इन करें
login-email = ईमेल
login-password = पासवर्ड
login-submit = साइन इन करें
login-signup-link = नए हैं? अपने व्यवसाय के लिए खाता बनाएँ
login-error-credentials = यह ईमेल और पासवर्ड किसी खाते से मेल नहीं खाते। कृपया फिर से कोशिश करें।
login-error-rate-limited = साइन इन की बहुत अधिक कोशिशें हुई हैं। कृपया कुछ मिनट रुककर फिर से कोशिश करें।
login-or = या
login-google = Google से जारी रखें
login-facebook = Facebook से जारी रखें
oauth-error-state = यह साइन-इन लिंक समाप्त हो गया है या यहाँ से शुरू नहीं हुआ था। कृपया फिर से कोशिश करें।
oauth-error-cancelled = साइन-इन रद्द कर दिया गया। आप फिर से कोशिश कर सकते हैं, या अपने ईमेल और पासवर्ड का उपयोग करें।
oauth-error-provider = हम उस प्रदाता के साथ साइन-इन पूरा नहीं कर सके। कृपया थोड़ी देर में फिर से कोशिश करें।
oauth-error-no-email = प्रदाता ने कोई सत्यापित ईमेल पता साझा नहीं किया, इसलिए हम आपका खाता नहीं ढूँढ सकते।
oauth-error-no-account = कोई भी व्यावसायिक खाता इस ईमेल का उपयोग नहीं करता। इस Concierge के ऑपरेटर से आपको जोड़ने के लिए कहें।

signup-title = अपने व्यवसाय का खाता बनाएँ
signup-intro = एक खाता एक व्यवसाय चलाता है। WhatsApp, Instagram, Discord और ईमेल आप बाद में जोड़ सकते हैं।
signup-business = व्यवसाय का नाम
signup-email = ईमेल
signup-password = पासवर्ड
signup-password-hint = कम से कम 10 अक्षर। कुछ असंबंधित शब्द मिलाकर एक मज़बूत पासवर्ड बनता है।
signup-submit = खाता बनाएँ
signup-login-link = क्या आपका खाता पहले से है? साइन इन करें
signup-error-email = owner@example.com जैसा ईमेल पता लिखें।
signup-error-email-taken = इस ईमेल का खाता पहले से है। इसके बजाय साइन इन करें।
signup-error-password = पासवर्ड 10 से 256 अक्षरों का होना चाहिए।
signup-error-business = अपने व्यवसाय का नाम लिखें (अधिकतम 100 अक्षर)।
signup-error-rate-limited = आपके नेटवर्क से बहुत अधिक साइन अप हुए हैं। कृपया बाद में फिर से कोशिश करें।

signup-closed-title = साइन अप बंद है
signup-closed-body = यह Concierge नए साइन अप नहीं लेता। अपने व्यवसाय का खाता बनाने के लिए इसके संचालक से कहें।

nav-logout-everywhere = हर जगह से साइन आउट करें
