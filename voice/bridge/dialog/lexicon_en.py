"""English: the words that mark each signal in a callee's turn (data only; intents.py compiles and reads them).

Patterns are regular expressions over the normal form of intents.fold: lower case, hyphens and punctuation
as spaces ("do-not-call" is "do not call"), apostrophes dropped ("don't" is "dont", "I'll" is "ill"),
single spaces."""

from __future__ import annotations

LANGUAGE = "en"

# Hesitations a recogniser writes out: dropped anywhere before the patterns are read (intents.fold). "um" is
# kept before a clock time: it is German for "at" ("um zehn").
FILLERS = (
    r"uh+m?",
    r"erm",
    r"hm+",
    r"um(?!\s+(?:\d|halb|viertel|eins|zwei|drei|vier|fuenf|sechs|sieben|acht|neun|zehn|elf|zwoelf|mitternacht))",
    # "like" as a hesitation, not as a verb ("I'd like", "we don't like") or a comparison ("calls like this").
    r"(?<!would )(?<!id )(?<!wed )(?<!i )(?<!we )(?<!you )(?<!they )(?<!dont )(?<!calls )(?<!feel )(?<!looks )"
    r"(?<!sounds )(?<!just )(?<!really )like(?!\s+(?:this|that|these|those|to|it|him|her|them|a|an|the)\b)",
)
# Discourse words a question may start with.
LEADING = ("um", "uh", "uhm", "er", "erm", "hm", "hmm", "so", "and", "but", "wait", "sorry", "ok", "okay", "well")

_AGAIN = r"(?:again|any\s*more|ever\s+again|no\s+more)"

SIGNALS: dict[str, tuple[str, ...]] = {
    # ---- steer the call away from an appointment (intents.decide orders them)
    "opt_out": (
        r"\b(?:stop|quit|cease)\s+(?:calling|ringing|phoning|contacting|bothering|harass\w*)\b",
        rf"\b(?:dont|do\s+not|never)\s+(?:(?:you|ever|like|please|just)\s+){{0,3}}(?:call|ring|phone|contact)\s+"
        rf"(?:me\s+|us\s+|here\s+|this\s+number\s+)?{_AGAIN}\b",
        r"\bnever\s+(?:ever\s+)?(?:call|ring|phone|contact)\b",
        r"\bdo\s+not\s+call\s+(?:list|registry|register|me\s+again|us\s+again|again|any\s*more)\b",
        r"\b(?:on|to|in)\s+(?:the|your|a|our|my)\s+(?:\w+\s+)?do\s+not\s+call\b",
        r"\bdnc\b",
        r"\b(?:take|remove|delete|scrub|strike|drop)\s+(?:me|us|(?:my|our|this)\s+(?:number|details|name|data))"
        r"(?:\s+\w+){0,2}\s+(?:off|from|out)\b",
        r"\blose\s+(?:my|this|our)\s+number\b",
        r"\b(?:number|me|us|name|details)\s+(?:off|out\s+of|from)\s+(?:\w+\s+)?(?:list|lists|database|system|records)\b",
        r"\b(?:remove|delete|scrub)\s+(?:me|us|(?:my|our|this)\s+(?:number|details|name|data))\b",
        r"\b(?:never|dont|do\s+not)\s+want\s+to\s+(?:hear\s+from|be\s+called\s+by|get\s+calls\s+from)\b",
        r"\bnever\s+want\s+(?:you\s+)?to\s+call\b",
        r"\bopt\s+(?:me\s+)?out\b",
        r"\bunsubscribe\b",
        r"\bno\s+(?:more|further)\s+calls\b",
        r"\bdont\s+(?:want|need)\s+(?:any\s+)?(?:more\s+|further\s+)?calls\b",
        r"\b(?:leave|let)\s+(?:me|us)\s+(?:alone|be)\b",
        r"\bput\s+(?:me|us|my\s+number)\s+on\s+.{0,15}\b(?:do\s+not\s+call|no\s+call|dnc|block)",
    ),
    # Said with a hedge: the agent asks whether to remove the number rather than record it or carry on.
    "opt_out_unsure": (
        r"\b(?:not\s+interested\s+in|dont\s+(?:like|want|appreciate|enjoy)|hate)\s+(?:getting\s+|receiving\s+)?"
        r"(?:\w+\s+)?calls\b",
        r"\bcalls\s+like\s+(?:this|these)\b",
        r"\b(?:these|such)\s+(?:kinds?\s+of\s+|sorts?\s+of\s+)?calls\b",
        r"\bcold\s+call",
        r"\bsales\s+calls?\b",
        r"\bhow\s+did\s+you\s+get\s+(?:my|this)\s+number\b",
        r"\bspam\b",
    ),
    "wrong_number": (
        r"\bwrong\s+(?:number|person|guy|man|woman|lady|one|household|house)\b",
        r"\bno\s*(?:body|one)\s+(?:here\s+)?(?:of\s+that\s+name|by\s+that\s+name|called|named)\b",
        r"\btheres\s+no\s+(?:one|body|mr|mrs|ms)\b",
        r"\btheres\s+no\s+(?:\w+\s+){1,3}(?:here|at\s+this\s+(?:number|address))\b",
        r"\b(?:you\s+have|youve\s+got|you\s+got|youve)\s+the\s+wrong\b",
        r"\b(?:doesnt|does\s+not|dont|do\s+not)\s+(?:live|work)\s+(?:here|there)\b",
        r"\b(?:dialed|dialled|misdialed)\b",
        r"\bnever\s+heard\s+of\b",
    ),
    "callback": (
        r"\b(?:call|ring|phone)\s+(?:me\s+|us\s+)?back\b",
        r"\b(?:call|ring|phone)\s+(?:me\s+|us\s+)?(?:again\s+)?"
        r"(?:later|tomorrow|next|on|in|another|after|around|at|once|this|some\s+other)\b",
        r"\bgive\s+(?:me|us)\s+a\s+(?:call|ring|buzz|shout)\b",
        r"\btry\s+(?:me|us)\b",
        r"\btry\s+again\s+(?:later|tomorrow|next|in|on|after|another)\b",
        r"\breach\s+out\s+(?:to\s+me\s+)?(?:again|later|next|in|after)\b",
        r"\b(?:get|come)\s+back\s+to\s+(?:me|us)\b",
        r"\b(?:catch|check\s+(?:back\s+)?with)\s+me\s+(?:later|tomorrow|next|in|on|after|another)\b",
        r"\bcheck\s+back\s+(?:in|next|later|after|on)\b",
        r"\bfollow\s+up\s+(?:with\s+me\s+)?(?:in|next|after|later)\b",
        r"\bbad\s+time\b",
        r"\bnot\s+a\s+good\s+time\b",
        r"\bbusy\s+(?:right\s+)?now\b",
        r"\bno\s+time\s+(?:right\s+)?now\b",
        r"\b(?:im|i\s+am)\s+(?:driving|in\s+a\s+meeting|at\s+work|in\s+the\s+car)\b",
    ),
    "refusal": (
        r"\bnot\s+interested\b",
        r"\bno\s+interest\b",
        r"\b(?:we|i)\s+dont\s+need\b",
        r"\bno\s+need\b",
        r"\b(?:ill|i\s+will|well|we\s+will|id|i\s+would)\s+(?:rather\s+)?pass\b",
        r"\bnot\s+for\s+(?:us|me)\b",
        r"\bnot\s+looking\s+for\b",
        r"\b(?:were|we\s+are|im|i\s+am)\s+(?:good|fine|all\s+set|set|covered|sorted|ok|okay)"
        r"(?:\s+(?:thanks|thank\s+you|for\s+now))?$",
        r"\balready\s+(?:have|got|use|work\s+with)\s+(?:someone|somebody|a\s+\w+|one|something)\b",
        r"\bchanged\s+(?:our|my)\s+minds?\b",
        r"\bno\s+longer\s+(?:interested|needed|relevant)\b",
    ),
    "deferral": (
        r"\b(?:have|need|got)\s+to\s+(?:check|look\s+at|see)\s+(?:my|the|our)\s+(?:calendar|diary|schedule)\b",
        r"\bcheck\s+(?:my|our)\s+(?:calendar|diary|schedule)\b",
        r"\blet\s+me\s+(?:check|look|think|see|get\s+back|talk|ask|run\s+it|sleep|have\s+a\s+look)\b",
        r"\bget\s+back\s+to\s+you\b",
        r"\b(?:ill|i\s+will|i\s+ll)\s+(?:let\s+you\s+know|get\s+back|think\s+about|have\s+a\s+look|have\s+to\s+look|"
        r"check|need\s+to\s+check|call\s+you|be\s+in\s+touch|reach\s+out|look\s+into)\b",
        r"\bnot\s+sure\s+yet\b",
        r"\b(?:think|sleep)\s+(?:about|on|it\s+over)\b",
        r"\bnot\s+at\s+my\s+(?:desk|computer|calendar)\b",
        r"\b(?:dont|do\s+not)\s+(?:have|know)\s+my\s+(?:calendar|schedule|diary)\b",
    ),
    "question": (
        r"^(?:{leading}\s+)*(?:"
        r"what\s+(?:is|does|do|are|was|would|kind|exactly|about|company|for)|whats|who|whos|"
        r"how\s+(?:much|long|does|do|is|are|would|will|many|did|come)|hows|why(?!\s+not)|where|"
        r"which\s+(?:company|firm)|is\s+it|is\s+this|is\s+that|are\s+you|does\s+it|can\s+you\s+tell|"
        r"will\s+it|would\s+it)\b",
    ),
    # Within a question: who is calling (the agent says who it is, not what the consultant will explain).
    "who": (
        r"\bwho\s+(?:is|are|did|was|am|do)\b",
        r"\bwhos\b",
        r"\bwhat\s+company\b",
        r"\bwhere\s+are\s+you\s+calling\s+from\b",
        r"\bwhat\s+(?:was|is)\s+your\s+name\b",
    ),
    "open_answer": (
        r"\bany\s*time\b",
        r"\bwhenever\b",
        r"\bflexible\b",
        r"\byou\s+(?:pick|choose|decide|tell\s+me|suggest)\b",
        r"\b(?:doesnt|does\s+not|dont|do\s+not)\s+(?:really\s+)?matter\b",
        r"\bup\s+to\s+you\b",
        r"\b(?:whatever|anything)\s+(?:works|suits|is\s+(?:fine|good|best)|you\s+have)\b",
        r"\b(?:any|either)\s+(?:day|one|slot)\s+(?:is\s+fine|works|is\s+good)\b",
        r"\bsurprise\s+me\b",
    ),
    # Words that make a turn a time wish: days, parts of day, clock times, periods.
    "time_words": (
        r"\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?\b",
        r"\b(?:today|tomorrow|tonight|morning|afternoon|evening|noon|midday|lunch(?:time)?|weekend)\b",
        r"\b(?:oclock|pm|a\s+m|p\s+m|week|month)\b",
        r"\b\d{1,2}(?:[:.]\d{2})?\s*am\b",
        r"\b(?:january|february|march|april|june|july|august|september|october|november|december)\b",
        r"\b(?:at|around|after|before|from|until|by)\s+(?:\d|one|two|three|four|five|six|seven|eight|nine|ten|"
        r"eleven|twelve|half|quarter)",
        r"\b\d{1,2}(?:[:.]\d{2})?\b",
    ),
    # ---- the rest of the call
    "voicemail": (
        r"\bmailbox\b",
        r"\bvoicemail\b",
        r"\bleave\s+(?:me\s+)?a\s+message\b",
        r"\bafter\s+the\s+(?:tone|beep)\b",
    ),
    "human": (
        r"\b(?:talk|speak)\s+(?:to|with)\s+(?:a\s+|an\s+|some\s*one|some\s*body|your\s+)?"
        r"(?:person|human|real|one|body|agent|representative|colleague|manager)\b",
        r"\bhuman\b",
        r"\breal\s+person\b",
        r"\boperator\b",
        r"\bput\s+me\s+through\b",
    ),
    "no_recording": (
        r"\bdont\s+record\b",
        r"\bdo\s+not\s+record\b",
        r"\bno\s+recording\b",
        r"\bstop\s+(?:the\s+)?recording\b",
        r"\bnot\s+(?:to\s+)?be\s+recorded\b",
        r"\bwithout\s+(?:a\s+)?recording\b",
    ),
    "soft_refusal": (r"\bno\s+thanks?\b", r"\bno\s+thank\s+you\b"),
    "material": (
        r"\bsend\s+(?:me|us)\b",
        r"\bemail\s+(?:me|us)\b",
        r"\bsome\s+(?:material|information|info|brochure)\b",
    ),
    "appointment": (r"\bappointment\b", r"\bmeeting\b", r"\bconsultation\b"),
    "confirm": (
        r"\b(?:yes|yeah|yep|yup|sure|correct|right|speaking|fine|great|perfect|absolutely|certainly|definitely|"
        r"okay|ok|please\s+do|book\s+it)\b",
        r"\bthats\s+(?:me|fine|right|correct|great)\b",
        r"\b(?:works|sounds)\s+(?:for\s+me|good|great|fine)\b",
        r"\bof\s+course\b",
    ),
    "decline": (
        r"\b(?:no|nope|nah)\b",
        r"\b(?:doesnt|does\s+not|wont|will\s+not)\s+work\b",
        r"\bcant\s+(?:make|do)\b",
        r"\bnot\s+(?:good|possible)\b",
    ),
    "first": (
        r"\bthe\s+first\b",
        r"\bfirst\s+(?:one|slot|option)\b",
        r"\b(?:the\s+)?former\b",
        r"\bthe\s+earlier\b",
    ),
    "second": (
        r"\bthe\s+second\b",
        r"\bsecond\s+(?:one|slot|option)\b",
        r"\b(?:the\s+)?latter\b",
        r"\bthe\s+later\s+one\b",
    ),
    "decider": (
        r"\bi\s+(?:decide|make\s+the\s+decision|am\s+the\s+decision)",
        r"\bmy\s+(?:boss|manager|partner|wife|husband|team)\b",
        r"\bwe\s+decide\b",
        r"\btogether\b",
        r"\bdecision\s*maker\b",
    ),
    "timing": (
        r"\basap\b",
        r"\bright\s+away\b",
        r"\bas\s+soon\s+as\s+possible\b",
        r"\b(?:this|next)\s+(?:year|quarter|month)\b",
        r"\bimmediately\b",
        r"\bno\s+rush\b",
    ),
    # Said when the agent offered a booking link or a callback (after a deferral).
    "by_mail": (r"\b(?:mail|email|e\s+mail|link|send)\b",),
    "by_call": (r"\b(?:call|ring|phone)\b",),
}
