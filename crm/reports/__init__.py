"""Manager reports: KPIs (kpis), periods in Europe/Berlin (periods), the PDF (pdf), storage (store),
the report email (mail), the CLI step runner (cli), the definition of every figure (definitions),
money in the company currency through crm.services.money."""
