"""The texts of crm.reports.definitions, one module per group of sections (a table of prose is long)."""
