# मालिक के डैशबोर्ड के पन्ने (concierge-core/src/front/web/pages/).

## साझा शब्द
save = सहेजें
approve = स्वीकार करें
reject = अस्वीकार करें
error-required = यह जानकारी ज़रूरी है।
form-has-errors = कुछ भी सहेजा नहीं गया: कृपया नीचे चिह्नित जानकारी ठीक करें।
channel-whatsapp = WhatsApp
channel-instagram = Instagram
channel-discord = Discord
channel-email = ईमेल
channel-web = वेब चैट

## पर्सोना
persona-title = पर्सोना
persona-review-pending = समीक्षा बाकी है
persona-review-pending-hint = सुरक्षा समीक्षा इस लेख की जाँच कर रही है। स्वीकृति मिलने तक AI जवाब रुके रहेंगे; तैयार जवाब जाते रहेंगे।
persona-review-approved = स्वीकृत
persona-review-approved-hint = AI जवाब इसी पर्सोना का उपयोग करते हैं।
persona-review-rejected = अस्वीकृत
persona-review-rejected-hint = यह लेख स्वीकृत नहीं हुआ, इसलिए AI जवाब रुके हैं। इसे बदलकर सहेजें, तो नई समीक्षा होगी।
persona-saved = सहेजा गया। बदला हुआ लेख AI जवाबों में इस्तेमाल होने से पहले जाँचा जाता है।
persona-mode = अपने सहायक का वर्णन कैसे करें
persona-mode-builder = बिल्डर
persona-mode-custom = अपना लेख
persona-voice = बोलने का अंदाज़
persona-voice-warm = गर्मजोशी भरा और स्वागत करने वाला
persona-voice-professional = विनम्र और सटीक
persona-voice-playful = हल्का-फुल्का
persona-voice-concise = कम से कम शब्दों में
persona-voice-caring = कोमल और धैर्यवान
persona-field-business_name = व्यवसाय का नाम
persona-field-business_type = व्यवसाय किस तरह का है
persona-field-assistant_name = सहायक का नाम (वैकल्पिक)
persona-field-city = शहर (वैकल्पिक)
persona-field-goal = सहायक को क्या हासिल करना है
persona-field-goal_url = मददगार लिंक (मेन्यू, बुकिंग पेज)
persona-field-facts = जानकारी जो वह बता सकता है
persona-field-handoff_conditions = कब किसी व्यक्ति को सौंपना है
persona-field-catch_phrases = आपके पसंदीदा वाक्य
persona-field-off_topic = किन विषयों पर मना करना है
persona-field-custom = आपका पर्सोना, आपके अपने शब्दों में
persona-one-per-line = हर पंक्ति में एक।
persona-save-hint = जो तरीका आप चुनते हैं, वही सहेजा जाता है।
persona-error-custom-empty = पर्सोना लिखें, या बिल्डर चुनें।
persona-error-voice = कोई एक अंदाज़ चुनें।
view-prompt = प्रॉम्प्ट देखें
view-prompt-hint = जब { $channel } का डिफ़ॉल्ट नियम जवाब देता है, तब मॉडल को ठीक यही मिलता है।
view-prompt-hint-none = आपके पर्सोना के साथ मॉडल को ठीक यही मिलता है (अभी कोई चैनल मॉडल से जवाब नहीं देता)।

## बातचीत का समय
settings-title = सेटिंग्स
timing-title = बातचीत का समय
timing-intro = डिफ़ॉल्ट इस्तेमाल करने के लिए खाली छोड़ें।
timing-idle_gap_mins = कितने मिनट की चुप्पी के बाद नई बातचीत शुरू हो
timing-handoff_cooldown_mins = किसी व्यक्ति को सौंपने के बाद सहायक कितने मिनट रुका रहे
timing-max_history_messages = सहायक बातचीत के कितने हिस्से याद रखे
timing-default = डिफ़ॉल्ट: { $value }
timing-saved = सहेजा गया।
timing-not-saved = कुछ भी सहेजा नहीं गया: कृपया नीचे चिह्नित जानकारी ठीक करें।
timing-error-whole-number = पूर्ण संख्या लिखें, या खाली छोड़ें।

## जवाब के नियम
rules-title = जवाब के नियम
rules-channels = चैनल
rules-no-channel = अभी कोई चैनल जुड़ा नहीं है।
rules-saved = सहेजा गया।
rules-unsaved = बदलाव अभी सहेजे नहीं गए: सहेजें दबाएँ।
rules-enabled = इस चैनल पर जवाब दें
rules-wait = जवाब देने से पहले और संदेशों के लिए कितने सेकंड रुकें
rules-wait-hint = एक साथ आए संदेशों का एक ही जवाब दिया जाता है। 0 पर तुरंत जवाब।
rules-error-wait = 0 से 600 तक सेकंड की पूर्ण संख्या लिखें।
rules-name = नियम का नाम
rules-when = कब
rules-matcher-keywords = संदेश में कोई मुख्य शब्द हो
rules-matcher-intent = संदेश का कोई अर्थ हो
rules-keywords = मुख्य शब्द, अल्पविराम से अलग
rules-description = संदेश का अर्थ, शब्दों में
rules-threshold = अर्थ कितना मिलता-जुलता हो (0 से 1)
rules-error-threshold = 0 और 1 के बीच की संख्या लिखें।
rules-error-matcher = मुख्य शब्द या अर्थ चुनें।
rules-answer = जवाब में
rules-reply-canned = यही लेख (मुफ़्त)
rules-reply-prompt = सहायक, इन निर्देशों के साथ (एक क्रेडिट लगता है)
rules-error-reply-kind = तैयार लेख या सहायक चुनें।
rules-text = लेख
rules-up = ऊपर करें
rules-down = नीचे करें
rules-remove = हटाएँ
rules-add = नियम जोड़ें
rules-default = जब कोई नियम मेल न खाए
rules-default-hint = जिस संदेश से कोई नियम मेल नहीं खाता, उसे यह जवाब मिलता है।

## स्वीकृतियाँ
approvals-title = स्वीकृतियाँ
approvals-empty = कोई जवाब आपकी स्वीकृति का इंतज़ार नहीं कर रहा।
approvals-from = { $customer } से
approvals-draft = तैयार किया गया जवाब
approvals-send-edited = मेरा बदला हुआ जवाब भेजें
approval-outcome-sent = स्वीकृत और भेजा गया।
approval-outcome-rejected = अस्वीकृत: कुछ नहीं भेजा गया।
approval-outcome-not-found = इस मसौदे पर पहले ही फ़ैसला हो चुका है या इसकी अवधि खत्म हो गई है।
approval-outcome-not-sent = स्वीकृत, पर भेजा नहीं जा सका: इस बातचीत में जवाब देने का समय निकल चुका है।
approval-link-title = जवाब स्वीकार करें
approval-link-confirm-approve = स्वीकार करें और भेजें
approval-link-confirm-reject = यह जवाब अस्वीकार करें
approval-link-expired = इस लिंक की अवधि खत्म हो गई है। फ़ैसला करने के लिए डैशबोर्ड खोलें।
approval-link-invalid = यह लिंक मान्य नहीं है।

## चैनल
nav-channels = चैनल
channels-title = चैनल
channels-saved = सहेजा गया। इस खाते पर आने वाले संदेश अब आपके सहायक तक पहुँचेंगे।
channels-connect = जोड़ें
channels-disconnect = हटाएँ
channels-phone-number-id = फ़ोन नंबर ID (Meta के WhatsApp Manager से)
channels-page-id = Instagram बिज़नेस खाते की ID
channels-token = ऐक्सेस टोकन
channels-token-hint = एन्क्रिप्ट करके रखा जाता है और फिर कभी दिखाया नहीं जाता। रखा हुआ टोकन बनाए रखने के लिए खाली छोड़ें।
channels-error-token = टोकन में कोई खाली जगह नहीं होती और वह ज़्यादा से ज़्यादा 4096 अक्षरों का होता है।
channels-error-web = वेब चैट विजेट की सेटिंग्स से सेट होती है।
channels-guild-id = सर्वर (गिल्ड) ID
channels-discord-mentions = बॉट का ज़िक्र होने पर जवाब दें
channels-discord-channels = चैनल ID जहाँ हर संदेश का जवाब दिया जाए
channels-email-domains = वे डोमेन जिनकी मेल आपको मिलती है
channels-email-from = जवाब इस पते से जाएँ (वैकल्पिक)
channels-email-rules = रूटिंग नियम, क्रम से (TOML)
channels-email-rules-hint = पहला मेल खाने वाला नियम लागू होता है; जिस मेल से कोई नियम मेल नहीं खाता, उसका जवाब सहायक देता है। वही प्रारूप जो टेनेंट फ़ाइल की [[channels.email.rules."domain"]] तालिकाओं का है।

## शुरुआती सेटअप
welcome-title = अपना सहायक सेट करें
welcome-steps = चरण
welcome-step-business = आपका व्यवसाय
welcome-step-persona = पर्सोना
welcome-step-channels = चैनल
welcome-step-timing = बातचीत का समय
welcome-locale = भाषा और क्षेत्र
welcome-currency = बिलिंग मुद्रा
welcome-error-locale = कोई एक भाषा चुनें।
welcome-error-currency = कोई एक मुद्रा चुनें।
welcome-error-archetype = कोई एक पर्सोना चुनें।
welcome-persona-intro = किसी उपयुक्त पर्सोना से शुरुआत करें; बाद में आप हर शब्द बदल सकते हैं।
welcome-persona-own = या पर्सोना पेज पर अपना खुद का लिखें।
welcome-channels-intro = वे चैनल जोड़ें जिन पर आपके ग्राहक लिखते हैं: WhatsApp, Instagram, Discord या ईमेल।
welcome-channels-open = चैनल खोलें
welcome-timing-intro = डिफ़ॉल्ट ज़्यादातर व्यवसायों के लिए ठीक हैं। इन्हें कभी भी बदलें।
welcome-timing-open = बातचीत का समय खोलें
welcome-next = सहेजें और आगे बढ़ें
welcome-skip = अभी छोड़ें
welcome-finish = पूरा करें
welcome-continue = अपने सहायक का सेटअप जारी रखें
locale-en-IN = English (India)
locale-en-US = English (United States)
locale-hi-IN = हिन्दी (भारत)

# मालिक के डैशबोर्ड के पन्ने (concierge-core/src/front/web/pages/).

## नेविगेशन (क्रेडिट, बातचीत)

## क्रेडिट
credits-title = क्रेडिट
credits-balance = शेष राशि
credits-price = एक AI जवाब की कीमत
credits-price-hint = केवल AI जवाबों पर क्रेडिट लगते हैं। तैयार जवाब, इरादे की पहचान और सुरक्षा जाँच मुफ़्त हैं, और जो जवाब विफल हो जाए उसका पैसा लौटा दिया जाता है।
credits-price-missing = { $currency } के लिए अभी कोई कीमत तय नहीं है, इसलिए AI जवाब रुके हुए हैं। कृपया सहायता से संपर्क करें।
credits-truncated = हर सूची की नवीनतम { $count } प्रविष्टियाँ दिखाई जा रही हैं।
credits-grants = जोड़े गए क्रेडिट
credits-grants-empty = अभी तक कोई क्रेडिट नहीं जोड़ा गया है।
credits-col-reason = कारण
credits-col-granted = जोड़ा गया
credits-col-remaining = बाकी
credits-col-granted-at = जोड़ने की तारीख
credits-col-expires = समाप्ति
credits-expires-never = कभी नहीं
credits-expired = समाप्त
credits-debits = उपयोग
credits-debits-hint = हर AI जवाब की एक पंक्ति। लौटाई गई पंक्ति की राशि आपकी शेष राशि में वापस जोड़ दी गई, क्योंकि जवाब बन नहीं सका या भेजा नहीं जा सका।
credits-debits-empty = अभी तक किसी AI जवाब पर क्रेडिट नहीं लगा है।
credits-col-when = कब
credits-col-turn = जवाब
credits-col-amount = राशि
credits-col-status = स्थिति
credits-status-charged = कटौती हुई
credits-status-refunded = लौटाया गया

## बातचीत
conversations-title = बातचीत
conversations-intro = हाल की वे बातचीत जिनमें सहायक शामिल था। केवल यह रखा जाता है कि क्या हुआ, यह कभी नहीं कि क्या लिखा गया।
conversations-truncated = सबसे हाल की { $count } बातचीत दिखाई जा रही हैं।
conversations-empty = अभी कोई बातचीत नहीं है। सहायक के किसी ग्राहक को जवाब देते ही वह यहाँ दिखेगी।
conversations-col-last = आख़िरी संदेश
conversations-col-customer = ग्राहक
conversations-col-channel = चैनल
conversations-col-messages = संदेश
conversations-col-started = शुरुआत
conversations-col-action = आख़िरी कार्रवाई
conversation-title = बातचीत
conversation-back = सभी बातचीत
conversation-heading = { $customer } के साथ बातचीत
conversation-count = संदेश: { $count }
conversation-no-bodies = संदेशों का पाठ सहेजा नहीं जाता: यह पन्ना दिखाता है कि हर संदेश कब आया या गया और सहायक ने क्या किया।
conversation-col-when = कब
conversation-col-direction = दिशा
conversation-col-channel = चैनल
conversation-col-action = कार्रवाई
conversation-direction-inbound = ग्राहक से
conversation-direction-outbound = ग्राहक को

## ऑपरेटर पैनल
manage-title = ऑपरेटर पैनल
manage-tenants = व्यवसाय
manage-empty = अभी तक कोई व्यवसाय सेट नहीं हुआ है।
manage-balance = बैलेंस: { $balance }
manage-approve-persona = पर्सोना स्वीकार करें
manage-reject-persona = पर्सोना अस्वीकार करें
manage-grant = क्रेडिट दें
manage-grant-amount = क्रेडिट
manage-grant-expires = कितने दिन बाद समाप्त हों (वैकल्पिक)
manage-grant-reason = कारण (वैकल्पिक)
manage-grant-submit = दें
manage-done-approved = पर्सोना स्वीकृत: अब AI जवाब इसका उपयोग करते हैं।
manage-done-rejected = पर्सोना अस्वीकृत: मालिक को सामान्य कारण दिखता है।
manage-done-granted = क्रेडिट दिए गए।
manage-not-built = अभी नहीं बना: हर मुद्रा की कीमत, पर्सोना सूची और प्रबंधन कार्यों का ऑडिट लॉग।
manage-login-title = ऑपरेटर साइन-इन
manage-login-token = एडमिन टोकन
manage-login-hint = डिप्लॉयमेंट का CONCIERGE_ADMIN_TOKEN (Cloudflare पर ADMIN_TOKEN)।
manage-login-submit = साइन इन करें
manage-login-error = यह टोकन सही नहीं है।
manage-login-rate-limited = बहुत सारे असफल प्रयास। कुछ मिनट रुकें, फिर कोशिश करें।
