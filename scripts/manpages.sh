#!/usr/bin/env bash
# Build the man pages from the Markdown in doc/ with pandoc:
#   pgsplit(1)      from doc/pgsplit.1.md
#   pgsplit.ini(5)  from doc/config.md (every setting), under a NAME/SYNOPSIS header
# Usage: scripts/manpages.sh [OUTDIR]   (default doc/, where the generated pages are
# committed so building needs no pandoc; test/unit/test_manpages.sh checks they match).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-doc}
mkdir -p "$out"
command -v pandoc >/dev/null || { echo "pandoc not found (apt-get install pandoc)" >&2; exit 1; }

# The pages carry no date, so the output depends only on the Markdown.
pandoc -s -f markdown -t man --lua-filter=scripts/man-tables.lua doc/pgsplit.1.md -o "$out/pgsplit.1"

# config.md's title line becomes the man header; its level-2 sections become .SH and
# the settings (level 3) .SS.
{
    printf '%% PGSPLIT.INI(5) pgsplit | pgsplit manual\n\n'
    printf '## NAME\n\npgsplit.ini - configuration file of the pgsplit connection pooler\n\n'
    printf '## SYNOPSIS\n\n/etc/pgsplit/pgsplit.ini\n\n'
    printf '## DESCRIPTION\n\n'
    sed '1{/^# /d}' doc/config.md
    printf '\n## SEE ALSO\n\npgsplit(1), pgbouncer(5)\n'
} | pandoc -s -f markdown -t man --lua-filter=scripts/man-tables.lua --shift-heading-level-by=-1 -o "$out/pgsplit.ini.5"
