/*
 * fuzz-ossxml.c - libFuzzer target: the OSS XML reader on arbitrary bodies, as the emulator
 * reads CompleteMultipartUpload and Delete requests and the client reads every answer: parse,
 * then every typed reader, then write back what a reader accepted.
 */
#include <stdint.h>
#include <stdlib.h>
#include "otsync/ossxml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ossxml_doc *doc = NULL;
    struct ossxml_error e;
    struct ossxml_list l;
    struct ossxml_initiate in;
    struct ossxml_complete c;
    struct ossxml_complete_result cr;
    struct ossxml_delete d;
    struct ossxml_delete_result dr;
    struct ossxml_list_parts lp;
    char *xml;
    size_t len;

    if (ossxml_parse((const char *)data, size, &doc, NULL) != 0)
        return 0;
    if (ossxml_get_error(doc, &e, NULL) == 0 && ossxml_write_error(&e, &xml, &len, NULL) == 0)
        free(xml);
    if (ossxml_get_list(doc, &l, NULL) == 0 && ossxml_write_list(&l, &xml, &len, NULL) == 0)
        free(xml);
    if (ossxml_get_initiate(doc, &in, NULL) == 0
        && ossxml_write_initiate(&in, &xml, &len, NULL) == 0)
        free(xml);
    if (ossxml_get_complete(doc, &c, NULL) == 0
        && ossxml_write_complete(&c, &xml, &len, NULL) == 0)
        free(xml);
    if (ossxml_get_complete_result(doc, &cr, NULL) == 0
        && ossxml_write_complete_result(&cr, &xml, &len, NULL) == 0)
        free(xml);
    if (ossxml_get_delete(doc, &d, NULL) == 0 && ossxml_write_delete(&d, &xml, &len, NULL) == 0)
        free(xml);
    if (ossxml_get_delete_result(doc, &dr, NULL) == 0
        && ossxml_write_delete_result(&dr, &xml, &len, NULL) == 0)
        free(xml);
    if (ossxml_get_list_parts(doc, &lp, NULL) == 0
        && ossxml_write_list_parts(&lp, &xml, &len, NULL) == 0)
        free(xml);
    ossxml_free(doc);
    return 0;
}
