#!/usr/bin/env bash
# Back up CPRO Connect's PostgreSQL database: one compressed custom-format dump, written
# under a temporary name and renamed, so that a dump cut short is never taken for a
# backup. Usage: deploy/backup.sh DATABASE_URL DIRECTORY  (prints the dump's path)
# DATABASE_URL is libpq's (postgresql://user@host/db), not SQLAlchemy's +psycopg form.
set -euo pipefail
if [ "$#" -ne 2 ]; then
  echo "usage: $0 postgresql://user@host:port/database DIRECTORY" >&2
  exit 2
fi
url=${1/postgresql+psycopg:/postgresql:}
directory=$2
mkdir -p "$directory"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
target="$directory/cpro-connect-$stamp.dump"
pg_dump --format=custom --no-owner --no-privileges --file="$target.partial" "$url"
mv "$target.partial" "$target"
echo "$target"
