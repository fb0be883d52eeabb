"""Time preferences: German, English and French availability phrases to one constraint object, and that object
resolved against a business calendar. Pure code: no I/O, no database.

* ``constraint``: ``TimeConstraint`` / ``TimeWindow``, the object everything meets at;
* ``parse``: ``parse(text, language, now)``, the rule-based reader (``normalize``, ``grammar``,
  ``grammar_de``, ``grammar_en``, ``grammar_fr``, ``items``, ``days``, ``periods``, ``ellipsis``,
  ``negation``, ``windows``, ``lexicon`` and ``lexicon_fr`` are its parts). A language is a grammar
  module (``parse.GRAMMARS``; its correction, conjunction and negation-scope words are class data), its
  words in a lexicon module and its rewrites and number reader in ``normalize.LANGUAGES``;
* ``calendar``: ``resolve``, ``alternatives``, ``rank_alternatives`` against a rep's ``BusinessCalendar``
  (crm/services/business_calendar.py, with ``Slot``);
* ``speak``: ``render_slot(s)`` and ``parse_spoken_slot(s)``, the agent's canonical wording and back;
* ``accuracy``: ``python -m voice.bridge.timeprefs.accuracy [--noise]`` on the regression utterances
  (tests/voice/bridge/utterances.yaml, utterances_spoken.yaml, utterances_fr.yaml), clean and under the recogniser
  perturbations of ``noise``.
"""

from voice.bridge.timeprefs.constraint import TimeConstraint, TimeWindow

# ``parse`` is deliberately not re-exported: ``from voice.bridge.timeprefs import parse`` must give the
# module (the dialog layer imports it that way), not the function of the same name.
__all__ = ["TimeConstraint", "TimeWindow"]
