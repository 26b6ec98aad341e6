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

// An error as the part of it that a direct connection and a pooled one share.
const err = (e) => ({ error: e.code || String(e.message) })

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

module.exports = { conn, err, run }
