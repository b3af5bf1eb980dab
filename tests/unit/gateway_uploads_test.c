/* Unit tests for what decides an upload's fate before any file is kept:
 * the type by magic bytes (never by name) and the only names a stored file
 * is served under. */
#include <criterion/criterion.h>

#include <string.h>

#include "../../gateway/gw_uploads.h"

Test(gateway_uploads, type_by_magic_bytes)
{
    static const struct {
        const char *what;
        unsigned char head[16];
        size_t n;
        const char *mime;
    } cases[] = {
        {"JPEG (JFIF)",
         {0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F', 'I', 'F', 0, 1},
         12,
         "image/jpeg"},
        {"JPEG (Exif)",
         {0xff, 0xd8, 0xff, 0xe1, 0x12, 0x34, 'E', 'x', 'i', 'f', 0, 0},
         12,
         "image/jpeg"},
        {"PNG", {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d}, 12, "image/png"},
        {"WebP", {'R', 'I', 'F', 'F', 0x1a, 0, 0, 0, 'W', 'E', 'B', 'P'}, 12, "image/webp"},
        {"too short to judge", {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a}, 8, NULL},
        {"GIF", {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0}, 12, NULL},
        {"WAV (RIFF, not WebP)", {'R', 'I', 'F', 'F', 0x24, 0, 0, 0, 'W', 'A', 'V', 'E'}, 12, NULL},
        {"PNG with a broken signature",
         {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x00, 0, 0, 0, 0},
         12,
         NULL},
        {"JPEG missing its third byte", {0xff, 0xd8, 0x00, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0}, 12, NULL},
        {"text", {'<', 's', 'v', 'g', ' ', 'o', 'n', 'l', 'o', 'a', 'd', '='}, 12, NULL},
        {"HTML", {'<', '!', 'D', 'O', 'C', 'T', 'Y', 'P', 'E', ' ', 'h', 't'}, 12, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = gw_upload_sniff(cases[i].head, cases[i].n);
        if (cases[i].mime == NULL)
            cr_expect_null(got, "%s: %s", cases[i].what, got);
        else
            cr_expect(got != NULL && strcmp(got, cases[i].mime) == 0, "%s: %s", cases[i].what,
                      got != NULL ? got : "(none)");
    }
}

Test(gateway_uploads, only_generated_names_are_served)
{
    static const struct {
        const char *name;
        bool valid;
    } cases[] = {
        {"0123456789abcdef0123456789abcdef.png", true},
        {"ffffffffffffffffffffffffffffffff.jpg", true},
        {"00000000000000000000000000000000.webp", true},
        {"0123456789ABCDEF0123456789abcdef.png", false},
        {"0123456789abcdef0123456789abcde.png", false},
        {"0123456789abcdef0123456789abcdef0.png", false},
        {"0123456789abcdef0123456789abcdef.gif", false},
        {"0123456789abcdef0123456789abcdef.PNG", false},
        {"0123456789abcdef0123456789abcdef.png/", false},
        {"0123456789abcdef0123456789abcdef.pngx", false},
        {"0123456789abcdef0123456789abcdef", false},
        {"0123456789abcdef0123456789abcdef.", false},
        {".upload-0123456789abcdef0123456789abcdef.part", false},
        {"../0123456789abcdef0123456789abcdef.png", false},
        {"..", false},
        {"", false},
        {"ABC.png", false},
        {NULL, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_expect_eq(gw_upload_name_valid(cases[i].name), cases[i].valid, "%s",
                     cases[i].name != NULL ? cases[i].name : "(null)");
}
