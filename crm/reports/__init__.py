"""Manager reports: KPIs (kpis), periods in Europe/Berlin (periods), the PDF (pdf), storage (store),
the report email (mail) and the CLI step runner (cli). Definitions of every figure: docs/kpis.md."""
