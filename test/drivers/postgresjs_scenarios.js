'use strict'
// Postgres.js (npm `postgres`) with its defaults (prepared statements on, a
// pool of up to 10 connections).  The pipelined scenario uses max: 1 so that
// its concurrent queries share one connection, as they do on a busy pool.
// The package is an ES module: loaded by import() in run() below.
let postgres
const { Readable } = require('stream')
const { pipeline } = require('stream/promises')
const {
  conn, err, run, copyRows, copyOutSql, bigValue, digest, delay, CANCEL_WITHIN_MS
} = require('./common')

const connect = (port, extra) => postgres(Object.assign(conn(port), extra || {}))
const settle = (p) => p.then((rows) => ({ rows: Array.from(rows) }), err)

const scenarios = {
  async pipeline ({ port, tag }, out) {
    const sql = connect(port, { max: 1 })
    for (let i = 0; i < 5; i++) {
      const k = tag + '-' + i
      out.results.push(await Promise.all([
        settle(sql`SELECT count(*)::int AS n FROM drv WHERE k = ${k}`),
        settle(sql`INSERT INTO drv(k, v) VALUES (${k}, ${i})`),
        settle(sql`SELECT count(*)::int AS n FROM drv WHERE k = ${k}`)
      ]))
    }
    await sql.end()
  },

  async offload ({ port }, out) {
    const sql = connect(port)
    let errors = 0
    // The figure is for a workload with no write for 1 s. In one CI run SHOW ROUTING
    // counted one statement of this connection's start as classifier_unsure: it ran on
    // the primary and counted as a write for read-your-writes, and the next 69 reads
    // stayed on the primary until the replicas passed its floor. Warm up, then wait.
    await sql`SELECT 1 AS warm`
    await new Promise((resolve) => setTimeout(resolve, 1100))
    for (let i = 0; i < 200; i++) {
      try {
        const [r] = await sql`SELECT pg_is_in_recovery() AS r, ${i}::int AS i`
        out.where.push(r.r)
      } catch (e) {
        errors++
      }
    }
    out.results.push({ errors })
    await sql.end()
  },

  async readonly ({ port }, out) {
    const sql = connect(port)
    for (let i = 0; i < 20; i++) {
      const [r] = await sql.begin('read only', (tx) =>
        tx`SELECT pg_is_in_recovery() AS r, ${i}::int AS i`)
      out.where.push(r.r)
      out.results.push(r.i)
    }
    await sql.end()
  },

  async txerror ({ port, tag }, out) {
    const sql = connect(port)
    for (let i = 0; i < 3; i++) {
      const k = tag + '-' + i
      out.results.push(await settle(sql.begin(async (tx) => {
        await tx`INSERT INTO drv(k, v) VALUES (${k}, 1)`
        await tx`SELECT 1 / ${0}::int AS x`
      })))
      out.results.push(await settle(sql`SELECT count(*)::int AS n FROM drv WHERE k = ${k}`))
      await sql`INSERT INTO drv(k, v) VALUES (${k}, 2)`
      out.results.push(await settle(sql`SELECT sum(v)::int AS s FROM drv WHERE k = ${k}`))
    }
    await sql.end()
  },

  // Postgres.js prepares every distinct query text under its own name.
  async manynamed ({ port }, out) {
    const sql = connect(port)
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 30; i++) {
        out.results.push(await settle(sql.unsafe('SELECT $1::int + ' + i + ' AS x', [round])))
      }
    }
    await sql.end()
  },

  async ddl ({ port, tag }, out) {
    const t = 'drv_ddl_' + tag
    const sql = connect(port, { max: 1 })
    await sql.unsafe(`CREATE TABLE ${t} (a int)`)
    await sql.unsafe(`INSERT INTO ${t} VALUES (1)`)
    const text = `SELECT a FROM ${t}`
    out.results.push(await settle(sql.unsafe(text, [])))
    await sql.unsafe(`ALTER TABLE ${t} ALTER COLUMN a TYPE text`)
    out.results.push(await settle(sql.unsafe(text, [])))
    out.results.push(await settle(sql.unsafe(text, [])))
    const other = connect(port, { max: 1 })
    out.results.push(await settle(other.unsafe(text, [])))
    await other.end()
    await sql.unsafe(`DROP TABLE ${t}`)
    await sql.end()
  },

  // COPY FROM STDIN, COPY TO STDOUT of what it wrote, then a COPY FROM that
  // fails on its data and the connection goes on.
  async copy ({ port, tag }, out) {
    const sql = connect(port, { max: 1 })
    const copyIn = (text) => sql`COPY drv(k, v) FROM STDIN`.writable()
      .then((into) => pipeline(Readable.from([text]), into))
    await copyIn(copyRows(tag, 100))
    out.results.push(await settle(sql`SELECT count(*)::int AS n FROM drv WHERE k LIKE ${tag} || '-c%'`))
    const chunks = []
    for await (const chunk of await sql.unsafe(copyOutSql(tag)).readable()) chunks.push(chunk)
    out.results.push(Buffer.concat(chunks).toString())
    out.results.push(await copyIn(tag + '-c0\tnot a number\n').then(() => 'ok', err))
    out.results.push(await settle(sql`SELECT count(*)::int AS n FROM drv WHERE k LIKE ${tag} || '-c%'`))
    await sql.end()
  },

  // pg_sleep(10) cancelled after 0.3 s by query.cancel(), then the same
  // connection (max: 1) runs a query.
  async cancel ({ port }, out) {
    const sql = connect(port, { max: 1 })
    const started = Date.now()
    const sleep = sql`SELECT pg_sleep(10)`
    const done = settle(sleep)
    await delay(300)
    await sleep.cancel()
    out.results.push(await done)
    out.results.push({ fast: Date.now() - started < CANCEL_WITHIN_MS })
    out.results.push(await settle(sql`SELECT 1 AS x`))
    await sql.end()
  },

  // A 10 MB parameter in, the same row read back, and a 10 MB result.
  async bigrow ({ port, tag }, out) {
    const t = 'drv_big_' + tag
    const sql = connect(port, { max: 1 })
    await sql.unsafe(`CREATE TABLE ${t} (v text)`)
    const big = bigValue()
    out.results.push((await sql.unsafe(`INSERT INTO ${t} VALUES ($1)`, [big])).count)
    const [row] = await sql.unsafe(`SELECT v, md5(v) AS m FROM ${t}`)
    out.results.push(digest(row.v), row.m, row.v === big)
    const [made] = await sql`SELECT repeat(${'ab'}::text, ${5 * 1024 * 1024}::int) AS v`
    out.results.push(digest(made.v))
    await sql.unsafe(`DROP TABLE ${t}`)
    await sql.end()
  },

  // What .describe() reports (Parse / Describe / Sync, nothing executed), then
  // the same text run.
  async describe ({ port, tag }, out) {
    const sql = connect(port)
    const query = () => sql`SELECT count(*)::int AS n, ${1}::int + 1 AS v FROM drv WHERE k = ${tag}`
    const d = await query().describe()
    out.results.push({
      params: Array.from(d.types),
      columns: d.columns.map((c) => [c.name, c.type])
    })
    out.results.push(await settle(query()))
    await sql.end()
  }
}

import('postgres').then((m) => {
  postgres = m.default
  run(scenarios)
})
