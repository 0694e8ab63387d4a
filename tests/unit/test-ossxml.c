/*
 * test-ossxml.c - the OSS XML reader and writer: every document written and read back, the
 * bodies ali-oss sends (tests/vectors/oss/signature) reproduced byte for byte, entities,
 * url-encoded keys, and hostile input (truncation at every byte, mismatched tags, deep nesting,
 * huge attributes, bad UTF-8, random mutations), each an error naming a byte offset. Inputs
 * are copied into buffers of their exact size, without a NUL, so ASan sees any over-read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include "otsync/ossxml.h"

/* Parses len bytes from an exact-size heap copy. */
static int
parse_exact(const char *s, size_t len, struct ossxml_doc **ret_doc, struct otsync_err *err)
{
    char *copy = malloc(len ? len : 1);
    int rc;

    assert_non_null(copy);
    memcpy(copy, s, len);
    rc = ossxml_parse(copy, len, ret_doc, err);
    free(copy);
    return rc;
}

static struct ossxml_doc *
parse_ok(const char *s, size_t len)
{
    struct ossxml_doc *doc = NULL;
    struct otsync_err err = {0};

    if (parse_exact(s, len, &doc, &err) != 0)
        fail_msg("parse failed: %s\n--- input ---\n%.*s", err.msg, (int)len, s);
    return doc;
}

static struct ossxml_doc *
parse_str(const char *s)
{
    return parse_ok(s, strlen(s));
}

static void
expect_bad(const char *s, size_t len)
{
    struct ossxml_doc *doc = NULL;
    struct otsync_err err = {0};

    if (parse_exact(s, len, &doc, &err) != -OTSYNC_EPROTO) {
        ossxml_free(doc);
        fail_msg("accepted bad input: %.*s", (int)(len > 200 ? 200 : len), s);
    }
    assert_null(doc);
    assert_int_equal(err.code, OTSYNC_EPROTO);
    assert_memory_equal(err.msg, "xml: ", 5);
}

static json_t *
load_vector(const char *id)
{
    const char *top = getenv("top_srcdir");
    char path[4096];
    json_error_t je;
    json_t *v;

    snprintf(path, sizeof(path), "%s/tests/vectors/oss/signature/%s.json", top ? top : ".", id);
    if (!(v = json_load_file(path, 0, &je)))
        fail_msg("%s:%d: %s", path, je.line, je.text);
    return v;
}

static const char *
vector_body(json_t *v)
{
    return json_string_value(json_object_get(json_object_get(v, "http_request"), "body_utf8"));
}

static void
test_error_doc(void **state)
{
    static const char body[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<Error xmlns=\"http://doc.oss-cn-hangzhou.aliyuncs.com\">\n"
        "  <Code>SignatureDoesNotMatch</Code>\n"
        "  <Message>The request signature we calculated does not match</Message>\n"
        "  <RequestId>5C3D9175B6FC201293AD4890</RequestId>\n"
        "  <HostId>examplebucket.oss-cn-hangzhou.aliyuncs.com</HostId>\n"
        "  <OSSAccessKeyId>LTAIExampleKeyID0000</OSSAccessKeyId>\n"
        "  <SignatureProvided>abc=</SignatureProvided>\n"
        "  <StringToSign>PUT&#10;&#10;text/plain&#x0A;/b/k</StringToSign>\n"
        "  <EC>0002-00000040</EC>\n"
        "  <RecommendDoc>https://api.aliyun.com/troubleshoot?q=0002-00000040</RecommendDoc>\n"
        "</Error>\n";
    struct ossxml_field extra[] = {{"StringToSign", "GET\n\n\nD\n/b/a&b<c>"}, {"EC", "x"}};
    struct ossxml_error e, back, w = {
        .code = "NoSuchKey", .message = "The specified key does not exist.",
        .request_id = "RID", .host_id = NULL, .extra = extra, .extra_count = 2,
    };
    struct ossxml_doc *doc;
    struct otsync_err err;
    size_t len;
    char *xml;

    (void)state;
    doc = parse_ok(body, sizeof(body) - 1);
    assert_string_equal(ossxml_root(doc)->name, "Error");
    assert_int_equal(ossxml_get_error(doc, &e, &err), 0);
    assert_string_equal(e.code, "SignatureDoesNotMatch");
    assert_string_equal(e.request_id, "5C3D9175B6FC201293AD4890");
    assert_string_equal(e.host_id, "examplebucket.oss-cn-hangzhou.aliyuncs.com");
    assert_int_equal(e.extra_count, 5);
    assert_string_equal(e.extra[0].name, "OSSAccessKeyId");
    assert_string_equal(ossxml_error_field(&e, "StringToSign"), "PUT\n\ntext/plain\n/b/k");
    assert_string_equal(ossxml_error_field(&e, "EC"), "0002-00000040");
    assert_null(ossxml_error_field(&e, "ServerTime"));
    ossxml_free(doc);

    assert_int_equal(ossxml_write_error(&w, &xml, &len, &err), 0);
    assert_int_equal(strlen(xml), len);
    assert_non_null(strstr(xml, "<StringToSign>GET\n\n\nD\n/b/a&amp;b&lt;c&gt;</StringToSign>"));
    doc = parse_ok(xml, len);
    assert_int_equal(ossxml_get_error(doc, &back, &err), 0);
    assert_string_equal(back.code, "NoSuchKey");
    assert_string_equal(back.host_id, "");
    assert_string_equal(ossxml_error_field(&back, "StringToSign"), extra[0].value);
    ossxml_free(doc);
    free(xml);

    /* a listing is not an error */
    doc = parse_str("<ListBucketResult/>");
    assert_int_equal(ossxml_get_error(doc, &e, &err), -OTSYNC_EPROTO);
    ossxml_free(doc);
    doc = parse_str("<Error><Message>m</Message></Error>");
    assert_int_equal(ossxml_get_error(doc, &e, &err), -OTSYNC_EPROTO);
    ossxml_free(doc);
}

static void
test_syntax(void **state)
{
    static const char body[] =
        "\xef\xbb\xbf<?xml version='1.0'?>\r\n<!-- c --><?pi x?>"
        "<r:Root xmlns:r='urn:x' a=\"1\" b = '&lt;&#39;' >"
        "<r:K>a&amp;b&lt;&gt;&quot;&apos;&#65;&#x4e2d;&#x1F600;</r:K>"
        "<K>x<![CDATA[<y>&amp;]]>z</K>"
        "<Crlf>1\r\n2\r3</Crlf>"
        "<Empty/><Empty></Empty>"
        "<Mixed>a<In>b</In>c<!-- no -->d</Mixed>"
        "<\xe6\x95\xb0/>"
        "</r:Root >\n<!-- trailing -->\n";
    const struct ossxml_node *root, *k;
    struct ossxml_doc *doc;
    struct otsync_err err;

    (void)state;
    /* names are ASCII only: the last element above is refused */
    expect_bad(body, sizeof(body) - 1);
    {
        char fixed[sizeof(body)];
        char *p;

        memcpy(fixed, body, sizeof(body));
        p = strstr(fixed, "<\xe6\x95\xb0/>");
        memcpy(p, "<Zz />", 6);
        doc = parse_ok(fixed, sizeof(body) - 1);
    }
    root = ossxml_root(doc);
    assert_string_equal(root->name, "Root");
    k = ossxml_child(root, "K");
    assert_string_equal(k->text, "a&b<>\"'A\xe4\xb8\xad\xf0\x9f\x98\x80");
    assert_int_equal(k->text_len, strlen(k->text));
    k = ossxml_next(k);
    assert_non_null(k);
    assert_string_equal(k->text, "x<y>&amp;z");
    assert_null(ossxml_next(k));
    assert_string_equal(ossxml_child_text(root, "Crlf"), "1\n2\n3");
    assert_string_equal(ossxml_child_text(root, "Empty"), "");
    assert_non_null(ossxml_next(ossxml_child(root, "Empty")));
    assert_string_equal(ossxml_child_text(root, "Mixed"), "acd");
    assert_string_equal(ossxml_child_text(ossxml_child(root, "Mixed"), "In"), "b");
    assert_non_null(ossxml_child(root, "Zz"));
    assert_null(ossxml_child(root, "Nope"));
    assert_null(ossxml_child_text(root, "Nope"));
    assert_null(ossxml_child(NULL, "K"));
    ossxml_free(doc);
    ossxml_free(NULL);

    /* exactly the depth limit is fine */
    {
        char deep[OSSXML_MAX_DEPTH * 7 + 1];
        size_t n = 0;
        int i;

        for (i = 0; i < OSSXML_MAX_DEPTH; i++)
            n += (size_t)sprintf(deep + n, "<a>");
        for (i = 0; i < OSSXML_MAX_DEPTH; i++)
            n += (size_t)sprintf(deep + n, "</a>");
        doc = parse_ok(deep, n);
        ossxml_free(doc);
    }
    (void)err;
}

static void
test_list_v1(void **state)
{
    static const struct ossxml_object objs[] = {
        {.key = "dir/a&b <c>.txt", .size = 0, .etag = "\"5EB63BBBE01EEED093CB22BB8F5ACDC3\"",
         .last_modified = "2025-01-02T03:04:05.000Z", .type = "Normal",
         .storage_class = "Standard", .owner_id = "1234", .owner_name = "me"},
        {.key = "dir/数据\r.csv", .size = UINT64_MAX, .etag = "\"X-2\"",
         .last_modified = "2025-01-02T03:04:06.000Z", .type = "Multipart"},
    };
    static const char *const prefixes[] = {"dir/sub/", "dir/x&y/"};
    struct ossxml_list l = {
        .name = "examplebucket", .prefix = "dir/", .delimiter = "/", .marker = "dir/0",
        .next_marker = "dir/数据\r.csv", .max_keys = 2, .is_truncated = true, .objects = objs,
        .object_count = 2, .prefixes = prefixes, .prefix_count = 2,
    }, back;
    struct ossxml_doc *doc;
    struct otsync_err err;
    size_t len;
    char *xml;

    (void)state;
    assert_int_equal(ossxml_write_list(&l, &xml, &len, &err), 0);
    assert_memory_equal(xml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult>", 57);
    assert_non_null(strstr(xml, "<Owner><ID>1234</ID><DisplayName>me</DisplayName></Owner>"));
    assert_non_null(strstr(xml, "<Key>dir/a&amp;b &lt;c&gt;.txt</Key>"));
    assert_null(strstr(xml, "KeyCount"));
    doc = parse_ok(xml, len);
    assert_int_equal(ossxml_get_list(doc, &back, &err), 0);
    assert_false(back.v2);
    assert_string_equal(back.name, "examplebucket");
    assert_string_equal(back.prefix, "dir/");
    assert_string_equal(back.marker, "dir/0");
    assert_string_equal(back.next_marker, "dir/数据\r.csv");
    assert_string_equal(back.delimiter, "/");
    assert_null(back.encoding_type);
    assert_int_equal(back.max_keys, 2);
    assert_true(back.is_truncated);
    assert_int_equal(back.object_count, 2);
    assert_string_equal(back.objects[0].key, objs[0].key);
    assert_int_equal(back.objects[0].size, 0);
    assert_string_equal(back.objects[0].etag, objs[0].etag);
    assert_string_equal(back.objects[0].last_modified, objs[0].last_modified);
    assert_string_equal(back.objects[0].storage_class, "Standard");
    assert_string_equal(back.objects[0].owner_id, "1234");
    assert_string_equal(back.objects[0].owner_name, "me");
    assert_string_equal(back.objects[1].key, objs[1].key);
    assert_int_equal(back.objects[1].size, UINT64_MAX);
    assert_string_equal(back.objects[1].type, "Multipart");
    assert_null(back.objects[1].owner_id);
    assert_null(back.objects[1].storage_class);
    assert_int_equal(back.prefix_count, 2);
    assert_string_equal(back.prefixes[1], "dir/x&y/");
    ossxml_free(doc);
    free(xml);

    /* an empty page */
    memset(&l, 0, sizeof(l));
    l.name = "b";
    l.max_keys = 100;
    assert_int_equal(ossxml_write_list(&l, &xml, &len, &err), 0);
    doc = parse_ok(xml, len);
    assert_int_equal(ossxml_get_list(doc, &back, &err), 0);
    assert_int_equal(back.object_count, 0);
    assert_int_equal(back.prefix_count, 0);
    assert_non_null(back.objects);
    assert_false(back.is_truncated);
    assert_string_equal(back.prefix, "");
    ossxml_free(doc);
    free(xml);
}

static void
test_list_v2_url(void **state)
{
    static const struct ossxml_object objs[] = {
        {.key = "dir/数据 file+1.txt", .size = 5, .etag = "\"E\""},
        {.key = "dir/ctl\x01\x1f.txt", .size = 6, .etag = "\"F\""},
    };
    static const char *const prefixes[] = {"dir/a b/"};
    static const char by_hand[] =
        "<ListBucketResult><Name>b</Name><Prefix>dir%2F</Prefix><MaxKeys>100</MaxKeys>"
        "<EncodingType>url</EncodingType><IsTruncated>false</IsTruncated><KeyCount>1</KeyCount>"
        "<Contents><Key>dir%2F%E6%95%B0+x%2B1.txt</Key><Size>1</Size></Contents>"
        "</ListBucketResult>";
    struct ossxml_list l = {
        .v2 = true, .name = "b", .prefix = "dir/", .delimiter = "/", .encoding_type = "url",
        .start_after = "dir/ a", .continuation_token = "tok+/=", .next_continuation_token = "n&x",
        .max_keys = 1000, .is_truncated = true, .objects = objs, .object_count = 2,
        .prefixes = prefixes, .prefix_count = 1,
    }, back;
    struct ossxml_doc *doc;
    struct otsync_err err;
    size_t len;
    char *xml;

    (void)state;
    assert_int_equal(ossxml_write_list(&l, &xml, &len, &err), 0);
    assert_non_null(strstr(xml, "<Key>dir/%E6%95%B0%E6%8D%AE%20file%2B1.txt</Key>"));
    assert_non_null(strstr(xml, "<Key>dir/ctl%01%1F.txt</Key>"));
    assert_non_null(strstr(xml, "<KeyCount>3</KeyCount>"));
    assert_non_null(strstr(xml, "<ContinuationToken>tok+/=</ContinuationToken>"));
    assert_non_null(strstr(xml, "<NextContinuationToken>n&amp;x</NextContinuationToken>"));
    assert_null(strstr(xml, "<Marker>"));
    doc = parse_ok(xml, len);
    assert_int_equal(ossxml_get_list(doc, &back, &err), 0);
    assert_true(back.v2);
    assert_string_equal(back.encoding_type, "url");
    assert_string_equal(back.objects[0].key, objs[0].key);
    assert_string_equal(back.objects[1].key, objs[1].key);
    assert_string_equal(back.prefixes[0], "dir/a b/");
    assert_string_equal(back.start_after, "dir/ a");
    assert_string_equal(back.continuation_token, "tok+/=");
    assert_string_equal(back.next_continuation_token, "n&x");
    assert_int_equal(back.key_count, 3);
    ossxml_free(doc);
    free(xml);

    /* without url encoding a control character cannot be written */
    l.encoding_type = NULL;
    xml = (char *)1;
    assert_int_equal(ossxml_write_list(&l, &xml, &len, &err), -OTSYNC_EINVAL);
    assert_null(xml);

    doc = parse_ok(by_hand, sizeof(by_hand) - 1);
    assert_int_equal(ossxml_get_list(doc, &back, &err), 0);
    assert_string_equal(back.prefix, "dir/");
    assert_string_equal(back.objects[0].key, "dir/数 x+1.txt");
    ossxml_free(doc);
}

static void
test_multipart_docs(void **state)
{
    static const struct ossxml_part parts[] = {
        {.part_number = 1, .etag = "\"AAAA\""}, {.part_number = 2, .etag = "\"BBBB\""},
    };
    struct ossxml_complete c = {.parts = parts, .part_count = 2}, cback;
    struct ossxml_initiate in = {.bucket = "b", .key = "big/数 据.csv", .upload_id = "0004B98",
                                 .encoding_type = "url"}, iback;
    struct ossxml_complete_result cr = {.location = "http://b.oss/big/data.csv", .bucket = "b",
                                        .key = "big/data.csv", .etag = "\"M-2\""}, crback;
    struct ossxml_part lparts[] = {
        {.part_number = 1, .etag = "\"A\"", .last_modified = "2025-01-02T03:04:05.000Z",
         .size = 102400, .crc64 = 11051210869376104954ull, .has_crc64 = true},
        {.part_number = 10000, .etag = "\"B\"", .size = 1},
    };
    struct ossxml_list_parts lp = {.bucket = "b", .key = "k&", .upload_id = "U",
                                   .part_number_marker = 0, .next_part_number_marker = 10000,
                                   .max_parts = 1000, .is_truncated = false, .parts = lparts,
                                   .part_count = 2}, lpback;
    json_t *vec = load_vector("client-complete-multipart");
    struct ossxml_doc *doc;
    struct otsync_err err;
    size_t len;
    char *xml;

    (void)state;
    /* the Complete body byte for byte as ali-oss sent it, so its Content-MD5 holds too */
    assert_int_equal(ossxml_write_complete(&c, &xml, &len, &err), 0);
    assert_string_equal(xml, vector_body(vec));
    free(xml);
    doc = parse_ok(vector_body(vec), strlen(vector_body(vec)));
    assert_int_equal(ossxml_get_complete(doc, &cback, &err), 0);
    assert_int_equal(cback.part_count, 2);
    assert_int_equal(cback.parts[1].part_number, 2);
    assert_string_equal(cback.parts[1].etag, "\"BBBB\"");
    ossxml_free(doc);
    json_decref(vec);

    /* no parts at all (DataX with an empty input) still makes a document */
    c.part_count = 0;
    assert_int_equal(ossxml_write_complete(&c, &xml, &len, &err), 0);
    doc = parse_ok(xml, len);
    assert_int_equal(ossxml_get_complete(doc, &cback, &err), 0);
    assert_int_equal(cback.part_count, 0);
    ossxml_free(doc);
    free(xml);

    assert_int_equal(ossxml_write_initiate(&in, &xml, &len, &err), 0);
    assert_non_null(strstr(xml, "<Key>big/%E6%95%B0%20%E6%8D%AE.csv</Key>"));
    doc = parse_ok(xml, len);
    assert_int_equal(ossxml_get_initiate(doc, &iback, &err), 0);
    assert_string_equal(iback.upload_id, "0004B98");
    assert_string_equal(iback.key, in.key);
    assert_string_equal(iback.bucket, "b");
    ossxml_free(doc);
    free(xml);
    doc = parse_str("<InitiateMultipartUploadResult><UploadId></UploadId>"
                    "</InitiateMultipartUploadResult>");
    assert_int_equal(ossxml_get_initiate(doc, &iback, &err), -OTSYNC_EPROTO);
    ossxml_free(doc);

    assert_int_equal(ossxml_write_complete_result(&cr, &xml, &len, &err), 0);
    doc = parse_ok(xml, len);
    assert_int_equal(ossxml_get_complete_result(doc, &crback, &err), 0);
    assert_string_equal(crback.location, cr.location);
    assert_string_equal(crback.key, cr.key);
    assert_string_equal(crback.etag, "\"M-2\"");
    assert_null(crback.encoding_type);
    ossxml_free(doc);
    free(xml);

    assert_int_equal(ossxml_write_list_parts(&lp, &xml, &len, &err), 0);
    doc = parse_ok(xml, len);
    assert_int_equal(ossxml_get_list_parts(doc, &lpback, &err), 0);
    assert_string_equal(lpback.key, "k&");
    assert_string_equal(lpback.upload_id, "U");
    assert_int_equal(lpback.next_part_number_marker, 10000);
    assert_int_equal(lpback.max_parts, 1000);
    assert_false(lpback.is_truncated);
    assert_int_equal(lpback.part_count, 2);
    assert_int_equal(lpback.parts[0].size, 102400);
    assert_true(lpback.parts[0].has_crc64);
    assert_int_equal(lpback.parts[0].crc64, 11051210869376104954ull);
    assert_string_equal(lpback.parts[0].last_modified, lparts[0].last_modified);
    assert_false(lpback.parts[1].has_crc64);
    assert_int_equal(lpback.parts[1].part_number, 10000);
    ossxml_free(doc);
    free(xml);
}

static void
test_delete_docs(void **state)
{
    static const char *const keys[] = {"exampledir/a.txt", "exampledir/b&c.txt"};
    static const char *const gone[] = {"a b+c", "数"};
    struct ossxml_delete d = {.quiet = true, .keys = keys, .key_count = 2}, dback;
    struct ossxml_delete_result r = {.encoding_type = "url", .deleted = gone,
                                     .deleted_count = 2}, rback;
    json_t *vec = load_vector("client-delete-multiple");
    struct ossxml_doc *doc;
    struct otsync_err err;
    size_t len;
    char *xml;

    (void)state;
    assert_int_equal(ossxml_write_delete(&d, &xml, &len, &err), 0);
    assert_string_equal(xml, vector_body(vec));
    doc = parse_ok(xml, len);
    assert_int_equal(ossxml_get_delete(doc, &dback, &err), 0);
    assert_true(dback.quiet);
    assert_int_equal(dback.key_count, 2);
    assert_string_equal(dback.keys[1], "exampledir/b&c.txt");
    ossxml_free(doc);
    free(xml);
    json_decref(vec);

    doc = parse_str("<Delete><Object><Key>k</Key></Object></Delete>");
    assert_int_equal(ossxml_get_delete(doc, &dback, &err), 0);
    assert_false(dback.quiet);
    ossxml_free(doc);
    doc = parse_str("<Delete><Quiet>yes</Quiet></Delete>");
    assert_int_equal(ossxml_get_delete(doc, &dback, &err), -OTSYNC_EPROTO);
    ossxml_free(doc);
    doc = parse_str("<Delete><Object><VersionId>1</VersionId></Object></Delete>");
    assert_int_equal(ossxml_get_delete(doc, &dback, &err), -OTSYNC_EPROTO);
    ossxml_free(doc);

    assert_int_equal(ossxml_write_delete_result(&r, &xml, &len, &err), 0);
    assert_non_null(strstr(xml, "<Key>a%20b%2Bc</Key>"));
    doc = parse_ok(xml, len);
    assert_int_equal(ossxml_get_delete_result(doc, &rback, &err), 0);
    assert_int_equal(rback.deleted_count, 2);
    assert_string_equal(rback.deleted[0], "a b+c");
    assert_string_equal(rback.deleted[1], "数");
    ossxml_free(doc);
    free(xml);
}

/* Well-formed documents a view must still refuse. */
static void
test_bad_views(void **state)
{
    static const char *const lists[] = {
        "<ListBucketResult><Contents><Key>k</Key><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><IsTruncated>no</IsTruncated></ListBucketResult>",
        "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Size>1</Size></Contents>"
        "</ListBucketResult>",
        "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key></Contents>"
        "</ListBucketResult>",
        "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key>"
        "<Size>12a</Size></Contents></ListBucketResult>",
        "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key>"
        "<Size>18446744073709551616</Size></Contents></ListBucketResult>",
        "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key>"
        "<Size>-1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key>"
        "<Size></Size></Contents></ListBucketResult>",
        "<ListBucketResult><IsTruncated>false</IsTruncated><EncodingType>url</EncodingType>"
        "<Contents><Key>a%zz</Key><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><IsTruncated>false</IsTruncated><EncodingType>url</EncodingType>"
        "<Contents><Key>a%00b</Key><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><IsTruncated>false</IsTruncated><EncodingType>url</EncodingType>"
        "<Contents><Key>a%4</Key><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><IsTruncated>false</IsTruncated><CommonPrefixes/></ListBucketResult>",
        "<Error><Code>x</Code></Error>",
    };
    static const char *const parts[] = {
        "<CompleteMultipartUpload><Part><PartNumber>0</PartNumber><ETag>e</ETag></Part>"
        "</CompleteMultipartUpload>",
        "<CompleteMultipartUpload><Part><PartNumber>10001</PartNumber><ETag>e</ETag></Part>"
        "</CompleteMultipartUpload>",
        "<CompleteMultipartUpload><Part><PartNumber>4294967297</PartNumber><ETag>e</ETag>"
        "</Part></CompleteMultipartUpload>",
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part>"
        "</CompleteMultipartUpload>",
        "<CompleteMultipartUpload><Part><ETag>e</ETag></Part></CompleteMultipartUpload>",
        "<Complete><Part><PartNumber>1</PartNumber><ETag>e</ETag></Part></Complete>",
    };
    struct ossxml_complete c;
    struct ossxml_list l;
    struct ossxml_doc *doc;
    struct otsync_err err;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        print_message("bad listing %zu\n", i);
        doc = parse_str(lists[i]);
        assert_int_equal(ossxml_get_list(doc, &l, &err), -OTSYNC_EPROTO);
        assert_int_equal(l.object_count, 0);
        ossxml_free(doc);
    }
    for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        print_message("bad part list %zu\n", i);
        doc = parse_str(parts[i]);
        assert_int_equal(ossxml_get_complete(doc, &c, &err), -OTSYNC_EPROTO);
        ossxml_free(doc);
    }
}

static void
test_malformed(void **state)
{
    static const char *const bad[] = {
        "", "   ", "<?xml version=\"1.0\"?>", "<!-- only a comment -->", "text", "x<a/>",
        "<a>", "<a></a", "<a></b>", "<a><b></a></b>", "</a>", "<a/><b/>", "<a/>x", "<a/><",
        "<a b></a>", "<a b=c></a>", "<a b='<'></a>", "<a b='1'c='2'/>", "<a b='1' b='2'/>",
        "<a b=\"1'/>", "<:a/>", "<a:/>", "<a:b:c/>", "<1a/>", "< a/>", "<a", "<a/",
        "<a>&amp</a>", "<a>&foo;</a>", "<a>&#;</a>", "<a>&#x;</a>", "<a>&#0;</a>",
        "<a>&#xD800;</a>", "<a>&#x110000;</a>", "<a>&#99999999999;</a>", "<a>&#12a;</a>",
        "<a>&#x1;</a>", "<a>&</a>", "<a>&;</a>", "<a>\x01</a>", "<a>\x7f\x80</a>",
        "<a>\xc0\xaf</a>", "<a>\xed\xa0\x80</a>", "<a>\xf4\x90\x80\x80</a>", "<a>\xe6\x95</a>",
        "<a>\xff</a>", "<a>\xef\xbf\xbe</a>", "<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>",
        "<a><!DOCTYPE b></a>", "<a><![CDATA[x</a>", "<a><![CDATA[\x01]]></a>",
        "<a><!-- x </a>", "<a><?pi </a>", "<a/><!-- x", "<?xml version='1.0'",
        "<a></a >x", "<a></ a>", "<a x='&#60;' y='&bad;'/>",
    };
    static const char good[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult a=\"1\"><Name>b</Name>"
        "<IsTruncated>false</IsTruncated><Contents><Key>k&amp;1</Key><Size>1</Size></Contents>"
        "<!-- c --><X><![CDATA[z]]></X></ListBucketResult>";
    static char buf[8192];
    struct ossxml_doc *doc;
    struct otsync_err err;
    size_t i, n;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        print_message("malformed %zu\n", i);
        expect_bad(bad[i], strlen(bad[i]));
    }
    /* a NUL byte inside text */
    expect_bad("<a>x\0y</a>", 10);
    /* every truncation of a good document */
    for (n = 0; n < sizeof(good) - 1; n++)
        expect_bad(good, n);
    doc = parse_ok(good, sizeof(good) - 1);
    ossxml_free(doc);

    /* one level too deep */
    for (n = 0, i = 0; i <= OSSXML_MAX_DEPTH; i++)
        n += (size_t)sprintf(buf + n, "<a>");
    for (i = 0; i <= OSSXML_MAX_DEPTH; i++)
        n += (size_t)sprintf(buf + n, "</a>");
    expect_bad(buf, n);
    assert_int_equal(parse_exact(buf, n, &doc, &err), -OTSYNC_EPROTO);
    assert_non_null(strstr(err.msg, "deeper than"));

    /* a huge attribute, too many attributes, a huge name */
    n = (size_t)sprintf(buf, "<a v='");
    memset(buf + n, 'x', OSSXML_MAX_ATTR_VALUE + 1);
    n += OSSXML_MAX_ATTR_VALUE + 1;
    n += (size_t)sprintf(buf + n, "'/>");
    expect_bad(buf, n);
    assert_int_equal(parse_exact(buf, n, &doc, &err), -OTSYNC_EPROTO);
    assert_string_equal(err.msg, "xml: byte 6: attribute value longer than 1024 bytes");
    n = (size_t)sprintf(buf, "<a");
    for (i = 0; i <= OSSXML_MAX_ATTRS; i++)
        n += (size_t)sprintf(buf + n, " a%zu='1'", i);
    n += (size_t)sprintf(buf + n, "/>");
    expect_bad(buf, n);
    buf[0] = '<';
    memset(buf + 1, 'n', OSSXML_MAX_NAME + 1);
    memcpy(buf + 2 + OSSXML_MAX_NAME, "/>", 2);
    expect_bad(buf, OSSXML_MAX_NAME + 4);

    /* error messages name the offset */
    assert_int_equal(parse_exact("<a>\n<b></c></a>", 15, &doc, &err), -OTSYNC_EPROTO);
    assert_string_equal(err.msg, "xml: byte 7: </c> does not close <b>");
    assert_int_equal(parse_exact("<a>&nbsp;</a>", 13, &doc, &err), -OTSYNC_EPROTO);
    assert_string_equal(err.msg, "xml: byte 3: unknown entity '&nbsp;'");
}

/* Deterministic mutations of good documents: anything may come back but a crash or a leak. */
static void
test_mutations(void **state)
{
    static const char *const seeds[] = {
        "<?xml version=\"1.0\"?>\n<ListBucketResult><Name>b</Name><Prefix></Prefix>"
        "<IsTruncated>true</IsTruncated><EncodingType>url</EncodingType><Contents><Key>a%2Fb"
        "</Key><Size>12</Size><Owner><ID>1</ID></Owner></Contents><CommonPrefixes><Prefix>p%20"
        "</Prefix></CommonPrefixes></ListBucketResult>",
        "<Error xmlns='u'><Code>C</Code><Message>&lt;m&#x4e2d;</Message><![CDATA[x]]></Error>",
        "<ListPartsResult><IsTruncated>false</IsTruncated><Part><PartNumber>1</PartNumber>"
        "<ETag>e</ETag><Size>3</Size><HashCrc64ecma>9</HashCrc64ecma></Part></ListPartsResult>",
    };
    static const char junk[] = "<>/&;#x'\"=![]-?\r\n \x80\xff\xe6\x00aZ9:";
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    char buf[1024];
    size_t s, i, n, k, accepted = 0;

    (void)state;
    for (i = 0; i < 30000; i++) {
        struct ossxml_doc *doc = NULL;
        struct otsync_err err;
        union {
            struct ossxml_list l;
            struct ossxml_error e;
            struct ossxml_list_parts p;
        } u;

        s = i % 3;
        n = strlen(seeds[s]);
        memcpy(buf, seeds[s], n);
        for (k = 0; k < 1 + i % 4; k++) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            switch (rng % 3) {
            case 0:     /* overwrite */
                buf[(rng >> 8) % n] = junk[(rng >> 24) % (sizeof(junk) - 1)];
                break;
            case 1:     /* cut */
                n = (rng >> 8) % (n + 1);
                break;
            default:    /* duplicate a span */
                if (n > 0 && n < sizeof(buf) / 2) {
                    size_t at = (rng >> 8) % n, len = (rng >> 24) % (n - at) + 1;
                    memmove(buf + at + len, buf + at, n - at);
                    n += len;
                }
            }
            if (!n)
                break;
        }
        if (parse_exact(buf, n, &doc, &err) == 0) {
            accepted++;
            if (ossxml_get_list(doc, &u.l, &err) < 0 && ossxml_get_error(doc, &u.e, &err) < 0
                && ossxml_get_list_parts(doc, &u.p, &err) < 0)
                assert_int_equal(err.code, OTSYNC_EPROTO);
            ossxml_free(doc);
        }
    }
    print_message("%zu of 30000 mutants parsed\n", accepted);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_doc),
        cmocka_unit_test(test_syntax),
        cmocka_unit_test(test_list_v1),
        cmocka_unit_test(test_list_v2_url),
        cmocka_unit_test(test_multipart_docs),
        cmocka_unit_test(test_delete_docs),
        cmocka_unit_test(test_bad_views),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
