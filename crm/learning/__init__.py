"""The learned lead score (issue 23, docs/scoring.md): per company, a regularised logistic regression trained
on the company's closed outcomes, blended into the rule score (crm.services.scoring).

* signals: what the CRM knows about a lead, read in bulk (training) or for one lead (scoring);
* labels: which leads are won or lost, and when that was decided;
* features, model: a lead's signals as named numbers, and the stored model's pure-python prediction;
* training, metrics: fit, time-based hold-out, AUC / Brier / calibration (scikit-learn; never on the hot path);
* store, blend, status: the models table, the blend score_lead applies, why no model is in force;
* history_generator, history_writer: realistic generated history with planted effects (tests, bench).
"""
