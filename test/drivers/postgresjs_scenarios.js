'use strict'
// Postgres.js (npm `postgres`) with its defaults (prepared statements on, a
// pool of up to 10 connections).  The pipelined scenario uses max: 1 so that
// its concurrent queries share one connection, as they do on a busy pool.
// The package is an ES module: loaded by import() in run() below.
let postgres
const { conn, err, run } = require('./common')

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
  }
}

import('postgres').then((m) => {
  postgres = m.default
  run(scenarios)
})
