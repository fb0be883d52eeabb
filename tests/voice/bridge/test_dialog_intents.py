"""What the callee's words mean: the phrases of the brief and the compliance checklist (P5 opt-out, P11
recording objection), in German and English, and a few that must not trigger."""

from __future__ import annotations

import pytest

from voice.bridge.dialog.intents import read

SIGNALS = [
    ("Rufen Sie mich nie wieder an!", "opt_out"),
    ("Bitte keine Anrufe mehr.", "opt_out"),
    ("Rufen Sie mich nicht mehr an.", "opt_out"),
    ("Stop calling me.", "opt_out"),
    ("Take me off your list.", "opt_out"),
    ("Don't call me again.", "opt_out"),
    ("Falsch verbunden.", "wrong_number"),
    ("Da gibt es keinen Herrn Weber.", "wrong_number"),
    ("Wrong number.", "wrong_number"),
    ("Rufen Sie mich später an.", "callback"),
    ("Rufen Sie mich morgen an.", "callback"),
    ("Call me back tomorrow.", "callback"),
    ("Gerade schlecht.", "callback"),
    ("Ich bin im Meeting.", "callback"),
    ("Kein Interesse.", "refusal"),
    ("Not interested.", "refusal"),
    ("Bitte nicht aufnehmen.", "no_recording"),
    ("Don't record this call.", "no_recording"),
    ("Kann ich mit einem Menschen sprechen?", "human"),
    ("Can I talk to a person?", "human"),
    ("Hier ist die Mailbox von Jan Weber.", "voicemail"),
    ("Ja, passt.", "confirm"),
    ("Yes, please.", "confirm"),
    ("Nein, das geht leider nicht.", "decline"),
    ("Den zweiten, bitte.", "second"),
    ("The first one.", "first"),
]


@pytest.mark.parametrize("text,signal", SIGNALS)
def test_signals(text, signal):
    assert getattr(read(text), signal), text


@pytest.mark.parametrize(
    "text,signal",
    [
        ("Rufen Sie mich morgen an.", "opt_out"),
        ("Wait a second, please.", "second"),
        ("Nein, danke.", "confirm"),
        ("Ja, gerne.", "decline"),
        ("Gerne, nächsten Donnerstag.", "callback"),
        ("Kein Interesse.", "confirm"),
        ("Das bin ich.", "wrong_number"),
        ("Die Terminvergabe ist unser Problem.", "appointment"),
    ],
)
def test_no_false_signals(text, signal):
    assert not getattr(read(text), signal), text


def test_confirm_and_decline_keep_the_first_one():
    assert read("Nein, ja, doch nicht.").decline and not read("Nein, ja, doch nicht.").confirm
    assert read("Ja, nein, ich meine ja.").confirm


def test_long_and_strange_input_is_cut_and_read():
    assert len(read("a" * 100000).text) == 1000
    assert read(None).empty and read("?!").empty and not read("Bonjour").empty
