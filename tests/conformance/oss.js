'use strict';
/*
 * oss.js - otsync-emu's OSS against the official Node.js SDK, ali-oss, as the test peer: every
 * operation the emulator offers, driven through ali-oss, with what comes back checked (bodies,
 * headers, error codes). Starts nothing: run-oss.sh starts the emulator and sets
 *   OTSYNC_EMU_OSS                 http://127.0.0.1:PORT
 *   OTSYNC_EMU_ACCESS_KEY_ID       the accepted key id
 *   OTSYNC_EMU_ACCESS_KEY_SECRET   its secret
 *   OTSYNC_EMU_STS_TOKEN           (optional) the STS token the emulator requires
 *   OTSYNC_CONF_MANIFEST           (optional) where the first pass describes the bucket it
 *                                  leaves behind, which `oss.js --after-restart` then checks
 *                                  against an emulator restarted on the same --data
 * Prints "ok N - what" / "not ok N - what" lines and a plan; exits 1 on any failure.
 *
 * Addressing: ali-oss pointed at an IP endpoint sends the path /key and forces the Host header
 * to <bucket>.oss-<region>.aliyuncs.com (virtual-hosted style). For path style (sldEnable) and
 * CNAME (cname: true) the endpoint must be a host name, so those clients use made-up names and
 * an http.Agent whose lookup sends every name to 127.0.0.1.
 */
const fs = require('fs');
const http = require('http');
const crypto = require('crypto');
const { Readable } = require('stream');
const OSS = require('ali-oss');

const base = process.env.OTSYNC_EMU_OSS;
if (!base) {
    console.error('oss.js: set OTSYNC_EMU_OSS to the emulator\'s OSS endpoint (http://127.0.0.1:PORT)');
    process.exit(2);
}
const keyId = process.env.OTSYNC_EMU_ACCESS_KEY_ID || 'otsync-emu-id';
const secret = process.env.OTSYNC_EMU_ACCESS_KEY_SECRET || 'otsync-emu-secret';
const stsToken = process.env.OTSYNC_EMU_STS_TOKEN || undefined;
const port = Number(new URL(base).port);
const suffix = `${Date.now().toString(36)}${process.pid.toString(36)}`;
const BUCKET = `conf-${suffix}`;

/* --- the harness --- */

let count = 0;
let failed = 0;

async function check(what, fn) {
    count++;
    try {
        await fn();
        console.log(`ok ${count} - ${what}`);
    } catch (e) {
        failed++;
        console.log(`not ok ${count} - ${what}`);
        console.log(String(e && e.stack ? e.stack : e).split('\n').map(l => `  # ${l}`).join('\n'));
    }
}

function eq(actual, expected, what) {
    if (actual !== expected) {
        throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
    }
}

function ok(cond, what) {
    if (!cond) throw new Error(what);
}

/* Awaits p, which must fail with that error code (and status, when given); returns the error. */
async function fails(p, code, status) {
    let res;
    try {
        res = await p;
    } catch (e) {
        eq(e.code, code, `error code (message: ${e.message})`);
        if (status !== undefined) eq(e.status, status, 'HTTP status');
        return e;
    }
    throw new Error(`expected ${code}, got success (status ${res && res.res && res.res.status})`);
}

/* CRC-64/XZ as OSS's x-oss-hash-crc64ecma, on two 32-bit halves, as a decimal string. */
const CRC_TABLE = (() => {
    const hi = new Uint32Array(256);
    const lo = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
        let h = 0;
        let l = i;
        for (let k = 0; k < 8; k++) {
            const odd = l & 1;
            l = ((l >>> 1) | ((h & 1) << 31)) >>> 0;
            h >>>= 1;
            if (odd) {
                h = (h ^ 0xC96C5795) >>> 0;
                l = (l ^ 0xD7870F42) >>> 0;
            }
        }
        hi[i] = h;
        lo[i] = l;
    }
    return { hi, lo };
})();

function crc64(buf) {
    let h = 0xFFFFFFFF;
    let l = 0xFFFFFFFF;
    for (let i = 0; i < buf.length; i++) {
        const idx = (l ^ buf[i]) & 0xFF;
        l = ((((l >>> 8) | ((h & 0xFF) << 24)) >>> 0) ^ CRC_TABLE.lo[idx]) >>> 0;
        h = ((h >>> 8) ^ CRC_TABLE.hi[idx]) >>> 0;
    }
    return ((BigInt((h ^ 0xFFFFFFFF) >>> 0) << 32n) | BigInt((l ^ 0xFFFFFFFF) >>> 0)).toString();
}

function md5Etag(buf) {
    return `"${crypto.createHash('md5').update(buf).digest('hex').toUpperCase()}"`;
}

/* Every name resolves to the emulator, so path-style and CNAME clients can use host names. */
function toLoopback(host, opts, cb) {
    if (typeof opts === 'function') {
        cb = opts;
        opts = {};
    }
    if (opts && opts.all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
    else cb(null, '127.0.0.1', 4);
}
const agent = new http.Agent({ keepAlive: true, lookup: toLoopback });

/* The last raw response any client saw: ali-oss's errors drop the headers. */
let last = null;

function client(opts) {
    const c = new OSS(Object.assign({
        accessKeyId: keyId,
        accessKeySecret: secret,
        stsToken,
        /* with a token and no refresh settings ali-oss prints advice into the TAP stream */
        refreshSTSTokenInterval: stsToken ? 3600 * 1000 : undefined,
        region: 'oss-cn-hangzhou',
        endpoint: base,
        bucket: BUCKET,
        secure: false,
        agent,
        timeout: 60000,
    }, opts));
    const real = c.urllib;
    c.urllib = {
        async request(url, params) {
            last = await real.request(url, params);
            return last;
        },
    };
    return c;
}

/* A plain HTTP request to 127.0.0.1:port: the admin API and presigned URLs. */
function raw(method, path, { headers = {}, body } = {}) {
    return new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, method, path, headers }, res => {
            const chunks = [];
            res.on('data', d => chunks.push(d));
            res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
                                          body: Buffer.concat(chunks) }));
        });
        req.on('error', reject);
        if (body) req.write(body);
        req.end();
    });
}

async function admin(method, path, body) {
    const r = await raw(method, `/_emu/${path}`, { body: body ? JSON.stringify(body) : undefined });
    return { status: r.status, json: r.headers['content-type'] === 'application/json'
        ? JSON.parse(r.body.toString()) : null, body: r.body };
}

function xmlField(xml, name) {
    const m = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml);
    return m ? m[1] : null;
}

function randomBytes(n) {
    return crypto.randomBytes(n);
}

/* --- the checks --- */

async function buckets(oss) {
    await check('PutBucket creates a bucket (virtual-hosted Host)', async () => {
        const r = await oss.putBucket(BUCKET);
        eq(r.res.status, 200, 'status');
        ok(/^[0-9A-F]{24}$/.test(last.headers['x-oss-request-id']), 'x-oss-request-id');
    });
    await check('PutBucket on an existing bucket: 409 BucketAlreadyExists', async () => {
        await fails(oss.putBucket(BUCKET), 'BucketAlreadyExists', 409);
    });
    await check('GetBucket (list) of a missing bucket: 404 NoSuchBucket', async () => {
        const other = client({ bucket: `none-${suffix}` });
        await fails(other.list(), 'NoSuchBucket', 404);
        await fails(other.put('k', Buffer.from('x')), 'NoSuchBucket', 404);
        await fails(other.get('k'), 'NoSuchBucket', 404);
    });
    await check('HeadObject in a missing bucket: 404 with NoSuchBucket in x-oss-err', async () => {
        const other = client({ bucket: `none-${suffix}` });
        await fails(other.head('k'), 'NoSuchKey', 404);     /* ali-oss names every HEAD 404 so */
        const xml = Buffer.from(last.headers['x-oss-err'], 'base64').toString();
        eq(xmlField(xml, 'Code'), 'NoSuchBucket', 'x-oss-err Code');
        eq(last.data.length, 0, 'HEAD body length');
    });
}

async function objects(oss) {
    const hello = Buffer.from('Hello OSS');
    await check('PutObject: 200, ETag is the upper-case MD5, x-oss-hash-crc64ecma, Content-MD5', async () => {
        const r = await oss.put('hello.txt', hello, { meta: { color: 'blue' },
                                                     headers: { 'Cache-Control': 'no-cache' } });
        eq(r.res.status, 200, 'status');
        eq(r.res.headers.etag, md5Etag(hello), 'ETag');
        eq(r.res.headers['x-oss-hash-crc64ecma'], crc64(hello), 'crc64');
        eq(r.res.headers['content-md5'], '8PGMLGauHdUSvc1DZvdtow==', 'Content-MD5');
        ok(r.res.headers['x-oss-request-id'], 'x-oss-request-id');
    });
    await check('CRC-64 helper matches the catalogue check value', async () => {
        eq(crc64(Buffer.from('123456789')), '11051210869376104954', 'check value');
    });
    await check('GetObject: content, Content-Type, meta, kept headers, type, CRC', async () => {
        const r = await oss.get('hello.txt');
        eq(r.res.status, 200, 'status');
        eq(r.content.toString(), 'Hello OSS', 'content');
        const h = r.res.headers;
        eq(h['content-type'], 'text/plain', 'Content-Type (as ali-oss sent it)');
        eq(h['x-oss-meta-color'], 'blue', 'x-oss-meta-color');
        eq(h['cache-control'], 'no-cache', 'Cache-Control');
        eq(h['x-oss-object-type'], 'Normal', 'x-oss-object-type');
        eq(h['x-oss-hash-crc64ecma'], crc64(hello), 'crc64');
        eq(h.etag, md5Etag(hello), 'ETag');
        ok(!Number.isNaN(Date.parse(h['last-modified'])), 'Last-Modified parses');
        ok(h['x-oss-request-id'], 'x-oss-request-id');
    });
    await check('HeadObject: Content-Length, meta, ETag, no body', async () => {
        const r = await oss.head('hello.txt');
        eq(r.status, 200, 'status');
        eq(r.res.headers['content-length'], '9', 'Content-Length');
        eq(r.meta.color, 'blue', 'meta');
        eq(r.res.headers.etag, md5Etag(hello), 'ETag');
        eq(r.res.headers['x-oss-object-type'], 'Normal', 'type');
        eq(r.res.headers['x-oss-hash-crc64ecma'], crc64(hello), 'crc64');
    });
    await check('GetObjectMeta (HEAD ?objectMeta)', async () => {
        const r = await oss.getObjectMeta('hello.txt');
        eq(r.status, 200, 'status');
        eq(r.res.headers.etag, md5Etag(hello), 'ETag');
    });
    await check('response-content-type overrides Content-Type on GET', async () => {
        const r = await oss.get('hello.txt', { subres: { 'response-content-type': 'text/csv' } });
        eq(r.res.headers['content-type'], 'text/csv', 'Content-Type');
    });
    await check('Range bytes=0-4: 206 with Content-Range', async () => {
        const r = await oss.get('hello.txt', { headers: { Range: 'bytes=0-4' } });
        eq(r.res.status, 206, 'status');
        eq(r.content.toString(), 'Hello', 'content');
        eq(r.res.headers['content-range'], 'bytes 0-4/9', 'Content-Range');
        eq(r.res.headers['x-oss-hash-crc64ecma'], crc64(hello), 'whole-object crc64');
    });
    await check('Range bytes=-3: the last three bytes', async () => {
        const r = await oss.get('hello.txt', { headers: { Range: 'bytes=-3' } });
        eq(r.res.status, 206, 'status');
        eq(r.content.toString(), 'OSS', 'content');
    });
    await check('Range past the end, default behaviour: 200 with the whole object', async () => {
        for (const range of ['bytes=5-100', 'bytes=9-20', 'bytes=-20', 'byte=0-4']) {
            const r = await oss.get('hello.txt', { headers: { Range: range } });
            eq(r.res.status, 200, `status for ${range}`);
            eq(r.content.toString(), 'Hello OSS', `content for ${range}`);
        }
    });
    await check('x-oss-range-behavior: standard clips the end: 206', async () => {
        const r = await oss.get('hello.txt', { headers: { Range: 'bytes=5-100',
                                                          'x-oss-range-behavior': 'standard' } });
        eq(r.res.status, 206, 'status');
        eq(r.content.toString(), ' OSS', 'content');
        eq(r.res.headers['content-range'], 'bytes 5-8/9', 'Content-Range');
    });
    await check('x-oss-range-behavior: standard, start past the end: 416 InvalidRange', async () => {
        await fails(oss.get('hello.txt', { headers: { Range: 'bytes=9-20',
                                                     'x-oss-range-behavior': 'standard' } }),
                    'InvalidRange', 416);
    });
    await check('If-None-Match with the ETag: 304; If-Match another: 412', async () => {
        const r = await oss.get('hello.txt', { headers: { 'If-None-Match': md5Etag(hello) } });
        eq(r.res.status, 304, 'status');
        await fails(oss.get('hello.txt', { headers: { 'If-Match': '"0000"' } }),
                    'PreconditionFailed', 412);
    });
    await check('GetObject of a missing key: 404 NoSuchKey', async () => {
        await fails(oss.get('no/such/key'), 'NoSuchKey', 404);
        ok(last.headers['x-oss-request-id'], 'x-oss-request-id on errors');
        eq(last.headers['content-type'], 'application/xml', 'error Content-Type');
    });
    await check('HeadObject of a missing key: 404, empty body, error XML in x-oss-err', async () => {
        await fails(oss.head('no/such/key'), 'NoSuchKey', 404);
        eq(last.data.length, 0, 'no body');
        const xml = Buffer.from(last.headers['x-oss-err'], 'base64').toString();
        eq(xmlField(xml, 'Code'), 'NoSuchKey', 'Code');
        eq(xmlField(xml, 'RequestId'), last.headers['x-oss-request-id'], 'RequestId');
    });
    await check('PutObject with a wrong Content-MD5: 400 InvalidDigest', async () => {
        await fails(oss.put('md5.txt', hello, { headers: { 'Content-MD5': '1B2M2Y8AsgTpgAmY7PhCfg==' } }),
                    'InvalidDigest', 400);
        await fails(oss.get('md5.txt'), 'NoSuchKey', 404);
    });
    await check('PutObject with a right Content-MD5 given by the caller', async () => {
        const r = await oss.put('md5.txt', hello, { headers: { 'Content-MD5': '8PGMLGauHdUSvc1DZvdtow==' } });
        eq(r.res.status, 200, 'status');
    });
    await check('x-oss-forbid-overwrite: true on an existing key: 409 FileAlreadyExists', async () => {
        await fails(oss.put('hello.txt', Buffer.from('other'), { headers: { 'x-oss-forbid-overwrite': 'true' } }),
                    'FileAlreadyExists', 409);
        const r = await oss.get('hello.txt');
        eq(r.content.toString(), 'Hello OSS', 'unchanged');
        const n = await oss.put('fresh.txt', hello, { headers: { 'x-oss-forbid-overwrite': 'true' } });
        eq(n.res.status, 200, 'a new key is fine');
        const o = await oss.put('fresh.txt', hello, { headers: { 'x-oss-forbid-overwrite': 'false' } });
        eq(o.res.status, 200, 'false overwrites');
    });
    await check('Content-Type absent: stored as application/octet-stream', async () => {
        await oss.put('noextension', Buffer.from('x'));
        const r = await oss.head('noextension');
        eq(r.res.headers['content-type'], 'application/octet-stream', 'Content-Type');
    });
    await check('UTF-8 key with a space and a plus round-trips', async () => {
        const key = 'dir/数据 file+1.txt';
        await oss.put(key, Buffer.from('utf8'));
        eq((await oss.get(key)).content.toString(), 'utf8', 'content');
        const l = await oss.list({ prefix: 'dir/' });
        eq(l.objects.map(o => o.name).join(','), key, 'listed key');
    });
    await check('Key with %, ?, & and = round-trips', async () => {
        const key = 'odd/100%?a&b=c #x.bin';
        await oss.put(key, Buffer.from('odd'));
        eq((await oss.get(key)).content.toString(), 'odd', 'content');
    });
    await check('Chunked upload (putStream without a length)', async () => {
        const body = randomBytes(300000);
        const r = await oss.putStream('chunked.bin', Readable.from([body.subarray(0, 100000),
                                                                     body.subarray(100000)]));
        eq(r.res.status, 200, 'status');
        const g = await oss.get('chunked.bin');
        ok(g.content.equals(body), 'content');
        eq(g.res.headers['x-oss-hash-crc64ecma'], crc64(body), 'crc64');
    });
    await check('8 MiB PutObject and GetObject', async () => {
        const body = randomBytes(8 << 20);
        const r = await oss.put('big/8m.bin', body);
        eq(r.res.headers.etag, md5Etag(body), 'ETag');
        const g = await oss.get('big/8m.bin');
        ok(g.content.equals(body), 'content');
        eq(g.res.headers['content-length'], String(8 << 20), 'Content-Length');
    });
    await check('DeleteObject: 204, then NoSuchKey; deleting a missing key: 204', async () => {
        await oss.put('gone.txt', hello);
        const r = await oss.delete('gone.txt');
        eq(r.res.status, 204, 'status');
        await fails(oss.get('gone.txt'), 'NoSuchKey', 404);
        eq((await oss.delete('gone.txt')).res.status, 204, 'missing key');
    });
}

async function append(oss) {
    await check('AppendObject at 0 creates an Appendable object', async () => {
        const r = await oss.append('app.log', Buffer.from('abc'), { position: 0 });
        eq(r.res.status, 200, 'status');
        eq(r.nextAppendPosition, '3', 'x-oss-next-append-position');
        eq(r.res.headers['x-oss-hash-crc64ecma'], crc64(Buffer.from('abc')), 'crc64');
    });
    await check('AppendObject at the length: the CRC covers the whole object', async () => {
        const r = await oss.append('app.log', Buffer.from('defg'), { position: 3 });
        eq(r.nextAppendPosition, '7', 'next position');
        eq(r.res.headers['x-oss-hash-crc64ecma'], crc64(Buffer.from('abcdefg')), 'crc64');
        const h = await oss.head('app.log');
        eq(h.res.headers['x-oss-object-type'], 'Appendable', 'type');
        eq(h.res.headers['x-oss-next-append-position'], '7', 'HEAD next position');
        eq((await oss.get('app.log')).content.toString(), 'abcdefg', 'content');
    });
    await check('AppendObject at a wrong position: 409 PositionNotEqualToLength + real length', async () => {
        await fails(oss.append('app.log', Buffer.from('zz'), { position: 2 }),
                    'PositionNotEqualToLength', 409);
        eq(last.headers['x-oss-next-append-position'], '7', 'x-oss-next-append-position');
        eq((await oss.get('app.log')).content.toString(), 'abcdefg', 'nothing appended');
    });
    await check('AppendObject creating at position 5: PositionNotEqualToLength, next 0', async () => {
        await fails(oss.append('app2.log', Buffer.from('zz'), { position: 5 }),
                    'PositionNotEqualToLength', 409);
        eq(last.headers['x-oss-next-append-position'], '0', 'x-oss-next-append-position');
    });
    await check('AppendObject to a Normal object: 409 ObjectNotAppendable', async () => {
        await fails(oss.append('hello.txt', Buffer.from('zz'), { position: 9 }),
                    'ObjectNotAppendable', 409);
    });
    await check('PutObject over an Appendable object makes it Normal', async () => {
        await oss.put('app3.log', Buffer.from('n'));
        await oss.append('app.log', Buffer.from('h'), { position: 7 });
        await oss.put('app.log', Buffer.from('normal'));
        eq((await oss.head('app.log')).res.headers['x-oss-object-type'], 'Normal', 'type');
        await fails(oss.append('app.log', Buffer.from('x'), { position: 6 }),
                    'ObjectNotAppendable', 409);
    });
}

async function multipart(oss) {
    const p1 = randomBytes(150 * 1024);
    const p2 = randomBytes(120 * 1024);
    const p3 = randomBytes(10 * 1024);
    const whole = Buffer.concat([p1, p2, p3]);
    let id;
    const parts = [];
    await check('InitiateMultipartUpload returns an upload id', async () => {
        const r = await oss.initMultipartUpload('mp/big.bin', { mime: 'application/x-test',
                                                                meta: { m: '1' } });
        eq(r.res.status, 200, 'status');
        ok(r.uploadId && r.uploadId.length >= 16, 'uploadId');
        id = r.uploadId;
    });
    await check('UploadPart: ETag is the part MD5, crc64 the part CRC', async () => {
        for (const [n, buf] of [[1, p1], [2, p2], [3, p3]]) {
            const r = await oss.uploadPart('mp/big.bin', id, n, buf, 0, buf.length);
            eq(r.etag, md5Etag(buf), `part ${n} ETag`);
            eq(r.res.headers['x-oss-hash-crc64ecma'], crc64(buf), `part ${n} crc64`);
            parts.push({ number: n, etag: r.etag });
        }
    });
    await check('ListParts lists the three parts', async () => {
        const r = await oss.listParts('mp/big.bin', id);
        eq(r.parts.length, 3, 'count');
        eq(r.parts.map(p => Number(p.Size)).join(','), `${p1.length},${p2.length},${p3.length}`, 'sizes');
        eq(r.parts[0].ETag, md5Etag(p1), 'ETag');
        const paged = await oss.listParts('mp/big.bin', id, { 'max-parts': 2 });
        eq(paged.parts.length, 2, 'max-parts');
        eq(String(paged.isTruncated), 'true', 'truncated');
        eq(String(paged.nextPartNumberMarker), '2', 'next marker');
    });
    await check('CompleteMultipartUpload with a wrong ETag: 400 InvalidPart', async () => {
        await fails(oss.completeMultipartUpload('mp/big.bin', id, [parts[0], { number: 2, etag: '"00"' }, parts[2]]),
                    'InvalidPart', 400);
    });
    await check('CompleteMultipartUpload with an unknown part number: 400 InvalidPart', async () => {
        await fails(oss.completeMultipartUpload('mp/big.bin', id, [parts[0], { number: 9, etag: parts[1].etag }]),
                    'InvalidPart', 400);
    });
    await check('CompleteMultipartUpload with parts out of order: 400 InvalidPartOrder', async () => {
        /* completeMultipartUpload sorts, so the body goes through the client's request() */
        const xml = '<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUpload>'
            + `<Part><PartNumber>2</PartNumber><ETag>${parts[1].etag}</ETag></Part>`
            + `<Part><PartNumber>1</PartNumber><ETag>${parts[0].etag}</ETag></Part>`
            + '</CompleteMultipartUpload>';
        const params = oss._objectRequestParams('POST', 'mp/big.bin', { subres: { uploadId: id } });
        params.mime = 'xml';
        params.content = xml;
        params.successStatuses = [200];
        await fails(oss.request(params), 'InvalidPartOrder', 400);
    });
    await check('CompleteMultipartUpload: object of type Multipart, whole CRC, "-3" ETag', async () => {
        const r = await oss.completeMultipartUpload('mp/big.bin', id, parts);
        eq(r.res.status, 200, 'status');
        ok(/^"[0-9A-F]{32}-3"$/.test(r.etag), `ETag ${r.etag}`);
        eq(r.res.headers['x-oss-hash-crc64ecma'], crc64(whole), 'crc64');
        const g = await oss.get('mp/big.bin');
        ok(g.content.equals(whole), 'content');
        eq(g.res.headers['x-oss-object-type'], 'Multipart', 'type');
        eq(g.res.headers['content-type'], 'application/x-test', 'Content-Type from Initiate');
        eq(g.res.headers['x-oss-meta-m'], '1', 'meta from Initiate');
    });
    await check('The completed upload is gone: 404 NoSuchUpload', async () => {
        await fails(oss.listParts('mp/big.bin', id), 'NoSuchUpload', 404);
    });
    await check('CompleteMultipartUpload with a small non-last part: 400 EntityTooSmall', async () => {
        const u = (await oss.initMultipartUpload('mp/small.bin')).uploadId;
        const a = await oss.uploadPart('mp/small.bin', u, 1, p3, 0, p3.length);
        const b = await oss.uploadPart('mp/small.bin', u, 2, p3, 0, p3.length);
        await fails(oss.completeMultipartUpload('mp/small.bin', u, [{ number: 1, etag: a.etag },
                                                                   { number: 2, etag: b.etag }]),
                    'EntityTooSmall', 400);
        const one = await oss.completeMultipartUpload('mp/small.bin', u, [{ number: 2, etag: b.etag }]);
        eq(one.res.status, 200, 'a single small part is the last one');
    });
    await check('x-oss-forbid-overwrite at Complete: 409 FileAlreadyExists', async () => {
        const u = (await oss.initMultipartUpload('mp/big.bin')).uploadId;
        const a = await oss.uploadPart('mp/big.bin', u, 1, p3, 0, p3.length);
        await fails(oss.completeMultipartUpload('mp/big.bin', u, [{ number: 1, etag: a.etag }],
                                                { headers: { 'x-oss-forbid-overwrite': 'true' } }),
                    'FileAlreadyExists', 409);
        await oss.abortMultipartUpload('mp/big.bin', u);
    });
    await check('AbortMultipartUpload: 204, then NoSuchUpload for abort, part and list', async () => {
        const u = (await oss.initMultipartUpload('mp/aborted.bin')).uploadId;
        await oss.uploadPart('mp/aborted.bin', u, 1, p3, 0, p3.length);
        const r = await oss.abortMultipartUpload('mp/aborted.bin', u);
        eq(r.res.status, 204, 'status');
        await fails(oss.abortMultipartUpload('mp/aborted.bin', u), 'NoSuchUpload', 404);
        await fails(oss.uploadPart('mp/aborted.bin', u, 1, p3, 0, p3.length), 'NoSuchUpload', 404);
        await fails(oss.listParts('mp/aborted.bin', u), 'NoSuchUpload', 404);
        await fails(oss.get('mp/aborted.bin'), 'NoSuchKey', 404);
    });
    await check('multipartUpload (the SDK\'s managed upload) of 350 KiB in 100 KiB parts', async () => {
        const body = randomBytes(350 * 1024);
        const r = await oss.multipartUpload('mp/managed.bin', body, { partSize: 100 * 1024 });
        eq(r.res.status, 200, 'status');
        const g = await oss.get('mp/managed.bin');
        ok(g.content.equals(body), 'content');
        eq(g.res.headers['x-oss-hash-crc64ecma'], crc64(body), 'crc64');
    });
}

async function listing(oss) {
    const keys = ['list/a.txt', 'list/b/1.txt', 'list/b/2.txt', 'list/c/1.txt', 'list/d.txt'];
    for (const k of keys) await oss.put(k, Buffer.from(k));
    const many = [];
    for (let i = 0; i < 105; i++) many.push(`many/${String(i).padStart(3, '0')}`);
    await Promise.all(many.map(k => oss.put(k, Buffer.from('m'))));

    await check('ListObjects: prefix and delimiter give CommonPrefixes; Owner present', async () => {
        const r = await oss.list({ prefix: 'list/', delimiter: '/' });
        eq(r.objects.map(o => o.name).join(','), 'list/a.txt,list/d.txt', 'objects');
        eq(r.prefixes.join(','), 'list/b/,list/c/', 'prefixes');
        eq(r.isTruncated, false, 'truncated');
        ok(r.objects[0].owner.id, 'Owner.ID');
        eq(r.objects[0].type, 'Normal', 'Type');
        eq(r.objects[0].size, 10, 'Size');
        eq(r.objects[0].etag, md5Etag(Buffer.from('list/a.txt')), 'ETag');
        ok(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/.test(r.objects[0].lastModified), 'LastModified');
    });
    await check('ListObjects: max-keys and marker page through keys and prefixes', async () => {
        const p1 = await oss.list({ prefix: 'list/', delimiter: '/', 'max-keys': 2 });
        eq(p1.objects.map(o => o.name).join(','), 'list/a.txt', 'page 1 objects');
        eq(p1.prefixes.join(','), 'list/b/', 'page 1 prefixes');
        eq(p1.isTruncated, true, 'page 1 truncated');
        eq(p1.nextMarker, 'list/b/', 'NextMarker');
        const p2 = await oss.list({ prefix: 'list/', delimiter: '/', 'max-keys': 2, marker: p1.nextMarker });
        eq(p2.prefixes.join(','), 'list/c/', 'page 2 prefixes');
        eq(p2.objects.map(o => o.name).join(','), 'list/d.txt', 'page 2 objects');
        eq(p2.isTruncated, false, 'page 2 truncated');
    });
    await check('ListObjects: max-keys defaults to 100; 1000 is the most; 1001 is refused', async () => {
        const d = await oss.list({ prefix: 'many/' });
        eq(d.objects.length, 100, 'default page');
        eq(d.isTruncated, true, 'truncated');
        eq(d.nextMarker, 'many/099', 'NextMarker');
        const all = await oss.list({ prefix: 'many/', 'max-keys': 1000 });
        eq(all.objects.length, 105, 'all');
        await fails(oss.list({ prefix: 'many/', 'max-keys': 1001 }), 'InvalidArgument', 400);
    });
    await check('ListObjectsV2: KeyCount, prefixes, continuation tokens, byte order', async () => {
        const r = await oss.listV2({ prefix: 'list/', delimiter: '/' });
        eq(r.keyCount, 4, 'KeyCount');
        eq(r.prefixes.join(','), 'list/b/,list/c/', 'prefixes');
        eq(r.objects[0].owner, null, 'no Owner without fetch-owner');
        const seen = [];
        let token = null;
        let pages = 0;
        do {
            const q = { prefix: 'many/', 'max-keys': 40 };
            if (token) q['continuation-token'] = token;
            const p = await oss.listV2(q);
            seen.push(...p.objects.map(o => o.name));
            token = p.isTruncated ? p.nextContinuationToken : null;
            pages++;
        } while (token);
        eq(pages, 3, 'pages');
        eq(seen.join(','), many.join(','), 'every key once, in order');
    });
    await check('ListObjectsV2: start-after and fetch-owner', async () => {
        const r = await oss.listV2({ prefix: 'many/', 'start-after': 'many/100', 'fetch-owner': true });
        eq(r.objects.map(o => o.name).join(','), 'many/101,many/102,many/103,many/104', 'objects');
        ok(r.objects[0].owner && r.objects[0].owner.id, 'Owner with fetch-owner');
    });
    await check('ListObjects with encoding-type=url encodes keys', async () => {
        const r = await oss.list({ prefix: 'dir/', 'encoding-type': 'url' });
        eq(r.objects.length, 1, 'count');
        ok(r.objects[0].name !== 'dir/数据 file+1.txt', 'encoded');
        eq(decodeURIComponent(r.objects[0].name), 'dir/数据 file+1.txt', 'decodes back');
    });
    await check('DeleteMultipleObjects: every key reported, missing ones too', async () => {
        const r = await oss.deleteMulti(['many/000', 'many/001', 'many/nope']);
        eq(r.res.status, 200, 'status');
        eq(r.deleted.map(d => d.Key).join(','), 'many/000,many/001,many/nope', 'Deleted');
        await fails(oss.get('many/000'), 'NoSuchKey', 404);
    });
    await check('DeleteMultipleObjects quiet: nothing reported, keys gone', async () => {
        const r = await oss.deleteMulti(many.slice(2), { quiet: true });
        eq(r.deleted.length, 0, 'Deleted');
        eq((await oss.list({ prefix: 'many/' })).objects.length, 0, 'left');
    });
    await check('DeleteMultipleObjects without Content-MD5: 400', async () => {
        const xml = '<?xml version="1.0" encoding="UTF-8"?>\n<Delete><Quiet>true</Quiet>'
            + '<Object><Key>list/a.txt</Key></Object></Delete>';
        const params = oss._objectRequestParams('POST', '', { subres: { delete: '' } });
        params.mime = 'xml';
        params.content = xml;
        params.disabledMD5 = true;
        params.successStatuses = [200];
        const e = await fails(oss.request(params), 'MissingArgument', 400);
        ok(e, 'error');
        eq((await oss.get('list/a.txt')).res.status, 200, 'not deleted');
    });
}

async function auth(oss) {
    await check('Wrong secret: 403 SignatureDoesNotMatch with StringToSign', async () => {
        const bad = client({ accessKeySecret: 'not-the-secret' });
        await fails(bad.get('hello.txt'), 'SignatureDoesNotMatch', 403);
        const xml = last.data.toString();
        const sts = xmlField(xml, 'StringToSign');
        ok(sts && sts.startsWith('GET\n'), `StringToSign: ${sts}`);
        ok(sts.endsWith(`/${BUCKET}/hello.txt`), 'resource /bucket/key');
        eq(xmlField(xml, 'OSSAccessKeyId'), keyId, 'OSSAccessKeyId');
        ok(xmlField(xml, 'SignatureProvided'), 'SignatureProvided');
        ok(/^47 45 54 0A/.test(xmlField(xml, 'StringToSignBytes')), 'StringToSignBytes');
    });
    await check('Wrong secret on PUT and HEAD (x-oss-err) too', async () => {
        const bad = client({ accessKeySecret: 'not-the-secret' });
        await fails(bad.put('x.txt', Buffer.from('x')), 'SignatureDoesNotMatch', 403);
        await fails(bad.head('hello.txt'), 'SignatureDoesNotMatch', 403);
        await fails(oss.get('x.txt'), 'NoSuchKey', 404);
    });
    await check('Unknown key id: 403 InvalidAccessKeyId', async () => {
        const bad = client({ accessKeyId: 'LTAInobody' });
        await fails(bad.get('hello.txt'), 'InvalidAccessKeyId', 403);
    });
    await check('Clock 20 minutes off: 403 RequestTimeTooSkewed with ServerTime', async () => {
        for (const skew of [-20, 20]) {
            const skewed = client();
            skewed.options.amendTimeSkewed = skew * 60 * 1000;
            await fails(skewed.get('hello.txt'), 'RequestTimeTooSkewed', 403);
            ok(xmlField(last.data.toString(), 'ServerTime'), 'ServerTime');
        }
        const slight = client();
        slight.options.amendTimeSkewed = -10 * 60 * 1000;
        eq((await slight.get('hello.txt')).res.status, 200, '10 minutes is within the limit');
    });
    await check('Signature V4: put, get, list, delete', async () => {
        const v4 = client({ authorizationV4: true });
        await v4.put('v4/obj.txt', Buffer.from('four'));
        eq((await v4.get('v4/obj.txt')).content.toString(), 'four', 'content');
        eq((await v4.list({ prefix: 'v4/' })).objects.length, 1, 'list (all params signed)');
        eq((await v4.head('v4/obj.txt')).status, 200, 'head');
        eq((await v4.delete('v4/obj.txt')).res.status, 204, 'delete');
    });
    await check('Signature V4 with a wrong secret: 403 SignatureDoesNotMatch', async () => {
        const v4 = client({ authorizationV4: true, accessKeySecret: 'not-the-secret' });
        await fails(v4.get('hello.txt'), 'SignatureDoesNotMatch', 403);
        ok(xmlField(last.data.toString(), 'StringToSign').startsWith('OSS4-HMAC-SHA256\n'),
           'V4 StringToSign');
    });
    if (stsToken) {
        await check('STS: a wrong security token: 403 InvalidSecurityToken', async () => {
            await fails(client({ stsToken: 'wrong-token' }).get('hello.txt'), 'InvalidSecurityToken', 403);
        });
    }
    await check('Presigned V1 URL: GET works; a tampered one gets SignatureDoesNotMatch', async () => {
        const named = client({ endpoint: `http://oss-cn-hangzhou.aliyuncs.com:${port}` });
        const url = new URL(named.signatureUrl('hello.txt', { expires: 300 }));
        const r = await raw('GET', url.pathname + url.search, { headers: { Host: url.host } });
        eq(r.status, 200, 'status');
        eq(r.body.toString(), 'Hello OSS', 'content');
        url.searchParams.set('Signature', 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=');
        const t = await raw('GET', url.pathname + url.search, { headers: { Host: url.host } });
        eq(t.status, 403, 'tampered status');
        eq(xmlField(t.body.toString(), 'Code'), 'SignatureDoesNotMatch', 'tampered code');
        ok(xmlField(t.body.toString(), 'RequestId'), 'RequestId in body');
    });
    await check('Presigned V1 URL past its Expires: 403 AccessDenied', async () => {
        const named = client({ endpoint: `http://oss-cn-hangzhou.aliyuncs.com:${port}` });
        const url = new URL(named.signatureUrl('hello.txt', { expires: -60 }));
        const r = await raw('GET', url.pathname + url.search, { headers: { Host: url.host } });
        eq(r.status, 403, 'status');
        eq(xmlField(r.body.toString(), 'Code'), 'AccessDenied', 'code');
    });
    await check('Anonymous request: 403 AccessDenied', async () => {
        const r = await raw('GET', '/hello.txt', { headers: { Host: `${BUCKET}.oss-cn-hangzhou.aliyuncs.com` } });
        eq(r.status, 403, 'status');
        eq(xmlField(r.body.toString(), 'Code'), 'AccessDenied', 'code');
        ok(r.headers['x-oss-request-id'], 'x-oss-request-id');
    });
}

async function addressing() {
    await check('Path style (sldEnable, Host localhost): put, get, list', async () => {
        const p = client({ endpoint: `http://localhost:${port}`, sldEnable: true });
        await p.put('style/path.txt', Buffer.from('path'));
        eq(last.headers['x-oss-request-id'] !== undefined, true, 'answered');
        eq((await p.get('style/path.txt')).content.toString(), 'path', 'content');
        eq((await p.list({ prefix: 'style/' })).objects.length, 1, 'list');
    });
    await check('sldEnable on an IP endpoint (bucket in both Host and path)', async () => {
        const p = client({ sldEnable: true });
        eq((await p.get('style/path.txt')).content.toString(), 'path', 'content');
    });
    await check('CNAME not bound: the bucket is found through the signature', async () => {
        const c = client({ endpoint: `http://files.example.test:${port}`, cname: true });
        await c.put('style/cname.txt', Buffer.from('cname'));
        eq((await c.get('style/cname.txt')).content.toString(), 'cname', 'content');
        eq((await c.list({ prefix: 'style/' })).objects.length, 2, 'list (bucket-level resource)');
    });
    await check('CNAME bound through the admin API', async () => {
        const a = await admin('POST', `oss/cnames?host=cdn.example.test&bucket=${BUCKET}`);
        eq(a.status, 200, 'admin status');
        const c = client({ endpoint: `http://cdn.example.test:${port}`, cname: true });
        eq((await c.get('style/cname.txt')).content.toString(), 'cname', 'content');
        const bad = client({ endpoint: `http://cdn.example.test:${port}`, cname: true,
                             accessKeySecret: 'not-the-secret' });
        await fails(bad.get('style/cname.txt'), 'SignatureDoesNotMatch', 403);
        ok(xmlField(last.data.toString(), 'StringToSign').endsWith(`/${BUCKET}/style/cname.txt`),
           'bound bucket in the StringToSign');
    });
}

async function adminAndFaults(oss) {
    await check('admin: POST buckets?name= creates a bucket usable by the SDK', async () => {
        const name = `adm-${suffix}`;
        const a = await admin('POST', `oss/buckets?name=${name}`);
        eq(a.status, 200, 'status');
        eq(a.json.created, true, 'created');
        eq((await admin('POST', `oss/buckets?name=${name}`)).json.created, false, 'idempotent');
        const c = client({ bucket: name });
        await c.put('k', Buffer.from('v'));
        eq((await c.get('k')).content.toString(), 'v', 'content');
        eq((await admin('POST', 'oss/buckets?name=Bad_Name')).status, 400, 'bad name');
    });
    await check('admin: GET objects lists size, crc64 and type', async () => {
        const a = await admin('GET', `oss/objects?bucket=${BUCKET}`);
        eq(a.status, 200, 'status');
        const h = a.json.find(o => o.key === 'hello.txt');
        eq(h.size, 9, 'size');
        eq(h.crc64, crc64(Buffer.from('Hello OSS')), 'crc64');
        eq(h.type, 'Normal', 'type');
        eq(a.json.find(o => o.key === 'mp/big.bin').type, 'Multipart', 'multipart type');
    });
    await check('admin: GET object returns the raw bytes', async () => {
        const a = await admin('GET', `oss/object?bucket=${BUCKET}&key=${encodeURIComponent('dir/数据 file+1.txt')}`);
        eq(a.status, 200, 'status');
        eq(a.body.toString(), 'utf8', 'bytes');
        eq((await admin('GET', `oss/object?bucket=${BUCKET}&key=none`)).status, 404, 'missing');
    });
    await check('fault: GetObject answers 503 ServiceUnavailable once, then works', async () => {
        const f = await admin('POST', 'faults', { service: 'oss', op: 'GetObject', kind: 'error',
                                                  status: 503, count: 1 });
        eq(f.status, 200, 'fault added');
        await fails(oss.get('hello.txt'), 'ServiceUnavailable', 503);
        ok(last.headers['x-oss-request-id'], 'x-oss-request-id');
        eq((await oss.get('hello.txt')).res.status, 200, 'then 200');
    });
    await check('fault: HeadObject 500 InternalError arrives through x-oss-err', async () => {
        await admin('POST', 'faults', { service: 'oss', op: 'HeadObject', kind: 'error',
                                        status: 500, code: 'InternalError', count: 1 });
        await fails(oss.head('hello.txt'), 'InternalError', 500);
        eq(last.data.length, 0, 'no body');
    });
    await check('fault: PutObject, UploadPart and AppendObject are named for rules', async () => {
        for (const op of ['PutObject', 'AppendObject', 'InitiateMultipartUpload', 'ListObjectsV2',
                          'DeleteMultipleObjects']) {
            await admin('POST', 'faults', { service: 'oss', op, kind: 'error', status: 500,
                                            code: 'InternalError', count: 1 });
        }
        await fails(oss.put('f.txt', Buffer.from('f')), 'InternalError', 500);
        await fails(oss.append('f.log', Buffer.from('f')), 'InternalError', 500);
        await fails(oss.initMultipartUpload('f.bin'), 'InternalError', 500);
        await fails(oss.listV2({}), 'InternalError', 500);
        await fails(oss.deleteMulti(['f.txt']), 'InternalError', 500);
    });
}

async function teardown(oss) {
    await check('DeleteBucket on a non-empty bucket: 409 BucketNotEmpty', async () => {
        await fails(oss.deleteBucket(BUCKET), 'BucketNotEmpty', 409);
    });
    await check('DeleteBucket on an emptied bucket: 204, then NoSuchBucket', async () => {
        for (;;) {
            const l = await oss.list({ 'max-keys': 1000 });
            if (!l.objects.length) break;
            await oss.deleteMulti(l.objects.map(o => o.name), { quiet: true });
        }
        const r = await oss.deleteBucket(BUCKET);
        eq(r.res.status, 204, 'status');
        await fails(oss.list(), 'NoSuchBucket', 404);
        await fails(oss.deleteBucket(BUCKET), 'NoSuchBucket', 404);
    });
}


/* Leaves a bucket for the restarted emulator: large, appendable and multipart state. */
async function leaveBehind() {
    const bucket = `keep-${suffix}`;
    const k = client({ bucket });
    const big = randomBytes(3 << 20);
    const p1 = randomBytes(150 * 1024);
    const p2 = randomBytes(20 * 1024);
    const m = { bucket, objects: {}, upload: null, cname: `keep.example.test` };
    await check('state for the restart: a bucket with big, appendable and multipart data', async () => {
        await k.putBucket(bucket);
        await k.put('big.bin', big, { meta: { kept: 'yes' } });
        await k.append('log.txt', Buffer.from('line 1\n'));
        await k.append('log.txt', Buffer.from('line 2\n'), { position: 7 });
        for (const key of ['big.bin', 'log.txt']) {
            const g = await k.get(key);
            m.objects[key] = { md5: md5Etag(g.content), crc: crc64(g.content),
                               type: g.res.headers['x-oss-object-type'], size: g.content.length };
        }
        const id = (await k.initMultipartUpload('upload.bin', { meta: { up: '1' } })).uploadId;
        const e1 = (await k.uploadPart('upload.bin', id, 1, p1, 0, p1.length)).etag;
        const e2 = (await k.uploadPart('upload.bin', id, 2, p2, 0, p2.length)).etag;
        m.upload = { key: 'upload.bin', id, parts: [{ number: 1, etag: e1 }, { number: 2, etag: e2 }],
                     md5: md5Etag(Buffer.concat([p1, p2])) };
        eq((await admin('POST', `oss/cnames?host=${m.cname}&bucket=${bucket}`)).status, 200, 'cname');
        if (process.env.OTSYNC_CONF_MANIFEST) {
            fs.writeFileSync(process.env.OTSYNC_CONF_MANIFEST, JSON.stringify(m));
        }
    });
}

/* --after-restart: what leaveBehind made must have come back from --data. */
async function afterRestart() {
    const m = JSON.parse(fs.readFileSync(process.env.OTSYNC_CONF_MANIFEST, 'utf8'));
    const k = client({ bucket: m.bucket });
    await check('after a restart: objects keep bytes, CRC, type and meta', async () => {
        for (const [key, o] of Object.entries(m.objects)) {
            const g = await k.get(key);
            eq(md5Etag(g.content), o.md5, `${key} content`);
            eq(g.res.headers['x-oss-hash-crc64ecma'], o.crc, `${key} crc64`);
            eq(g.res.headers['x-oss-object-type'], o.type, `${key} type`);
        }
        eq((await k.head('big.bin')).meta.kept, 'yes', 'meta');
    });
    await check('after a restart: appending goes on at the saved length', async () => {
        const r = await k.append('log.txt', Buffer.from('line 3\n'), { position: m.objects['log.txt'].size });
        eq(r.nextAppendPosition, String(m.objects['log.txt'].size + 7), 'next position');
        eq((await k.get('log.txt')).content.toString(), 'line 1\nline 2\nline 3\n', 'content');
    });
    await check('after a restart: the unfinished upload lists its parts and completes', async () => {
        const l = await k.listParts(m.upload.key, m.upload.id);
        eq(l.parts.map(p => p.ETag).join(','), m.upload.parts.map(p => p.etag).join(','), 'parts');
        await k.completeMultipartUpload(m.upload.key, m.upload.id, m.upload.parts);
        const g = await k.get(m.upload.key);
        eq(md5Etag(g.content), m.upload.md5, 'content');
        eq(g.res.headers['x-oss-meta-up'], '1', 'meta from Initiate');
    });
    await check('after a restart: the CNAME binding holds', async () => {
        const c = client({ endpoint: `http://${m.cname}:${port}`, cname: true, bucket: m.bucket });
        eq(md5Etag((await c.get('big.bin')).content), m.objects['big.bin'].md5, 'content');
    });
}

async function main() {
    const oss = client();
    if (process.argv[2] === '--after-restart') {
        await afterRestart();
        return finish();
    }
    await buckets(oss);
    await objects(oss);
    await append(oss);
    await multipart(oss);
    await listing(oss);
    await auth(oss);
    await addressing();
    await adminAndFaults(oss);
    await teardown(oss);
    await leaveBehind();
    return finish();
}

function finish() {
    console.log(`1..${count}`);
    console.log(`# ${count - failed} passed, ${failed} failed${stsToken ? ' (with an STS token)' : ''}`);
    agent.destroy();
    process.exit(failed ? 1 : 0);
}

main().catch(e => {
    console.log(`not ok ${count + 1} - the suite stopped: ${e.stack || e}`);
    process.exit(1);
});
