"""German catalogues, one module per UI area (``DE = {english msgid: German}``); see crm.ui.i18n."""
