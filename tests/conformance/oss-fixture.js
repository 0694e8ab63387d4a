// oss-fixture.js - the official OSS SDK (ali-oss) as the reader of what otsync's oss writer
// exported, so the objects are checked against the source without otsync's own csv code.
//   node oss-fixture.js keys BUCKET PREFIX
//       the keys under PREFIX, one a line, in key order
//   node oss-fixture.js rows BUCKET PREFIX [NULL [BASE64]]
//       every csv record of every object under PREFIX (RFC 4180: quoted fields, doubled
//       quotes), less each object's first line (the header), as tab-separated text in the
//       fixtures' forms: an unquoted field equal to NULL (default \N) prints as null, and the
//       fields whose 0-based indexes BASE64 lists (such as 2,7) are base64, printed decoded
//       (latin1), as ots-fixture.js and stream-fixture.js print binary values
// Lists with markers (100 keys a page) and gets each object whole. Reads OTSYNC_EMU_OSS,
// OTSYNC_EMU_ACCESS_KEY_ID/SECRET.
'use strict';
const OSS = require('ali-oss');

const print = (lines) => process.stdout.write(lines.map((l) => l + '\n').join(''));

function client(bucket) {
  return new OSS({
    accessKeyId: process.env.OTSYNC_EMU_ACCESS_KEY_ID || 'otsync-emu-id',
    accessKeySecret: process.env.OTSYNC_EMU_ACCESS_KEY_SECRET || 'otsync-emu-secret',
    region: 'oss-cn-hangzhou',
    endpoint: process.env.OTSYNC_EMU_OSS,
    bucket,
    secure: false,
    timeout: 60000,
  });
}

async function keys(oss, prefix) {
  const out = [];
  let marker;
  for (;;) {
    const r = await oss.list({prefix, marker, 'max-keys': 100});
    for (const o of r.objects || []) out.push(o.name);
    if (!r.isTruncated) break;
    marker = r.nextMarker;
  }
  return out;
}

// The records of a csv text: arrays of {text, quoted}.
function parse(text) {
  const records = [];
  let rec = [], field = '', quoted = false, i = 0;
  const end = () => { rec.push({text: field, quoted}); field = ''; quoted = false; };
  while (i < text.length) {
    const c = text[i];
    if (c === '"' && field === '' && !quoted) {
      quoted = true;
      for (i++; ; i++) {
        if (i >= text.length) throw new Error('an unterminated quote');
        if (text[i] === '"') {
          if (text[i + 1] === '"') { field += '"'; i++; } else { i++; break; }
        } else {
          field += text[i];
        }
      }
      continue;
    }
    if (c === ',') { end(); i++; continue; }
    if (c === '\n' || c === '\r') {
      end();
      records.push(rec);
      rec = [];
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
      continue;
    }
    field += c;
    i++;
  }
  if (field !== '' || quoted || rec.length) { end(); records.push(rec); }
  return records;
}

async function rows(oss, prefix, nullText, b64) {
  const out = [];
  for (const key of await keys(oss, prefix)) {
    const r = await oss.get(key);
    const records = parse(r.content.toString('utf8'));
    for (const rec of records.slice(1)) {
      out.push(rec.map((f, n) => {
        if (!f.quoted && f.text === nullText) return 'null';
        return b64.includes(n) ? Buffer.from(f.text, 'base64').toString('latin1') : f.text;
      }).join('\t'));
    }
  }
  print(out);
}

const [cmd, bucket, prefix, nullText, b64] = process.argv.slice(2);
const b64cols = (b64 || '').split(',').filter((s) => s !== '').map(Number);
(cmd === 'keys' ? keys(client(bucket), prefix).then(print)
  : cmd === 'rows' ? rows(client(bucket), prefix, nullText === undefined ? '\\N' : nullText,
                          b64cols)
  : Promise.reject(new Error('usage: keys BUCKET PREFIX | rows BUCKET PREFIX [NULL [BASE64]]')))
  .catch((e) => { console.error(e && (e.message || e)); process.exit(1); });
