// ots-fixture.js - the official tablestore SDK as the test peer of otsync's Table Store
// plugins: it makes the source tables and reads back what otsync wrote, so otsync's own
// codec never checks itself.
//   node ots-fixture.js create TABLE ROWS   a table with a 3-column key (INTEGER, STRING,
//                                           BINARY) and ROWS rows of every attribute type,
//                                           some columns missing (null)
//   node ots-fixture.js empty TABLE         the same key, no rows
//   node ots-fixture.js dump TABLE          every row, in key order, as tab-separated text:
//                                           the key, then s, i, d, b, bin (null when missing)
//   node ots-fixture.js versions TABLE      key id INTEGER, 3 versions kept; row 1 gets v at
//                                           ts 1000, 2000, 3000 and w at 1500
//   node ots-fixture.js autoinc TABLE       key p STRING, seq INTEGER AUTO_INCREMENT
//   node ots-fixture.js cells TABLE         every cell version: key values, column, ts, value
// Reads OTSYNC_EMU_OTS, OTSYNC_EMU_ACCESS_KEY_ID/SECRET, OTSYNC_EMU_INSTANCE.
'use strict';
const TableStore = require('tablestore');
const Long = TableStore.Long;

const client = new TableStore.Client({
  accessKeyId: process.env.OTSYNC_EMU_ACCESS_KEY_ID || 'otsync-emu-id',
  secretAccessKey: process.env.OTSYNC_EMU_ACCESS_KEY_SECRET || 'otsync-emu-secret',
  endpoint: process.env.OTSYNC_EMU_OTS,
  instancename: process.env.OTSYNC_EMU_INSTANCE || 'inst',
  maxRetries: 3,
});
const call = (op, p) => new Promise((res, rej) => client[op](p, (e, d) => (e ? rej(e) : res(d))));
const ignore = () => new TableStore.Condition(TableStore.RowExistenceExpectation.IGNORE, null);

async function create(table, rows, fill) {
  await call('createTable', {
    tableMeta: {tableName: table, primaryKey: [{name: 'k1', type: 'INTEGER'}, {name: 'k2', type: 'STRING'}, {name: 'k3', type: 'BINARY'}]},
    reservedThroughput: {capacityUnit: {read: 0, write: 0}}, tableOptions: {timeToLive: -1, maxVersions: 1},
  });
  if (!fill) return;
  for (let at = 0; at < rows; at += 200) {
    const batch = [];
    for (let i = at; i < Math.min(rows, at + 200); i++) {
      const cols = [];
      if (i % 7 !== 3) cols.push({s: 'text ' + i + (i % 5 === 0 ? ', with a comma' : '')});
      if (i % 11 !== 4) cols.push({i: Long.fromNumber((i * 7919) % 100003 - 50000)});
      if (i % 13 !== 5) cols.push({d: i / 8});
      if (i % 3 !== 1) cols.push({b: i % 2 === 0});
      if (i % 17 !== 6) cols.push({bin: Buffer.from('bin-' + i)});
      batch.push({type: 'PUT', condition: ignore(),
                  primaryKey: [{k1: Long.fromNumber(i % 97)}, {k2: 'key-' + (i * 31 % 1000)}, {k3: Buffer.from('b' + i)}],
                  attributeColumns: cols});
    }
    const r = await call('batchWriteRow', {tables: [{tableName: table, rows: batch}]});
    if (!r.tables.every((x) => x.isOk)) throw new Error('a fixture row was refused');
  }
}

function text(v) {
  if (v === undefined || v === null) return 'null';
  if (Buffer.isBuffer(v)) return v.toString('latin1');
  if (typeof v === 'object' && typeof v.toString === 'function') return v.toString();
  return String(v);
}

async function dump(table) {
  let start = [{k1: TableStore.INF_MIN}, {k2: TableStore.INF_MIN}, {k3: TableStore.INF_MIN}];
  const end = [{k1: TableStore.INF_MAX}, {k2: TableStore.INF_MAX}, {k3: TableStore.INF_MAX}];
  const out = [];
  for (;;) {
    const r = await call('getRange', {tableName: table, direction: 'FORWARD', maxVersions: 1,
                                      inclusiveStartPrimaryKey: start, exclusiveEndPrimaryKey: end});
    for (const row of r.rows) {
      const a = {};
      for (const c of row.attributes) a[c.columnName] = c.columnValue;
      out.push([...row.primaryKey.map((p) => text(p.value)), text(a.s), text(a.i), text(a.d), text(a.b), text(a.bin)].join('\t'));
    }
    if (!r.nextStartPrimaryKey) break;
    start = r.nextStartPrimaryKey.map((p) => ({[p.name]: p.value}));
  }
  process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
}

async function versions(table) {
  await call('createTable', {
    tableMeta: {tableName: table, primaryKey: [{name: 'id', type: 'INTEGER'}]},
    reservedThroughput: {capacityUnit: {read: 0, write: 0}}, tableOptions: {timeToLive: -1, maxVersions: 3},
  });
  for (const [col, ts, val] of [['v', 1000, 'a'], ['v', 2000, 'b'], ['v', 3000, 'c'], ['w', 1500, 'x']]) {
    await call('updateRow', {tableName: table, condition: ignore(), primaryKey: [{id: Long.fromNumber(1)}],
                             updateOfAttributeColumns: [{PUT: [{[col]: val, timestamp: Long.fromNumber(ts)}]}]});
  }
}

async function autoinc(table) {
  await call('createTable', {
    tableMeta: {tableName: table, primaryKey: [{name: 'p', type: 'STRING'}, {name: 'seq', type: 'INTEGER', option: 'AUTO_INCREMENT'}]},
    reservedThroughput: {capacityUnit: {read: 0, write: 0}}, tableOptions: {timeToLive: -1, maxVersions: 1},
  });
}

async function cells(table) {
  const r = await call('describeTable', {tableName: table});
  const pk = r.tableMeta.primaryKey.map((p) => p.name);
  let start = pk.map((n) => ({[n]: TableStore.INF_MIN}));
  const end = pk.map((n) => ({[n]: TableStore.INF_MAX}));
  const out = [];
  for (;;) {
    const g = await call('getRange', {tableName: table, direction: 'FORWARD', maxVersions: 10,
                                      inclusiveStartPrimaryKey: start, exclusiveEndPrimaryKey: end});
    for (const row of g.rows) {
      const key = row.primaryKey.map((p) => text(p.value)).join('\t');
      if (!row.attributes.length) out.push(key);
      for (const c of row.attributes) out.push([key, c.columnName, text(c.timestamp), text(c.columnValue)].join('\t'));
    }
    if (!g.nextStartPrimaryKey) break;
    start = g.nextStartPrimaryKey.map((p) => ({[p.name]: p.value}));
  }
  process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
}

const [cmd, table, rows] = process.argv.slice(2);
(cmd === 'create' ? create(table, Number(rows), true)
  : cmd === 'empty' ? create(table, 0, false)
  : cmd === 'dump' ? dump(table)
  : cmd === 'versions' ? versions(table)
  : cmd === 'autoinc' ? autoinc(table)
  : cmd === 'cells' ? cells(table)
  : Promise.reject(new Error('usage: create|empty|dump TABLE [ROWS]')))
  .catch((e) => { console.error(e && (e.message || e)); process.exit(1); });
