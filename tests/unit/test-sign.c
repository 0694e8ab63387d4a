/*
 * test-sign.c - the signing primitives against published vectors: RFC 2202 (HMAC-SHA1),
 * RFC 4231 (HMAC-SHA256), RFC 1321 (MD5), FIPS 180-2 (SHA-256), RFC 4648 (base64).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "otsync/sign.h"

static void
test_hmac(void **state)
{
    unsigned char out[32], key[20];
    char hex[65];

    (void)state;
    memset(key, 0x0b, 20);
    assert_int_equal(sign_hmac_sha1(key, 20, "Hi There", 8, out), 0);
    assert_string_equal(sign_hex(out, 20, hex), "b617318655057264e28bc0b6fb378c8ef146be00");
    assert_int_equal(sign_hmac_sha1("Jefe", 4, "what do ya want for nothing?", 28, out), 0);
    assert_string_equal(sign_hex(out, 20, hex), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    assert_int_equal(sign_hmac_sha256(key, 20, "Hi There", 8, out), 0);
    assert_string_equal(sign_hex(out, 32, hex),
                        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

static void
test_digests(void **state)
{
    unsigned char out[32];
    char hex[65];

    (void)state;
    assert_int_equal(sign_md5("abc", 3, out), 0);
    assert_string_equal(sign_hex(out, 16, hex), "900150983cd24fb0d6963f7d28e17f72");
    assert_int_equal(sign_sha256("abc", 3, out), 0);
    assert_string_equal(sign_hex(out, 32, hex),
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void
test_base64(void **state)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                      "Zm9vYmFy"};
    char out[16];
    unsigned char dec[16];
    size_t i;

    (void)state;
    for (i = 0; i < 7; i++) {
        sign_base64(plain[i], strlen(plain[i]), out);
        assert_string_equal(out, enc[i]);
        assert_int_equal(sign_unbase64(enc[i], strlen(enc[i]), dec), (long)strlen(plain[i]));
        assert_memory_equal(dec, plain[i], strlen(plain[i]));
    }
    assert_int_equal(sign_unbase64("Zm9", 3, dec), -1);
    assert_int_equal(sign_unbase64("Zm!v", 4, dec), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac),
        cmocka_unit_test(test_digests),
        cmocka_unit_test(test_base64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
