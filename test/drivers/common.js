'use strict'
// Shared by the node scenario programs: argument parsing and the JSON report.
// Usage: node <program> PORT SCENARIO TAG
// Prints one JSON line: {"results": [...], "where": [...]}, where `results` must
// equal what a direct connection gives and `where` holds pg_is_in_recovery() of
// every read whose placement the test checks.

function args () {
  const [port, scenario, tag] = process.argv.slice(2)
  if (!port || !scenario || !tag) {
    console.error('usage: node ' + process.argv[1] + ' PORT SCENARIO TAG')
    process.exit(2)
  }
  return { port: Number(port), scenario, tag }
}

const conn = (port) => ({
  host: '127.0.0.1', port, user: 'app', password: 'apppass', database: 'app'
})

const crypto = require('crypto')

// An error as the part of it that a direct connection and a pooled one share.
const err = (e) => ({ error: e.code || String(e.message) })

// The rows the copy scenarios send with COPY ... FROM STDIN: k = TAG-cI, v = I.
function copyRows (tag, n) {
  let s = ''
  for (let i = 0; i < n; i++) s += tag + '-c' + i + '\t' + i + '\n'
  return s
}

// Reads those rows back with the tag masked, so that runs with different tags
// compare equal.  COPY takes no parameters; the tag is hex.
const copyOutSql = (tag) =>
  `COPY (SELECT replace(k, '${tag}', 'T'), v FROM drv WHERE k LIKE '${tag}-c%' ORDER BY v) TO STDOUT`

// The 10 MB value of the bigrow scenarios: the same printable bytes every run.
// A pseudo-random block whose length (a prime) divides no buffer or chunk size,
// repeated: a chunk lost, doubled or moved changes the digest.
const BIG_LENGTH = 10 * 1024 * 1024
const BIG_PERIOD = 65521
function bigValue () {
  const b = Buffer.alloc(BIG_LENGTH)
  let x = 12345
  for (let i = 0; i < BIG_PERIOD; i++) {
    x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff
    b[i] = 97 + (x >> 16) % 26
  }
  for (let i = BIG_PERIOD; i < BIG_LENGTH; i += BIG_PERIOD) b.copy(b, i, 0, Math.min(BIG_PERIOD, BIG_LENGTH - i))
  return b.toString('latin1')
}

const digest = (s) => ({ length: s.length, md5: crypto.createHash('md5').update(s).digest('hex') })

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// How long the cancelled pg_sleep(10) may take: a cancel that did not reach the
// server would leave it the full 10 s.
const CANCEL_WITHIN_MS = 5000

async function main (scenarios) {
  const a = args()
  const fn = scenarios[a.scenario]
  if (!fn) {
    console.error('unknown scenario ' + a.scenario)
    process.exit(2)
  }
  const out = { results: [], where: [] }
  await fn(a, out)
  process.stdout.write(JSON.stringify(out) + '\n')
}

function run (scenarios) {
  main(scenarios).then(() => process.exit(0), (e) => {
    console.error(e && e.stack ? e.stack : e)
    process.exit(1)
  })
}

module.exports = {
  conn, err, run, copyRows, copyOutSql, bigValue, digest, delay, CANCEL_WITHIN_MS
}
