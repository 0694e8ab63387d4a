// stream-fixture.js - the official tablestore SDK as the test peer of otsync's `otsstream`
// reader: it makes a table with a stream, changes it, and writes down what each change must
// come out as, so the reader's output is checked against what was written, not against
// otsync's own codec.
//   node stream-fixture.js create TABLE        a table (k1 STRING, k2 INTEGER) with a stream
//   node stream-fixture.js write TABLE FROM_MS UNTIL_MS DIR SEED
//       from FROM_MS until UNTIL_MS (epoch ms), puts, updates (put cells, delete one version,
//       delete all versions) and deletes of random rows, one at a time; then writes
//       DIR/changes.txt: one line per cell change, as the change-log mode prints it (k1, k2,
//       column, version, value, op: U, DO, DA or DR), and DIR/single.txt: one line per put
//       or update, as single_version_and_update_only prints it with column [s, i, d, b, bin]
//       (null where the change wrote no value). Every put cell carries an explicit version,
//       so the expected lines are known without reading anything back.
// Lines are tab-separated in the stream writer's text forms. Reads OTSYNC_EMU_OTS,
// OTSYNC_EMU_ACCESS_KEY_ID/SECRET, OTSYNC_EMU_INSTANCE.
'use strict';
const fs = require('fs');
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
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
const COLS = ['s', 'i', 'd', 'b', 'bin'];

async function create(table) {
  await call('createTable', {
    tableMeta: {tableName: table,
                primaryKey: [{name: 'k1', type: 'STRING'}, {name: 'k2', type: 'INTEGER'}]},
    reservedThroughput: {capacityUnit: {read: 0, write: 0}},
    tableOptions: {timeToLive: -1, maxVersions: 3},
    streamSpecification: {enableStream: true, expirationTime: 24},
  });
}

// A small deterministic generator (mulberry32), so a seed repeats a run's choices.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// A value for column c and its text as the stream writer prints it.
function value(c, n) {
  switch (c) {
    case 's': { const t = n % 9 === 0 ? 'text, ' + n : 'text ' + n; return [t, t]; }
    case 'i': { const i = n * 7919 % 100003 - 50000; return [Long.fromNumber(i), String(i)]; }
    case 'd': return [n / 8 + 0.125, String(n / 8 + 0.125)];
    case 'b': return [n % 2 === 0, String(n % 2 === 0)];
    default: return [Buffer.from('bin-' + n), 'bin-' + n];
  }
}

async function write(table, from, until, dir, seed) {
  const rand = rng(seed);
  const pick = (n) => Math.floor(rand() * n);
  const changes = [], single = [];
  let version = Date.now() - 3600 * 1000, ops = 0;
  while (Date.now() < from) await sleep(5);
  while (Date.now() < until) {
    const k1 = 'key-' + String.fromCharCode(97 + pick(16)), k2 = pick(4);
    const pk = [{k1}, {k2: Long.fromNumber(k2)}];
    const key = [k1, String(k2)];
    const kind = rand();
    const cols = COLS.filter(() => rand() < 0.5);
    if (!cols.length) cols.push(COLS[pick(COLS.length)]);
    if (kind < 0.35) {
      const attrs = [], vals = {};
      for (const c of cols) {
        const [v, text] = value(c, ++ops);
        version++;
        attrs.push({[c]: v, timestamp: version});
        changes.push([...key, c, String(version), text, 'U'].join('\t'));
        vals[c] = text;
      }
      await call('putRow', {tableName: table, condition: ignore(), primaryKey: pk,
                            attributeColumns: attrs});
      single.push([...key, ...COLS.map((c) => vals[c] || 'null')].join('\t'));
    } else if (kind < 0.85) {
      const puts = [], dels = [], all = [], vals = {};
      for (const c of cols) {
        const how = rand();
        if (how < 0.5) {
          const [v, text] = value(c, ++ops);
          version++;
          puts.push({[c]: v, timestamp: version});
          changes.push([...key, c, String(version), text, 'U'].join('\t'));
          vals[c] = text;
        } else if (how < 0.75) {
          // some version that may or may not exist: the stream records the request
          const at = version - pick(50);
          dels.push({[c]: at});
          changes.push([...key, c, String(at), 'null', 'DO'].join('\t'));
        } else {
          all.push(c);
          changes.push([...key, c, 'null', 'null', 'DA'].join('\t'));
        }
      }
      const upd = [];
      if (puts.length) upd.push({PUT: puts});
      if (dels.length) upd.push({DELETE: dels});
      if (all.length) upd.push({DELETE_ALL: all});
      await call('updateRow', {tableName: table, condition: ignore(), primaryKey: pk,
                               updateOfAttributeColumns: upd});
      single.push([...key, ...COLS.map((c) => vals[c] || 'null')].join('\t'));
    } else {
      await call('deleteRow', {tableName: table, condition: ignore(), primaryKey: pk});
      changes.push([...key, 'null', 'null', 'null', 'DR'].join('\t'));
    }
    await sleep(2);     // leave the readers most of the machine
  }
  fs.writeFileSync(dir + '/changes.txt', changes.map((l) => l + '\n').join(''));
  fs.writeFileSync(dir + '/single.txt', single.map((l) => l + '\n').join(''));
  process.stdout.write(`${changes.length} cell changes, ${single.length} puts and updates\n`);
}

const [cmd, table, a, b, c, d] = process.argv.slice(2);
(cmd === 'create' ? create(table)
  : cmd === 'write' ? write(table, Number(a), Number(b), c, Number(d || 1))
  : Promise.reject(new Error('usage: create TABLE | write TABLE FROM_MS UNTIL_MS DIR [SEED]')))
  .catch((e) => { console.error(e && (e.message || e)); process.exit(1); });
