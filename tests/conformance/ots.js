// Conformance: the official Table Store Node.js SDK (npm "tablestore") drives otsync-emu.
// Reads OTSYNC_EMU_OTS (http://127.0.0.1:PORT), OTSYNC_EMU_ACCESS_KEY_ID/SECRET. Prints
// "ok N - ..." / "not ok N - ..." and exits 1 when anything failed. Stream operations, which
// this SDK has no calls for, are sent with the SDK's own protobuf definitions and a request
// signed as tablestore.md 1.3 says; their PUT records are decoded by the SDK's PlainBuffer
// reader.
'use strict';
const crypto = require('crypto');
const http = require('http');
const TableStore = require('tablestore');
const Long = TableStore.Long;
const protos = require('tablestore/lib/protocol/tablestore_compiled_proto.js').main.proto;

const endpoint = process.env.OTSYNC_EMU_OTS;
const id = process.env.OTSYNC_EMU_ACCESS_KEY_ID;
const secret = process.env.OTSYNC_EMU_ACCESS_KEY_SECRET;
const instance = 'conformance';
let n = 0, failed = 0;

function ok(cond, what, detail) {
  n++;
  if (cond) console.log(`ok ${n} - ${what}`);
  else { failed++; console.log(`not ok ${n} - ${what}${detail ? ': ' + detail : ''}`); }
}
function client(key) {
  return new TableStore.Client({accessKeyId: id, secretAccessKey: key || secret, endpoint,
                                instancename: instance, maxRetries: 0});
}
// A call that always settles: the SDK may never call back on a broken connection, and an
// unsettled promise would let node exit early as if all were well.
function call(c, op, params) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({err: {code: 0, message: 'no answer in 15 s'}}), 15000);
    c[op](params, (err, data) => { clearTimeout(timer); resolve({err, data}); });
  });
}
let finished = false;
process.on('exit', (code) => {
  if (!finished && code === 0) {
    console.log('not ok - the script ended before its last check');
    process.exitCode = 1;
  }
});
const num = (v) => (v && typeof v.toNumber === 'function') ? v.toNumber() : v;
function attrs(row) {
  const out = {};
  for (const a of (row && row.attributes) || []) {
    (out[a.columnName] = out[a.columnName] || []).push({value: a.columnValue, ts: num(a.timestamp)});
  }
  return out;
}
function admin(path, method) {
  return new Promise((resolve, reject) => {
    const req = http.request(endpoint + '/_emu/ots/' + path, {method: method || 'POST'}, (res) => {
      let body = '';
      res.on('data', (d) => body += d);
      res.on('end', () => resolve({status: res.statusCode, body}));
    });
    req.on('error', reject);
    req.end();
  });
}

// A stream call: the SDK's message types, signed by hand (the SDK has no such call).
function raw(op, type, msg, respType) {
  const body = Buffer.from(protos[type].encode(protos[type].create(msg)).finish());
  const headers = {
    'x-ots-date': new Date().toISOString(),
    'x-ots-apiversion': '2015-12-31',
    'x-ots-accesskeyid': id,
    'x-ots-instancename': instance,
    'x-ots-contentmd5': crypto.createHash('md5').update(body).digest('base64'),
  };
  const canon = Object.keys(headers).sort().map((k) => `${k}:${headers[k]}\n`).join('');
  headers['x-ots-signature'] = crypto.createHmac('sha1', secret)
    .update(`/${op}\nPOST\n\n${canon}`).digest('base64');
  return new Promise((resolve, reject) => {
    const req = http.request(endpoint + '/' + op, {method: 'POST', headers}, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => {
        const buf = Buffer.concat(parts);
        if (res.statusCode !== 200) {
          const e = protos.Error.decode(buf);
          resolve({status: res.statusCode, code: e.code, message: e.message});
        } else {
          resolve({status: 200, data: protos[respType].decode(buf), headers: res.headers});
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function main() {
  const c = client();
  let r;

  r = await admin('instances?name=' + instance);
  ok(r.status === 200, 'admin: the instance is created');

  // --- tables
  const table = 'conf_t1';
  r = await call(c, 'createTable', {
    tableMeta: {tableName: table, primaryKey: [{name: 'gid', type: 'INTEGER'}, {name: 'uid', type: 'STRING'}]},
    reservedThroughput: {capacityUnit: {read: 0, write: 0}},
    tableOptions: {timeToLive: -1, maxVersions: 3},
    streamSpecification: {enableStream: true, expirationTime: 24},
  });
  ok(!r.err, 'CreateTable', r.err && r.err.message);
  r = await call(c, 'createTable', {
    tableMeta: {tableName: table, primaryKey: [{name: 'gid', type: 'INTEGER'}]},
    reservedThroughput: {capacityUnit: {read: 0, write: 0}}, tableOptions: {timeToLive: -1, maxVersions: 1},
  });
  ok(r.err && r.err.code === 409 && /OTSObjectAlreadyExist/.test(r.err.message), 'CreateTable twice: 409 OTSObjectAlreadyExist', r.err && `${r.err.code} ${r.err.message}`);
  r = await call(c, 'listTable', {});
  ok(!r.err && r.data.tableNames.includes(table), 'ListTable names the table', JSON.stringify(r.data));
  r = await call(c, 'describeTable', {tableName: table});
  ok(!r.err && r.data.tableMeta.primaryKey.length === 2 && r.data.tableMeta.primaryKey[1].name === 'uid'
     && r.data.tableOptions.maxVersions === 3 && r.data.streamDetails.enableStream === true
     && r.data.tableStatus === 1, 'DescribeTable: key, options, stream, status',
     r.err ? r.err.message : JSON.stringify(r.data));
  const streamId = r.data && r.data.streamDetails.streamId;
  r = await call(c, 'describeTable', {tableName: 'no_such_table'});
  ok(r.err && r.err.code === 404, 'DescribeTable of a missing table: 404', r.err && r.err.message);

  // --- single rows
  const pk = (g, u) => [{gid: Long.fromNumber(g)}, {uid: u}];
  r = await call(c, 'putRow', {
    tableName: table, condition: new TableStore.Condition(TableStore.RowExistenceExpectation.EXPECT_NOT_EXIST, null),
    primaryKey: pk(1, 'a'),
    attributeColumns: [{s: 'hello'}, {i: Long.fromNumber(42)}, {d: 2.5}, {b: true}, {bin: Buffer.from([0, 255, 16])}],
    returnContent: {returnType: TableStore.ReturnType.Primarykey},
  });
  ok(!r.err, 'PutRow with EXPECT_NOT_EXIST', r.err && r.err.message);
  r = await call(c, 'putRow', {
    tableName: table, condition: new TableStore.Condition(TableStore.RowExistenceExpectation.EXPECT_NOT_EXIST, null),
    primaryKey: pk(1, 'a'), attributeColumns: [{s: 'again'}],
  });
  ok(r.err && r.err.code === 403 && /OTSConditionCheckFail/.test(r.err.message), 'PutRow EXPECT_NOT_EXIST on an existing row: 403 OTSConditionCheckFail', r.err && r.err.message);
  r = await call(c, 'getRow', {tableName: table, primaryKey: pk(1, 'a'), maxVersions: 1});
  let a = attrs(r.data && r.data.row);
  ok(!r.err && a.s[0].value === 'hello' && num(a.i[0].value) === 42 && a.d[0].value === 2.5
     && a.b[0].value === true && Buffer.compare(a.bin[0].value, Buffer.from([0, 255, 16])) === 0,
     'GetRow: string, integer, double, boolean, binary read back', r.err ? r.err.message : JSON.stringify(a));
  ok(r.data && num(r.data.row.primaryKey[0].value) === 1 && r.data.row.primaryKey[1].value === 'a', 'GetRow: the key comes back');
  r = await call(c, 'getRow', {tableName: table, primaryKey: pk(9, 'none'), maxVersions: 1});
  ok(!r.err && (!r.data.row || !r.data.row.primaryKey), 'GetRow of a missing row: no row', r.err && r.err.message);
  r = await call(c, 'getRow', {tableName: table, primaryKey: [{gid: 'x'}, {uid: 'a'}], maxVersions: 1});
  ok(r.err && r.err.code === 400, 'GetRow with a key of the wrong type: 400', r.err && r.err.message);

  // versions
  const t0 = Date.now() - 10000;
  for (let v = 0; v < 4; v++) {
    r = await call(c, 'updateRow', {tableName: table, condition: new TableStore.Condition(TableStore.RowExistenceExpectation.IGNORE, null),
      primaryKey: pk(2, 'v'), updateOfAttributeColumns: [{PUT: [{ver: Long.fromNumber(v), timestamp: Long.fromNumber(t0 + v * 1000)}]}]});
  }
  r = await call(c, 'getRow', {tableName: table, primaryKey: pk(2, 'v'), maxVersions: 10});
  a = attrs(r.data && r.data.row);
  ok(!r.err && a.ver && a.ver.length === 3 && num(a.ver[0].value) === 3 && num(a.ver[2].value) === 1,
     'max_versions 3 keeps the three newest versions, newest first', JSON.stringify(a));
  r = await call(c, 'getRow', {tableName: table, primaryKey: pk(2, 'v'), timeRange: {startTime: t0 + 1500, endTime: t0 + 2500}});
  a = attrs(r.data && r.data.row);
  ok(!r.err && a.ver && a.ver.length === 1 && num(a.ver[0].value) === 2 && a.ver[0].ts === t0 + 2000,
     'time_range selects one version with its timestamp', r.err ? r.err.message : JSON.stringify(a));

  // update: put, delete all versions, increment; conditions
  r = await call(c, 'updateRow', {tableName: table, condition: new TableStore.Condition(TableStore.RowExistenceExpectation.EXPECT_EXIST, null),
    primaryKey: pk(1, 'a'), updateOfAttributeColumns: [{PUT: [{s: 'changed'}]}, {DELETE_ALL: ['d']}, {INCREMENT: [{i: Long.fromNumber(8)}]}]});
  ok(!r.err, 'UpdateRow: put, delete all versions, increment', r.err && r.err.message);
  r = await call(c, 'getRow', {tableName: table, primaryKey: pk(1, 'a'), maxVersions: 1});
  a = attrs(r.data && r.data.row);
  ok(a.s && a.s[0].value === 'changed' && !a.d && num(a.i[0].value) === 50, 'UpdateRow took effect', JSON.stringify(a));
  r = await call(c, 'updateRow', {tableName: table,
    condition: new TableStore.Condition(TableStore.RowExistenceExpectation.EXPECT_EXIST,
      new TableStore.SingleColumnCondition('s', 'changed', TableStore.ComparatorType.EQUAL)),
    primaryKey: pk(1, 'a'), updateOfAttributeColumns: [{PUT: [{cond: 'passed'}]}]});
  ok(!r.err, 'column condition s == "changed" passes', r.err && r.err.message);
  r = await call(c, 'updateRow', {tableName: table,
    condition: new TableStore.Condition(TableStore.RowExistenceExpectation.IGNORE,
      new TableStore.SingleColumnCondition('s', 'other', TableStore.ComparatorType.EQUAL)),
    primaryKey: pk(1, 'a'), updateOfAttributeColumns: [{PUT: [{cond: 'failed'}]}]});
  ok(r.err && r.err.code === 403 && /OTSConditionCheckFail/.test(r.err.message), 'column condition s == "other" fails', r.err && r.err.message);
  const comp = new TableStore.CompositeCondition(TableStore.LogicalOperator.AND);
  comp.addSubCondition(new TableStore.SingleColumnCondition('i', Long.fromNumber(40), TableStore.ComparatorType.GREATER_THAN));
  comp.addSubCondition(new TableStore.SingleColumnCondition('missing', 'x', TableStore.ComparatorType.EQUAL, true));
  r = await call(c, 'updateRow', {tableName: table, condition: new TableStore.Condition(TableStore.RowExistenceExpectation.IGNORE, comp),
    primaryKey: pk(1, 'a'), updateOfAttributeColumns: [{PUT: [{comp: 'ok'}]}]});
  ok(!r.err, 'composite condition: i > 40 AND (missing column, pass if missing)', r.err && r.err.message);
  r = await call(c, 'deleteRow', {tableName: table, condition: new TableStore.Condition(TableStore.RowExistenceExpectation.EXPECT_EXIST, null), primaryKey: pk(2, 'v')});
  ok(!r.err, 'DeleteRow with EXPECT_EXIST', r.err && r.err.message);
  r = await call(c, 'deleteRow', {tableName: table, condition: new TableStore.Condition(TableStore.RowExistenceExpectation.EXPECT_EXIST, null), primaryKey: pk(2, 'v')});
  ok(r.err && r.err.code === 403, 'DeleteRow EXPECT_EXIST of a missing row: 403', r.err && r.err.message);

  // --- batches
  const rows = [];
  for (let g = 100; g < 250; g++) {
    rows.push({type: 'PUT', condition: new TableStore.Condition(TableStore.RowExistenceExpectation.IGNORE, null),
               primaryKey: pk(g, 'u' + (g % 7)), attributeColumns: [{n: Long.fromNumber(g)}, {pad: 'x'.repeat(g % 50)}]});
  }
  r = await call(c, 'batchWriteRow', {tables: [{tableName: table, rows}]});
  ok(!r.err && r.data.tables.length === 150 && r.data.tables.every((x) => x.isOk), 'BatchWriteRow: 150 rows, each ok', r.err ? r.err.message : '');
  const bad = [{type: 'PUT', condition: new TableStore.Condition(TableStore.RowExistenceExpectation.EXPECT_NOT_EXIST, null), primaryKey: pk(100, 'u2'), attributeColumns: [{n: 'dup'}]},
               {type: 'PUT', condition: new TableStore.Condition(TableStore.RowExistenceExpectation.IGNORE, null), primaryKey: pk(999, 'z'), attributeColumns: [{n: 'fine'}]}];
  r = await call(c, 'batchWriteRow', {tables: [{tableName: table, rows: bad}]});
  ok(!r.err && r.data.tables.length === 2 && !r.data.tables[0].isOk && r.data.tables[0].errorCode === 'OTSConditionCheckFail' && r.data.tables[1].isOk,
     'BatchWriteRow: one row fails its condition, the other is written', r.err ? r.err.message : JSON.stringify(r.data && r.data.tables));
  const keys = [];
  for (let g = 100; g < 190; g++) keys.push(pk(g, 'u' + (g % 7)));
  keys.push(pk(12345, 'missing'));
  r = await call(c, 'batchGetRow', {tables: [{tableName: table, primaryKey: keys, maxVersions: 1}]});
  ok(!r.err && r.data.tables[0].length === 91 && r.data.tables[0].slice(0, 90).every((x, k) => x.isOk && num(attrs(x).n[0].value) === 100 + k)
     && r.data.tables[0][90].isOk && !r.data.tables[0][90].primaryKey,
     'BatchGetRow: 90 rows in request order and one missing', r.err ? r.err.message : JSON.stringify(r.data.tables[0].slice(88)));
  const tooMany = [];
  for (let g = 0; g < 201; g++) tooMany.push({type: 'PUT', condition: new TableStore.Condition(TableStore.RowExistenceExpectation.IGNORE, null), primaryKey: pk(g, 'm'), attributeColumns: [{n: 1}]});
  r = await call(c, 'batchWriteRow', {tables: [{tableName: table, rows: tooMany}]});
  ok(r.err && r.err.code === 400, 'BatchWriteRow of 201 rows: 400', r.err && r.err.message);

  // --- ranges
  async function range(dir, start, end, limit, cols) {
    const out = [];
    let next = start, pages = 0;
    for (;;) {
      const p = {tableName: table, direction: dir, maxVersions: 1, inclusiveStartPrimaryKey: next, exclusiveEndPrimaryKey: end};
      if (limit) p.limit = limit;
      if (cols) p.columnsToGet = cols;
      const res = await call(c, 'getRange', p);
      if (res.err) return {err: res.err};
      pages++;
      out.push(...res.data.rows);
      if (!res.data.nextStartPrimaryKey) break;
      next = [{gid: res.data.nextStartPrimaryKey[0].value}, {uid: res.data.nextStartPrimaryKey[1].value}];
    }
    return {rows: out, pages};
  }
  const all = await range('FORWARD', [{gid: TableStore.INF_MIN}, {uid: TableStore.INF_MIN}], [{gid: TableStore.INF_MAX}, {uid: TableStore.INF_MAX}], 40);
  const gids = all.rows ? all.rows.map((x) => num(x.primaryKey[0].value)) : [];
  ok(all.rows && all.rows.length === 152 && all.pages === 4 && gids.every((g, k) => k === 0 || gids[k - 1] <= g),
     'GetRange forward, limit 40: 152 rows in key order over 4 pages', all.err ? all.err.message : `${gids.length} rows, ${all.pages} pages`);
  const back = await range('BACKWARD', [{gid: TableStore.INF_MAX}, {uid: TableStore.INF_MAX}], [{gid: TableStore.INF_MIN}, {uid: TableStore.INF_MIN}], 0);
  const bg = back.rows ? back.rows.map((x) => num(x.primaryKey[0].value)) : [];
  ok(back.rows && bg.length === 152 && bg[0] === 999 && bg.every((g, k) => k === 0 || bg[k - 1] >= g), 'GetRange backward: the same rows, newest key first', back.err ? back.err.message : bg.slice(0, 3).join(','));
  const part = await range('FORWARD', [{gid: Long.fromNumber(120)}, {uid: TableStore.INF_MIN}], [{gid: Long.fromNumber(130)}, {uid: TableStore.INF_MIN}], 0, ['n']);
  ok(part.rows && part.rows.length === 10 && part.rows.every((x) => x.attributes.length === 1 && x.attributes[0].columnName === 'n'),
     'GetRange [120, 130) with columns_to_get [n]: 10 rows, one column each', part.err ? part.err.message : part.rows && part.rows.length);

  // 5,000-row page cap
  const big = 'conf_big';
  r = await call(c, 'createTable', {tableMeta: {tableName: big, primaryKey: [{name: 'k', type: 'INTEGER'}]},
    reservedThroughput: {capacityUnit: {read: 0, write: 0}}, tableOptions: {timeToLive: -1, maxVersions: 1}});
  for (let b = 0; b < 30; b++) {
    const w = [];
    for (let k = 0; k < 200; k++) w.push({type: 'PUT', condition: new TableStore.Condition(TableStore.RowExistenceExpectation.IGNORE, null), primaryKey: [{k: Long.fromNumber(b * 200 + k)}], attributeColumns: [{v: 'x'}]});
    await call(c, 'batchWriteRow', {tables: [{tableName: big, rows: w}]});
  }
  r = await call(c, 'getRange', {tableName: big, direction: 'FORWARD', maxVersions: 1, inclusiveStartPrimaryKey: [{k: TableStore.INF_MIN}], exclusiveEndPrimaryKey: [{k: TableStore.INF_MAX}]});
  ok(!r.err && r.data.rows.length === 5000 && num(r.data.nextStartPrimaryKey[0].value) === 5000,
     'GetRange stops at 5,000 rows and names the next key', r.err ? r.err.message : `${r.data.rows.length} rows`);

  // auto-increment key
  const auto = 'conf_auto';
  r = await call(c, 'createTable', {tableMeta: {tableName: auto, primaryKey: [{name: 'p', type: 'STRING'}, {name: 'seq', type: 'INTEGER', option: 'AUTO_INCREMENT'}]},
    reservedThroughput: {capacityUnit: {read: 0, write: 0}}, tableOptions: {timeToLive: -1, maxVersions: 1}});
  ok(!r.err, 'CreateTable with an auto-increment key column', r.err && r.err.message);
  const seqs = [];
  for (let k = 0; k < 2; k++) {
    r = await call(c, 'putRow', {tableName: auto, condition: new TableStore.Condition(TableStore.RowExistenceExpectation.IGNORE, null),
      primaryKey: [{p: 'x'}, {seq: TableStore.PK_AUTO_INCR}], attributeColumns: [{v: k}], returnContent: {returnType: TableStore.ReturnType.Primarykey}});
    seqs.push(r.data && r.data.row && r.data.row.primaryKey && num(r.data.row.primaryKey[1].value));
  }
  ok(!r.err && seqs[0] > 0 && seqs[1] > seqs[0], 'PutRow with AUTO_INCREMENT returns the assigned, increasing key', r.err ? r.err.message : JSON.stringify(seqs));

  // --- authentication
  r = await call(client(secret + 'x'), 'listTable', {});
  ok(r.err && r.err.code === 403 && /OTSAuthFailed/.test(r.err.message), 'a wrong secret: 403 OTSAuthFailed', r.err && `${r.err.code} ${r.err.message}`);
  const other = new TableStore.Client({accessKeyId: id, secretAccessKey: secret, endpoint, instancename: 'nosuchinstance', maxRetries: 0});
  r = await call(other, 'listTable', {});
  ok(r.err && r.err.code === 403, 'an instance that does not exist: 403', r.err && r.err.message);

  // --- streams (the SDK's messages, signed by hand)
  r = await raw('ListStream', 'ListStreamRequest', {tableName: table}, 'ListStreamResponse');
  ok(r.status === 200 && r.data.streams.length === 1 && r.data.streams[0].streamId === streamId, 'ListStream: the table\'s stream', JSON.stringify(r));
  r = await raw('DescribeStream', 'DescribeStreamRequest', {streamId}, 'DescribeStreamResponse');
  ok(r.status === 200 && r.data.shards.length === 1 && r.data.expirationTime === 24 && r.data.tableName === table, 'DescribeStream: one shard', JSON.stringify(r));
  const shard = r.data.shards[0].shardId;
  r = await raw('GetShardIterator', 'GetShardIteratorRequest', {streamId, shardId: shard}, 'GetShardIteratorResponse');
  ok(r.status === 200 && r.data.shardIterator, 'GetShardIterator', JSON.stringify(r));
  let it = r.data.shardIterator, records = [];
  for (let k = 0; k < 10 && it; k++) {
    r = await raw('GetStreamRecord', 'GetStreamRecordRequest', {shardIterator: it, limit: 100}, 'GetStreamRecordResponse');
    if (r.status !== 200) break;
    records.push(...r.data.streamRecords);
    if (!r.data.streamRecords.length) break;
    it = r.data.nextShardIterator;
  }
  const actions = records.map((x) => x.actionType);
  // 1 put + 4 version updates + 1 update + 2 conditional updates that passed + 1 delete + 150 + 1
  ok(records.length === 160 && actions[0] === 1 && actions.includes(2) && actions.includes(3) && it,
     'GetStreamRecord: every change in order, the shard still open', `${records.length} records`);
  let decoded = false;
  try {
    require('tablestore/lib/protocol/plain_buffer_coded_stream.js');
    // the SDK's reader knows no stream extension (tablestore.md 3.8): cut it out before the
    // row checksum, which does not cover it, and let the SDK read the row itself
    const rec = Buffer.from(records[0].record);
    const ext = rec.length - 2 - 29;
    const plain = rec[ext] === 0x0b ? Buffer.concat([rec.subarray(0, ext), rec.subarray(rec.length - 2)]) : rec;
    const coded = new TableStore.PlainBufferCodedInputStream(new TableStore.PlainBufferInputStream(plain));
    const row = coded.readRow();
    decoded = rec[ext] === 0x0b && row.primaryKey.length === 2
      && row.attributes.some((x) => x.columnName === 's' && x.columnValue === 'hello');
  } catch (e) {
    decoded = 'error: ' + e.message;
  }
  ok(decoded === true, 'a PUT stream record: the sequence extension, and a row the SDK\'s reader decodes', String(decoded));
  r = await admin(`split-shard?instance=${instance}&table=${table}&shard=${shard}`);
  ok(r.status === 200, 'admin: split the shard');
  r = await raw('DescribeStream', 'DescribeStreamRequest', {streamId}, 'DescribeStreamResponse');
  ok(r.status === 200 && r.data.shards.length === 3 && r.data.shards.slice(1).every((s) => s.parentId === shard),
     'DescribeStream after a split: two children naming their parent', JSON.stringify(r.data && r.data.shards));
  r = await raw('GetStreamRecord', 'GetStreamRecordRequest', {shardIterator: it, limit: 100}, 'GetStreamRecordResponse');
  ok(r.status === 200 && r.data.streamRecords.length === 0 && !r.data.nextShardIterator, 'the split parent, read to its end, has no next iterator', JSON.stringify(r));
  const kids = (await raw('DescribeStream', 'DescribeStreamRequest', {streamId}, 'DescribeStreamResponse')).data.shards.slice(1).map((s) => s.shardId);
  r = await admin(`merge-shards?instance=${instance}&table=${table}&a=${kids[0]}&b=${kids[1]}`);
  r = await raw('DescribeStream', 'DescribeStreamRequest', {streamId, shardLimit: 2}, 'DescribeStreamResponse');
  ok(r.status === 200 && r.data.shards.length === 2 && r.data.nextShardId, 'DescribeStream pages by shard_limit', JSON.stringify(r.data));
  r = await raw('DescribeStream', 'DescribeStreamRequest', {streamId, inclusiveStartShardId: r.data.nextShardId}, 'DescribeStreamResponse');
  const merged = r.data.shards[r.data.shards.length - 1];
  ok(merged.parentId === kids[0] && merged.parentSiblingId === kids[1], 'a merged shard names both parents', JSON.stringify(merged));
  const oldIt = `${streamId}|${shard}|0`;
  r = await admin(`trim?instance=${instance}&table=${table}&before_us=${Date.now() * 1000 + 1000000}`);
  r = await raw('GetStreamRecord', 'GetStreamRecordRequest', {shardIterator: oldIt}, 'GetStreamRecordResponse');
  ok(r.status === 400 && r.code === 'OTSTrimmedDataAccess', 'a trimmed position: OTSTrimmedDataAccess', JSON.stringify(r));

  // --- faults on demand
  function fault(rule) {
    return new Promise((resolve, reject) => {
      const req = http.request(endpoint + '/_emu/faults', {method: 'POST'}, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      });
      req.on('error', reject);
      req.end(JSON.stringify(rule));
    });
  }
  ok(await fault({service: 'ots', op: 'PutRow', kind: 'error', count: 1, status: 503, code: 'OTSServerBusy'}) === 200, 'admin: a fault rule is accepted');
  r = await call(c, 'putRow', {tableName: table, condition: new TableStore.Condition(TableStore.RowExistenceExpectation.IGNORE, null), primaryKey: pk(3, 'f'), attributeColumns: [{x: 1}]});
  ok(r.err && r.err.code === 503 && /OTSServerBusy/.test(r.err.message), 'fault: the next PutRow gets 503 OTSServerBusy', r.err && r.err.message);
  r = await call(c, 'putRow', {tableName: table, condition: new TableStore.Condition(TableStore.RowExistenceExpectation.IGNORE, null), primaryKey: pk(3, 'f'), attributeColumns: [{x: 1}]});
  ok(!r.err, 'fault: count 1 is used up, the next PutRow succeeds', r.err && r.err.message);
  await fault({service: 'ots', op: 'ListTable', kind: 'stall', count: 1, stall_ms: 400});
  let t1 = Date.now();
  r = await call(c, 'listTable', {});
  ok(!r.err && Date.now() - t1 >= 380, 'fault: a stall delays the answer', `${Date.now() - t1} ms`);
  // the SDK never calls back when an answer breaks off, so this one is a plain request
  await fault({service: 'ots', op: 'ListTable', kind: 'reset', count: 1});
  const broke = await new Promise((resolve) => {
    const req = http.request(endpoint + '/ListTable', {method: 'POST'}, (res) => {
      res.on('data', () => {});
      res.on('aborted', () => resolve('aborted'));
      res.on('error', () => resolve('error'));
      res.on('end', () => resolve('complete'));
    });
    req.on('error', () => resolve('error'));
    req.end();
  });
  ok(broke === 'aborted' || broke === 'error', 'fault: a reset breaks the answer off', broke);
  await fault({service: 'ots', op: 'BatchWriteRow', kind: 'partial', count: 1});
  const four = [];
  for (let k = 0; k < 4; k++) four.push({type: 'PUT', condition: new TableStore.Condition(TableStore.RowExistenceExpectation.IGNORE, null), primaryKey: pk(500 + k, 'p'), attributeColumns: [{x: k}]});
  r = await call(c, 'batchWriteRow', {tables: [{tableName: table, rows: four}]});
  ok(!r.err && r.data.tables.map((x) => x.isOk).join() === 'true,false,true,false' && r.data.tables[1].errorCode === 'OTSServerBusy',
     'fault: a partial BatchWriteRow refuses every other row, retryably', r.err ? r.err.message : JSON.stringify(r.data.tables.map((x) => x.isOk)));
  r = await call(c, 'getRow', {tableName: table, primaryKey: pk(501, 'p'), maxVersions: 1});
  ok(!r.err && !(r.data.row && r.data.row.primaryKey), 'fault: a refused row was not written');

  // --- update and delete tables
  r = await call(c, 'updateTable', {tableName: table, tableOptions: {maxVersions: 5}});
  ok(!r.err && r.data.tableOptions.maxVersions === 5, 'UpdateTable max_versions', r.err && r.err.message);
  r = await call(c, 'deleteTable', {tableName: big});
  ok(!r.err, 'DeleteTable', r.err && r.err.message);
  r = await call(c, 'listTable', {});
  ok(!r.err && !r.data.tableNames.includes(big), 'ListTable no longer names it');

  finished = true;
  console.log(`${n - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
main().catch((e) => { console.log('not ok - crashed: ' + (e && e.stack)); process.exit(1); });
