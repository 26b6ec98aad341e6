#!/bin/sh
# TAP: the committed man pages (doc/pgsplit.1, doc/pgsplit.ini.5) are what
# scripts/manpages.sh makes from the Markdown now, and groff renders them without
# warnings (-ww).  Skipped without pandoc or groff.
src=${top_srcdir:-.}
if ! command -v pandoc >/dev/null || ! command -v groff >/dev/null; then
    echo "1..0 # SKIP pandoc or groff not installed"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "1..4"
bash "$src/scripts/manpages.sh" "$tmp" >/dev/null 2>&1 || echo "# scripts/manpages.sh failed"
n=0
for page in pgsplit.1 pgsplit.ini.5; do
    n=$((n + 1))
    if cmp -s "$src/doc/$page" "$tmp/$page"; then
        echo "ok $n - doc/$page matches its Markdown"
    else
        echo "not ok $n - doc/$page is stale: run scripts/manpages.sh and commit"
    fi
    n=$((n + 1))
    warnings=$(groff -t -ww -man -Tutf8 -rLL=80n -z "$src/doc/$page" 2>&1)
    if [ -z "$warnings" ]; then
        echo "ok $n - groff -ww renders doc/$page without warnings"
    else
        echo "not ok $n - groff -ww warns on doc/$page"
        printf '%s\n' "$warnings" | sed 's/^/# /'
    fi
done
