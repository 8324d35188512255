#!/usr/bin/env bash
# Restore a dump of deploy/backup.sh into a NEW, empty database (never over the live one:
# restore beside it, check, then point IDP_DATABASE_URL at it). The signing keys in it are
# encrypted with IDP_SECRET_KEY: the restored database needs the same key.
# Usage: deploy/restore.sh DUMP DATABASE_URL   (the database must exist and be empty)
set -euo pipefail
if [ "$#" -ne 2 ]; then
  echo "usage: $0 FILE.dump postgresql://user@host:port/new_database" >&2
  exit 2
fi
dump=$1
url=${2/postgresql+psycopg:/postgresql:}
tables=$(psql --no-psqlrc --tuples-only --no-align --dbname="$url" \
  --command="select count(*) from information_schema.tables where table_schema = 'public'")
if [ "$tables" != "0" ]; then
  echo "$0: the target database is not empty ($tables tables): restore into a new one" >&2
  exit 2
fi
pg_restore --exit-on-error --single-transaction --no-owner --no-privileges --dbname="$url" "$dump"
echo "restored $dump"
