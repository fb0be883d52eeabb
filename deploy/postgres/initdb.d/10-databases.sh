#!/bin/bash
# Runs once, on the first start of the postgres container (empty data volume), as the superuser.
# Creates one role per application with its own password and the databases each owns:
#   leadchain -> leadchain
#   temporal  -> temporal, temporal_visibility   (schemas: the temporal-schema job, temporal-sql-tool)
# Passwords come from the container environment (see docker-compose.yml) and are read with psql's
# \getenv, so they never appear on a command line or in this file.
set -euo pipefail

: "${LEADCHAIN_DB_PASSWORD:?LEADCHAIN_DB_PASSWORD must be set}"
: "${TEMPORAL_DB_PASSWORD:?TEMPORAL_DB_PASSWORD must be set}"

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres <<'EOSQL'
\getenv leadchain_password LEADCHAIN_DB_PASSWORD
\getenv temporal_password TEMPORAL_DB_PASSWORD

CREATE ROLE leadchain LOGIN PASSWORD :'leadchain_password';
CREATE ROLE temporal LOGIN PASSWORD :'temporal_password';

CREATE DATABASE leadchain OWNER leadchain ENCODING 'UTF8';
CREATE DATABASE temporal OWNER temporal ENCODING 'UTF8';
CREATE DATABASE temporal_visibility OWNER temporal ENCODING 'UTF8';

-- Each role reaches only its own databases.
REVOKE ALL ON DATABASE leadchain FROM PUBLIC;
REVOKE ALL ON DATABASE temporal FROM PUBLIC;
REVOKE ALL ON DATABASE temporal_visibility FROM PUBLIC;

-- Temporal's SQL visibility schema uses GIN indexes over scalar columns.
\connect temporal_visibility
CREATE EXTENSION IF NOT EXISTS btree_gin;
EOSQL
