# मालिक के डैशबोर्ड के पन्ने (concierge-core/src/front/web/pages/).

## नेविगेशन (क्रेडिट, बातचीत)
nav-credits = क्रेडिट
nav-conversations = बातचीत

## चैनलों के नाम (main की साझा कुंजियों जैसे ही: मिलाते समय एक ही प्रति रखें)
channel-whatsapp = WhatsApp
channel-instagram = Instagram
channel-discord = Discord
channel-email = ईमेल
channel-web = वेब चैट

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
