"""The learned score on the lead page and the settings page (Flask test client, SQLite and PostgreSQL): a
company with 12 closed deals keeps the rule score and both pages say why in the user's language; once a
model is in force, the lead page shows the win probability, the blend and what moved it."""

from __future__ import annotations

import re

from crm.extensions import db
from crm.learning import labels
from crm.services import scoring
from crm.tenancy.context import company_scope
from tests.learning.helpers import decided_and_open, promote_generated_model, write_history
from tests.ui.conftest import UIClient, create_team, signed_in


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def test_twelve_closed_deals_keep_the_rule_score_and_the_pages_say_why(app):
    app.test_client_class = UIClient
    team = create_team(app)
    with app.app_context(), company_scope(1):
        ids = write_history(decided_and_open(12, 2))
        lead_id = ids[-1]
        score = scoring.score_lead(lead_id, actor="test", reason="test")
        db.session.commit()
        # The pages count in SQL what training reads lead by lead: the same numbers.
        assert labels.count_outcomes() == labels.counts(labels.read_outcomes().values())
        assert labels.count_outcomes().closed == 12
    assert score.model_version == scoring.load_rules().version  # the rule score, under the rules' version
    admin = signed_in(app, team.admin)  # German, the team's language
    page = _text(admin.get(f"/leads/{lead_id}"))
    assert "Gelernte Bewertung" in page
    why = "12 abgeschlossene Deals oder verlorene Leads; die gelernte Bewertung braucht mindestens 50."
    assert f"Es gilt die Regelbewertung. {why}" in page
    settings = _text(admin.get("/settings/learned-score"))
    assert why in settings
    assert "Noch kein Trainingslauf." in settings


def test_a_model_in_force_is_explained_on_the_lead_page_and_its_weight_is_set_in_settings(app):
    app.test_client_class = UIClient
    team = create_team(app)
    with app.app_context(), company_scope(1):
        lead_id = write_history(decided_and_open(0, 1))[0]
        model = promote_generated_model()
        score = scoring.score_lead(lead_id, actor="test", reason="test")
        db.session.commit()
        label = model.label
    admin = signed_in(app, team.admin)
    page = _text(admin.get(f"/leads/{lead_id}"))
    rule = score.learned["rule_score"]
    assert f"(Modell {label}), mit der Regelbewertung {rule} bei Gewicht 0,5 gemischt: {score.value}." in page
    assert "Was die Gewinnwahrscheinlichkeit bewegt" in page and ("erhöht" in page or "senkt" in page)
    settings = _text(admin.get("/settings/learned-score"))
    assert label in settings and "Modell in Kraft" in settings

    assert admin.submit("/settings/learned-score/weight", data={"weight": "2"}).status_code == 422
    assert admin.submit("/settings/learned-score/weight", data={"weight": "0"}).status_code == 302
    with app.app_context(), company_scope(1):
        again = scoring.score_lead(lead_id, actor="test", reason="test")
        db.session.commit()
    assert again.learned is None and again.value == score.learned["rule_score"]
    assert "Das Gewicht der gelernten Bewertung ist 0" in _text(admin.get("/settings/learned-score"))
