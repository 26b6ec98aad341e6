'use strict'
// node-postgres (npm `pg`) with its defaults, plus `pipeline: true` for the
// pipelined scenario; pg-copy-streams for COPY.  node-postgres has no call that
// describes a statement without running it, so it has no describe scenario.
const { Readable } = require('stream')
const { pipeline } = require('stream/promises')
const { Client, Query } = require('pg')
const copyStreams = require('pg-copy-streams')
const {
  conn, err, run, copyRows, copyOutSql, bigValue, digest, delay, CANCEL_WITHIN_MS
} = require('./common')

async function client (port, extra) {
  const c = new Client(Object.assign(conn(port), extra || {}))
  await c.connect()
  return c
}

const settle = (p) => p.then((r) => ({ rows: r.rows }), err)

const scenarios = {
  // A read, an insert and a read sent without waiting, on one connection.
  async pipeline ({ port, tag }, out) {
    const c = await client(port, { pipeline: true })
    for (let i = 0; i < 5; i++) {
      const k = tag + '-' + i
      const rs = await Promise.all([
        settle(c.query('SELECT count(*)::int AS n FROM drv WHERE k = $1', [k])),
        settle(c.query('INSERT INTO drv(k, v) VALUES ($1, $2)', [k, i]).then(() => ({ rows: 'ok' }))),
        settle(c.query('SELECT count(*)::int AS n FROM drv WHERE k = $1', [k]))
      ])
      out.results.push(rs)
    }
    await c.end()
  },

  // Reads only: where do they run?
  async offload ({ port }, out) {
    const c = await client(port)
    let errors = 0
    for (let i = 0; i < 200; i++) {
      try {
        const r = await c.query('SELECT pg_is_in_recovery() AS r, $1::int AS i', [i])
        out.where.push(r.rows[0].r)
      } catch (e) {
        errors++
      }
    }
    out.results.push({ errors })
    await c.end()
  },

  // BEGIN READ ONLY ... COMMIT.
  async readonly ({ port }, out) {
    const c = await client(port)
    for (let i = 0; i < 20; i++) {
      await c.query('BEGIN READ ONLY')
      const r = await c.query('SELECT pg_is_in_recovery() AS r, $1::int AS i', [i])
      await c.query('COMMIT')
      out.where.push(r.rows[0].r)
      out.results.push(r.rows[0].i)
    }
    await c.end()
  },

  // An error inside a transaction, then the connection goes on.
  async txerror ({ port, tag }, out) {
    const c = await client(port)
    for (let i = 0; i < 3; i++) {
      const k = tag + '-' + i
      await c.query('BEGIN')
      await c.query('INSERT INTO drv(k, v) VALUES ($1, 1)', [k])
      out.results.push(await settle(c.query('SELECT 1 / $1::int AS x', [0])))
      out.results.push(await settle(c.query('SELECT 1 AS x')))
      await c.query('ROLLBACK')
      out.results.push(await settle(c.query('SELECT count(*)::int AS n FROM drv WHERE k = $1', [k])))
      await c.query('INSERT INTO drv(k, v) VALUES ($1, 2)', [k])
      out.results.push(await settle(c.query('SELECT sum(v)::int AS s FROM drv WHERE k = $1', [k])))
    }
    await c.end()
  },

  // More named statements than the pooler keeps per server, each run twice.
  async manynamed ({ port }, out) {
    const c = await client(port)
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 30; i++) {
        out.results.push(await settle(c.query({
          name: 'drv_q' + i, text: 'SELECT $1::int + ' + i + ' AS x', values: [round]
        })))
      }
    }
    await c.end()
  },

  // A prepared read, a column type change, the same text prepared again under
  // a new name on the same and on a new connection.
  async ddl ({ port, tag }, out) {
    const t = 'drv_ddl_' + tag
    const c = await client(port)
    await c.query(`CREATE TABLE ${t} (a int)`)
    await c.query(`INSERT INTO ${t} VALUES (1)`)
    const text = `SELECT a FROM ${t}`
    out.results.push(await settle(c.query({ name: 'drv_ddl1', text })))
    await c.query(`ALTER TABLE ${t} ALTER COLUMN a TYPE text`)
    out.results.push(await settle(c.query({ name: 'drv_ddl1', text })))
    out.results.push(await settle(c.query({ name: 'drv_ddl2', text })))
    const d = await client(port)
    out.results.push(await settle(d.query({ name: 'drv_ddl3', text })))
    out.results.push(await settle(d.query({ text })))
    await d.end()
    await c.query(`DROP TABLE ${t}`)
    await c.end()
  },

  // COPY FROM STDIN, COPY TO STDOUT of what it wrote, then a COPY FROM that
  // fails on its data and the connection goes on.
  async copy ({ port, tag }, out) {
    const c = await client(port)
    const into = c.query(copyStreams.from('COPY drv(k, v) FROM STDIN'))
    await pipeline(Readable.from([copyRows(tag, 100)]), into)
    out.results.push({ copied: into.rowCount })
    const chunks = []
    for await (const chunk of c.query(copyStreams.to(copyOutSql(tag)))) chunks.push(chunk)
    out.results.push(Buffer.concat(chunks).toString())
    const bad = c.query(copyStreams.from('COPY drv(k, v) FROM STDIN'))
    out.results.push(await pipeline(Readable.from([tag + '-c0\tnot a number\n']), bad)
      .then(() => 'ok', err))
    out.results.push(await settle(c.query("SELECT count(*)::int AS n FROM drv WHERE k LIKE $1 || '-c%'", [tag])))
    await c.end()
  },

  // pg_sleep(10) cancelled after 0.3 s by the driver's CancelRequest: pg's one
  // cancel call, Client#cancel(client, query), made on a second, unconnected
  // Client that opens the connection carrying it.
  async cancel ({ port }, out) {
    const c = await client(port)
    const started = Date.now()
    const sleep = c.query(new Query('SELECT pg_sleep(10)'))
    const done = new Promise((resolve) => {
      sleep.on('error', (e) => resolve(err(e)))
      sleep.on('end', () => resolve('not cancelled'))
    })
    await delay(300)
    new Client(conn(port)).cancel(c, sleep)
    out.results.push(await done)
    out.results.push({ fast: Date.now() - started < CANCEL_WITHIN_MS })
    out.results.push(await settle(c.query('SELECT 1 AS x')))
    await c.end()
  },

  // A 10 MB parameter in, the same row read back, and a 10 MB result.
  async bigrow ({ port, tag }, out) {
    const t = 'drv_big_' + tag
    const c = await client(port)
    await c.query(`CREATE TABLE ${t} (v text)`)
    const big = bigValue()
    out.results.push((await c.query(`INSERT INTO ${t} VALUES ($1)`, [big])).rowCount)
    const [row] = (await c.query(`SELECT v, md5(v) AS m FROM ${t}`)).rows
    out.results.push(digest(row.v), row.m, row.v === big)
    const [made] = (await c.query('SELECT repeat($1::text, $2::int) AS v', ['ab', 5 * 1024 * 1024])).rows
    out.results.push(digest(made.v))
    await c.query(`DROP TABLE ${t}`)
    await c.end()
  }
}

run(scenarios)
