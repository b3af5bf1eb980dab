/* Unit tests for common/pbjson.c: JSON <-> protobuf conversion as a client of
 * the HTTP API would see it (values, error paths and messages, limits). */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bp.h"
#include "pbjson.h"
#include "pbtest.pb-c.h"

#define ALL (&bp__test__all_kinds__descriptor)

/* What an empty AllKinds looks like: every field, unset ones null. */
static const char *const EMPTY_ALL =
    "{\"s\":null,\"b\":null,\"i32\":null,\"i64\":null,\"u32\":null,\"d\":null,"
    "\"color\":null,\"raw\":null,\"inner\":null,\"names\":[],\"numbers\":[],\"weekly\":[],"
    "\"u64\":null,\"f\":null,\"si32\":null,\"sf64\":null,\"fx32\":null,\"longs\":[],"
    "\"colors\":[],\"blobs\":[],\"flags\":[],\"ratios\":[],\"health\":null,\"greeting\":null,"
    "\"answer\":null,\"by_name\":null,\"by_id\":null,\"by_inner\":null}";

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);

    cr_assert_not_null(j, "bad JSON in test: %s (%s)", text, jerr.text);
    return j;
}

/* Compares by canonical text so a failure shows both documents. */
static void expect_json(const json_t *got, const json_t *want, const char *what)
{
    size_t flags = JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY;
    char *g = got ? json_dumps(got, flags) : NULL;
    char *w = json_dumps(want, flags);

    cr_expect_str_eq(g ? g : "(null)", w, "%s", what);
    free(g);
    free(w);
}

/* The full encoding expected for AllKinds: the empty one with overlay's
 * fields replaced. */
static json_t *all_with(const char *overlay)
{
    json_t *want = load(EMPTY_ALL);
    json_t *over = load(overlay);

    json_object_update(want, over);
    json_decref(over);
    return want;
}

static int decode_text(const ProtobufCMessageDescriptor *d, const char *text,
                       ProtobufCMessage **out, bp_pbjson_error *err)
{
    json_t *in = load(text);
    int rv = bp_pbjson_decode(d, in, out, err);

    json_decref(in);
    return rv;
}

/* ---- round trips ------------------------------------------------------ */

struct trip {
    const char *input;
    const char *output; /* the fields as encoded; NULL: same as input */
};

static const struct trip trips[] = {
    {"{\"s\":\"Corte y barba, ñandú ✂\"}", NULL},
    {"{\"s\":\"\"}", NULL},
    {"{\"b\":true}", NULL},
    {"{\"b\":false}", NULL},
    {"{\"i32\":-2147483648}", NULL},
    {"{\"i32\":2147483647}", NULL},
    {"{\"i64\":9007199254740993}", NULL},
    {"{\"i64\":-9223372036854775808}", NULL},
    {"{\"u32\":4294967295}", NULL},
    {"{\"d\":1.5}", NULL},
    {"{\"d\":2}", "{\"d\":2.0}"},
    {"{\"color\":\"BLUE\"}", NULL},
    {"{\"color\":2}", "{\"color\":\"GREEN\"}"},
    {"{\"raw\":\"aGVsbG8=\"}", NULL},
    {"{\"raw\":\"AAEC/w==\"}", NULL},
    {"{\"raw\":\"-_8\"}", "{\"raw\":\"+/8=\"}"},
    {"{\"raw\":\"\"}", NULL},
    {"{\"inner\":{\"name\":\"x\",\"count\":3,\"tags\":[\"a\",\"b\"]}}", NULL},
    {"{\"inner\":{}}", "{\"inner\":{\"name\":null,\"count\":null,\"tags\":[]}}"},
    {"{\"names\":[\"ana\",\"beto\"],\"numbers\":[1,-2,3]}", NULL},
    {"{\"weekly\":[{\"start\":\"09:00\",\"end\":\"13:00\",\"weekday\":1},{\"weekday\":6}]}",
     "{\"weekly\":[{\"start\":\"09:00\",\"end\":\"13:00\",\"weekday\":1},"
     "{\"start\":null,\"end\":null,\"weekday\":6}]}"},
    {"{\"u64\":5}", NULL},
    {"{\"u64\":\"18446744073709551615\"}", NULL},
    {"{\"u64\":\"12\"}", "{\"u64\":12}"},
    {"{\"f\":0.5}", NULL},
    {"{\"si32\":-5,\"sf64\":-7,\"fx32\":7}", NULL},
    {"{\"longs\":[1,-9223372036854775808],\"flags\":[true,false],\"ratios\":[0.25,3]}",
     "{\"longs\":[1,-9223372036854775808],\"flags\":[true,false],\"ratios\":[0.25,3.0]}"},
    {"{\"colors\":[\"RED\",3],\"blobs\":[\"AA==\",\"\"]}",
     "{\"colors\":[\"RED\",\"BLUE\"],\"blobs\":[\"AA==\",\"\"]}"},
    {"{\"health\":{\"status\":\"ok\"}}", NULL},
    {"{\"greeting\":\"chau\",\"answer\":7}", NULL},
    {"{\"greeting\":\"hola\",\"answer\":42}", NULL},
    {"{\"by_name\":\"pepe\"}", NULL},
    {"{\"by_id\":0}", NULL},
    {"{\"by_inner\":{\"name\":\"n\",\"count\":null,\"tags\":[]}}", NULL},
    {"{\"zzz\":1,\"s\":\"a\",\"inner\":{\"unknown\":[1,2]}}",
     "{\"s\":\"a\",\"inner\":{\"name\":null,\"count\":null,\"tags\":[]}}"},
    {"{\"s\":null,\"i32\":null,\"names\":null,\"inner\":null,\"by_id\":null}", "{}"},
    {"{\"names\":[],\"weekly\":[]}", NULL},
};

Test(pbjson, round_trip)
{
    for (size_t i = 0; i < BP_COUNTOF(trips); i++) {
        ProtobufCMessage *msg = NULL;
        bp_pbjson_error err = {.field = ""};
        int rv = decode_text(ALL, trips[i].input, &msg, &err);

        cr_expect_eq(rv, 0, "%s: rv %d at %s: %s", trips[i].input, rv, err.field, err.message);
        if (rv != 0)
            continue;
        json_t *got = bp_pbjson_encode(msg);
        json_t *want = all_with(trips[i].output ? trips[i].output : trips[i].input);
        expect_json(got, want, trips[i].input);
        json_decref(got);
        json_decref(want);
        bp_pbjson_free(msg);
    }
}

Test(pbjson, empty_message_has_every_field)
{
    ProtobufCMessage *msg = bp_pbjson_new(ALL);
    json_t *got = bp_pbjson_encode(msg);
    json_t *want = load(EMPTY_ALL);

    cr_assert_not_null(msg);
    expect_json(got, want, "empty AllKinds");
    cr_expect_eq(json_object_size(got), ALL->n_fields);
    json_decref(got);
    json_decref(want);
    bp_pbjson_free(msg);
}

Test(pbjson, decoded_fields_in_c_layout)
{
    ProtobufCMessage *msg = NULL;
    bp_pbjson_error err = {.field = ""};
    int rv = decode_text(ALL,
                         "{\"s\":\"x\",\"i32\":-3,\"raw\":\"aGk=\",\"names\":[\"a\",\"b\"],"
                         "\"weekly\":[{\"start\":\"10:00\"}],\"by_id\":4}",
                         &msg, &err);

    cr_assert_eq(rv, 0, "%s: %s", err.field, err.message);
    Bp__Test__AllKinds *m = (Bp__Test__AllKinds *)msg;
    cr_expect_str_eq(m->s, "x");
    cr_expect(m->has_i32 && m->i32 == -3);
    cr_expect(!m->has_i64 && !m->has_b && m->inner == NULL);
    cr_expect(m->has_raw && m->raw.len == 2 && memcmp(m->raw.data, "hi", 2) == 0);
    cr_expect_eq(m->n_names, 2);
    cr_expect_str_eq(m->names[1], "b");
    cr_expect_eq(m->n_weekly, 1);
    cr_expect_str_eq(m->weekly[0]->start, "10:00");
    cr_expect_eq(m->target_case, BP__TEST__ALL_KINDS__TARGET_BY_ID);
    cr_expect_eq(m->by_id, 4);
    /* Unset fields keep their proto defaults, as protobuf-c readers expect. */
    cr_expect(!m->has_answer && m->answer == 42);
    cr_expect_str_eq(m->greeting, "hola");
    bp_pbjson_free(msg);
}

/* ---- type errors -------------------------------------------------------- */

struct bad {
    const ProtobufCMessageDescriptor *desc;
    const char *input;
    const char *field;
    const char *message; /* a part of the reason */
};

static const struct bad bads[] = {
    {ALL, "{\"i32\":\"5\"}", "i32", "debe ser un número entero"},
    {ALL, "{\"i32\":1.5}", "i32", "debe ser un número entero"},
    {ALL, "{\"i32\":2147483648}", "i32", "entre -2147483648 y 2147483647"},
    {ALL, "{\"i32\":-2147483649}", "i32", "entre -2147483648 y 2147483647"},
    {ALL, "{\"i32\":true}", "i32", "debe ser un número entero"},
    {ALL, "{\"i64\":1.0}", "i64", "debe ser un número entero"},
    {ALL, "{\"i64\":\"12\"}", "i64", "debe ser un número entero"},
    {ALL, "{\"u32\":-1}", "u32", "entre 0 y 4294967295"},
    {ALL, "{\"u32\":4294967296}", "u32", "entre 0 y 4294967295"},
    {ALL, "{\"u64\":-1}", "u64", "no negativo"},
    {ALL, "{\"u64\":\"-1\"}", "u64", "no negativo"},
    {ALL, "{\"u64\":\"1e3\"}", "u64", "no negativo"},
    {ALL, "{\"u64\":\"18446744073709551616\"}", "u64", "entre 0 y 18446744073709551615"},
    {ALL, "{\"si32\":[1]}", "si32", "debe ser un número entero"},
    {ALL, "{\"s\":5}", "s", "debe ser un texto"},
    {ALL, "{\"s\":{}}", "s", "debe ser un texto"},
    {ALL, "{\"s\":[\"a\"]}", "s", "debe ser un texto"},
    {ALL, "{\"s\":false}", "s", "debe ser un texto"},
    {ALL, "{\"b\":1}", "b", "debe ser true o false"},
    {ALL, "{\"b\":\"true\"}", "b", "debe ser true o false"},
    {ALL, "{\"d\":\"1.5\"}", "d", "debe ser un número"},
    {ALL, "{\"f\":1e300}", "f", "fuera de rango"},
    {ALL, "{\"color\":\"PURPLE\"}", "color",
     "debe ser uno de: COLOR_UNSPECIFIED, RED, GREEN, BLUE"},
    {ALL, "{\"color\":\"red\"}", "color", "debe ser uno de"},
    {ALL, "{\"color\":9}", "color", "debe ser uno de"},
    {ALL, "{\"color\":1.0}", "color", "debe ser uno de"},
    {ALL, "{\"raw\":\"no base64!\"}", "raw", "base64"},
    {ALL, "{\"raw\":\"abcde\"}", "raw", "base64"},
    {ALL, "{\"raw\":\"ab=c\"}", "raw", "base64"},
    {ALL, "{\"raw\":12}", "raw", "base64"},
    {ALL, "{\"inner\":\"x\"}", "inner", "debe ser un objeto"},
    {ALL, "{\"inner\":[]}", "inner", "debe ser un objeto"},
    {ALL, "{\"inner\":{\"count\":\"x\"}}", "inner.count", "debe ser un número entero"},
    {ALL, "{\"inner\":{\"tags\":[\"a\",1]}}", "inner.tags.1", "debe ser un texto"},
    {ALL, "{\"names\":\"a\"}", "names", "debe ser una lista"},
    {ALL, "{\"names\":{}}", "names", "debe ser una lista"},
    {ALL, "{\"names\":[\"a\",null]}", "names.1", "no puede ser null"},
    {ALL, "{\"numbers\":[1,2.5]}", "numbers.1", "debe ser un número entero"},
    {ALL, "{\"weekly\":[{},{},{\"start\":9}]}", "weekly.2.start", "debe ser un texto"},
    {ALL, "{\"weekly\":[{},\"x\"]}", "weekly.1", "debe ser un objeto"},
    {ALL, "{\"colors\":[\"RED\",\"ROJO\"]}", "colors.1", "debe ser uno de"},
    {ALL, "{\"blobs\":[\"%%\"]}", "blobs.0", "base64"},
    {ALL, "{\"flags\":[0]}", "flags.0", "debe ser true o false"},
    {ALL, "{\"health\":{\"status\":1}}", "health.status", "debe ser un texto"},
    {ALL, "{\"by_name\":\"a\",\"by_id\":1}", "by_id", "junto con by_name"},
    {ALL, "{\"by_id\":1,\"by_inner\":{}}", "by_inner", "junto con by_id"},
    {&bp__test__strict__descriptor, "{\"version\":1}", "id", "es obligatorio"},
    {&bp__test__strict__descriptor, "{\"id\":\"a\",\"version\":null}", "version", "es obligatorio"},
    {ALL, "[]", "", "debe ser un objeto JSON"},
    {ALL, "\"s\"", "", "debe ser un objeto JSON"},
    {ALL, "null", "", "debe ser un objeto JSON"},
};

Test(pbjson, type_errors_name_the_field)
{
    for (size_t i = 0; i < BP_COUNTOF(bads); i++) {
        ProtobufCMessage *msg = (ProtobufCMessage *)&msg; /* must become NULL */
        bp_pbjson_error err = {.field = ""};
        int rv = decode_text(bads[i].desc, bads[i].input, &msg, &err);

        cr_expect_eq(rv, BP_EINVAL, "%s: rv %d", bads[i].input, rv);
        cr_expect_null(msg, "%s: no message on error", bads[i].input);
        cr_expect_str_eq(err.field, bads[i].field, "%s: field", bads[i].input);
        cr_expect_not_null(strstr(err.message, bads[i].message), "%s: message \"%s\"",
                           bads[i].input, err.message);
        bp_pbjson_free(msg);
    }
}

Test(pbjson, string_with_nul_is_refused)
{
    json_t *in = json_pack("{s:s#}", "s", "a\0b", (size_t)3);
    ProtobufCMessage *msg = NULL;
    bp_pbjson_error err = {.field = ""};

    cr_assert_not_null(in);
    cr_expect_eq(bp_pbjson_decode(ALL, in, &msg, &err), BP_EINVAL);
    cr_expect_str_eq(err.field, "s");
    cr_expect_str_eq(err.message, "no puede contener el carácter NUL");
    cr_expect_null(msg);
    json_decref(in);
}

Test(pbjson, error_is_optional)
{
    json_t *in = load("{\"i32\":\"x\"}");
    ProtobufCMessage *msg = NULL;
    ProtobufCMessage *empty = bp_pbjson_new(ALL);

    cr_expect_eq(bp_pbjson_decode(ALL, in, &msg, NULL), BP_EINVAL);
    cr_expect_eq(bp_pbjson_set_text(empty, "i32", "x", NULL), BP_EINVAL);
    cr_expect_eq(bp_pbjson_set_text(empty, NULL, "x", NULL), BP_EINVAL);
    bp_pbjson_free(empty);
    json_decref(in);
}

/* ---- limits ------------------------------------------------------------- */

/* {"next":{"next":...}} with depth objects in all. */
static json_t *tree_chain(int depth)
{
    json_t *node = json_object();

    json_object_set_new(node, "label", json_string("hoja"));
    for (int i = 1; i < depth; i++) {
        json_t *parent = json_object();
        json_object_set_new(parent, "next", node);
        node = parent;
    }
    return node;
}

Test(pbjson, depth_limit)
{
    const ProtobufCMessageDescriptor *tree = &bp__test__tree__descriptor;
    ProtobufCMessage *msg = NULL;
    bp_pbjson_error err = {.field = ""};
    json_t *ok = tree_chain(BP_PBJSON_MAX_DEPTH);
    json_t *deep = tree_chain(BP_PBJSON_MAX_DEPTH + 1);
    char path[128];
    size_t len = 0;

    cr_expect_eq(bp_pbjson_decode(tree, ok, &msg, &err), 0, "%s", err.message);
    bp_pbjson_free(msg);

    cr_expect_eq(bp_pbjson_decode(tree, deep, &msg, &err), BP_EINVAL);
    for (int i = 0; i < BP_PBJSON_MAX_DEPTH; i++)
        len += (size_t)snprintf(path + len, sizeof(path) - len, "%s", i ? ".next" : "next");
    cr_expect_str_eq(err.field, path);
    cr_expect_str_eq(err.message, "supera la profundidad máxima de 16 niveles");
    cr_expect_null(msg);
    json_decref(ok);
    json_decref(deep);
}

Test(pbjson, arrays_count_as_depth)
{
    const ProtobufCMessageDescriptor *tree = &bp__test__tree__descriptor;
    ProtobufCMessage *msg = NULL;
    bp_pbjson_error err = {.field = ""};
    /* Eight objects nested through "children" put the last array at depth 16. */
    const char *ok = "{\"children\":[{\"children\":[{\"children\":[{\"children\":[{\"children\":"
                     "[{\"children\":[{\"children\":[{\"children\":[]}]}]}]}]}]}]}]}";
    const char *deep = "{\"children\":[{\"children\":[{\"children\":[{\"children\":[{\"children\":"
                       "[{\"children\":[{\"children\":[{\"children\":[{}]}]}]}]}]}]}]}]}";

    cr_expect_eq(decode_text(tree, ok, &msg, &err), 0, "%s", err.message);
    bp_pbjson_free(msg);
    cr_expect_eq(decode_text(tree, deep, &msg, &err), BP_EINVAL);
    cr_expect_str_eq(err.field, "children.0.children.0.children.0.children.0.children.0."
                                "children.0.children.0.children.0");
    cr_expect_not_null(strstr(err.message, "profundidad"));
}

static json_t *repeat_string(const char *unit, size_t times, const char *extra)
{
    size_t ulen = strlen(unit), elen = strlen(extra);
    char *buf = malloc(ulen * times + elen + 1);
    json_t *j;

    for (size_t i = 0; i < times; i++)
        memcpy(buf + i * ulen, unit, ulen);
    memcpy(buf + ulen * times, extra, elen + 1);
    j = json_string(buf);
    free(buf);
    return j;
}

struct size_case {
    const char *field;
    const char *unit; /* repeated to fill the value */
    size_t times;
    const char *extra;
    int ok;
};

static const struct size_case sizes[] = {
    /* Counted in bytes: "ñ" is two. */
    {"s", "ñ", BP_PBJSON_MAX_STRING / 2, "", 1},
    {"s", "ñ", BP_PBJSON_MAX_STRING / 2, "a", 0},
    {"s", "a", BP_PBJSON_MAX_STRING, "", 1},
    /* 65536 bytes are 21845 groups of three plus one byte ("AA=="). */
    {"raw", "AAAA", BP_PBJSON_MAX_STRING / 3, "AA==", 1},
    {"raw", "AAAA", BP_PBJSON_MAX_STRING / 3, "AAA=", 0},
};

Test(pbjson, string_and_bytes_limits)
{
    for (size_t i = 0; i < BP_COUNTOF(sizes); i++) {
        const struct size_case *c = &sizes[i];
        json_t *in = json_object();
        ProtobufCMessage *msg = NULL;
        bp_pbjson_error err = {.field = ""};

        json_object_set_new(in, c->field, repeat_string(c->unit, c->times, c->extra));
        int rv = bp_pbjson_decode(ALL, in, &msg, &err);
        if (c->ok) {
            cr_expect_eq(rv, 0, "case %zu: %s", i, err.message);
        } else {
            cr_expect_eq(rv, BP_EINVAL, "case %zu", i);
            cr_expect_str_eq(err.field, c->field);
            cr_expect_str_eq(err.message, "supera el máximo de 65536 bytes");
        }
        if (rv == 0 && c->field[0] == 'r')
            cr_expect_eq(((Bp__Test__AllKinds *)msg)->raw.len, BP_PBJSON_MAX_STRING);
        bp_pbjson_free(msg);
        json_decref(in);
    }
}

Test(pbjson, array_length_limit)
{
    json_t *arr = json_array();
    json_t *in = json_object();
    ProtobufCMessage *msg = NULL;
    bp_pbjson_error err = {.field = ""};

    for (int i = 0; i < BP_PBJSON_MAX_ITEMS; i++)
        json_array_append_new(arr, json_integer(i));
    json_object_set(in, "numbers", arr);
    cr_expect_eq(bp_pbjson_decode(ALL, in, &msg, &err), 0, "%s", err.message);
    cr_expect_eq(((Bp__Test__AllKinds *)msg)->n_numbers, BP_PBJSON_MAX_ITEMS);
    bp_pbjson_free(msg);

    json_array_append_new(arr, json_integer(0));
    cr_expect_eq(bp_pbjson_decode(ALL, in, &msg, &err), BP_EINVAL);
    cr_expect_str_eq(err.field, "numbers");
    cr_expect_str_eq(err.message, "admite como máximo 1000 elementos");
    json_decref(arr);
    json_decref(in);
}

Test(pbjson, deep_paths_name_every_step)
{
    json_t *node = json_pack("{s:i}", "label", 1);
    ProtobufCMessage *msg = NULL;
    bp_pbjson_error err = {.field = ""};

    /* children.0 x 7 then "label": 7 * 11 + 5 chars, within the depth limit. */
    for (int i = 0; i < 7; i++)
        node = json_pack("{s:[o]}", "children", node);
    cr_expect_eq(bp_pbjson_decode(&bp__test__tree__descriptor, node, &msg, &err), BP_EINVAL);
    cr_expect_str_eq(err.field, "children.0.children.0.children.0.children.0.children.0."
                                "children.0.children.0.label");
    json_decref(node);
}

/* ---- set_text ----------------------------------------------------------- */

struct text_case {
    const char *name;
    const char *text;
    const char *want; /* JSON of the field after the call */
};

static const struct text_case texts[] = {
    {"s", "hola mundo", "\"hola mundo\""},
    {"s", "", "\"\""},
    {"s", "peluquería", "\"peluquería\""},
    {"b", "true", "true"},
    {"b", "1", "true"},
    {"b", "false", "false"},
    {"b", "0", "false"},
    {"i32", "-42", "-42"},
    {"i32", "2147483647", "2147483647"},
    {"i32", "007", "7"},
    {"i64", "-9223372036854775808", "-9223372036854775808"},
    {"u32", "4294967295", "4294967295"},
    {"u64", "18446744073709551615", "\"18446744073709551615\""},
    {"u64", "5", "5"},
    {"si32", "-1", "-1"},
    {"sf64", "123456789012", "123456789012"},
    {"fx32", "8", "8"},
    {"d", "1.25", "1.25"},
    {"d", "-3", "-3.0"},
    {"d", "1e3", "1000.0"},
    {"f", "0.5", "0.5"},
    {"color", "GREEN", "\"GREEN\""},
    {"color", "3", "\"BLUE\""},
    {"raw", "aGk=", "\"aGk=\""},
    {"names", "ana", "[\"ana\"]"},
    {"numbers", "7", "[7]"},
    {"longs", "-1", "[-1]"},
    {"colors", "RED", "[\"RED\"]"},
    {"blobs", "AA", "[\"AA==\"]"},
    {"flags", "0", "[false]"},
    {"ratios", "0.25", "[0.25]"},
    {"greeting", "buen día", "\"buen día\""},
    {"by_id", "9", "9"},
    {"by_name", "x", "\"x\""},
};

Test(pbjson, set_text_each_type)
{
    for (size_t i = 0; i < BP_COUNTOF(texts); i++) {
        ProtobufCMessage *msg = bp_pbjson_new(ALL);
        bp_pbjson_error err = {.field = ""};
        int rv = bp_pbjson_set_text(msg, texts[i].name, texts[i].text, &err);

        cr_expect_eq(rv, 0, "%s=%s: %s", texts[i].name, texts[i].text, err.message);
        json_t *got = bp_pbjson_encode(msg);
        json_t *want = load(texts[i].want);
        expect_json(json_object_get(got, texts[i].name), want, texts[i].name);
        json_decref(got);
        json_decref(want);
        bp_pbjson_free(msg);
    }
}

struct text_bad {
    const char *name;
    const char *text;
    const char *message; /* a part of the reason */
};

static const struct text_bad text_bads[] = {
    {"i32", "abc", "debe ser un número entero"},
    {"i32", "", "debe ser un número entero"},
    {"i32", " 1", "debe ser un número entero"},
    {"i32", "+1", "debe ser un número entero"},
    {"i32", "1.0", "debe ser un número entero"},
    {"i32", "12abc", "debe ser un número entero"},
    {"i32", "2147483648", "entre -2147483648 y 2147483647"},
    {"i32", "99999999999999999999", "entre -2147483648 y 2147483647"},
    {"i64", "9223372036854775808", "entre -9223372036854775808 y 9223372036854775807"},
    {"u32", "-1", "entre 0 y 4294967295"},
    {"u64", "-1", "no negativo"},
    {"u64", "18446744073709551616", "entre 0 y 18446744073709551615"},
    {"b", "yes", "debe ser true o false"},
    {"b", "TRUE", "debe ser true o false"},
    {"d", "abc", "debe ser un número"},
    {"d", "inf", "debe ser un número"},
    {"d", "nan", "debe ser un número"},
    {"d", "0x10", "debe ser un número"},
    {"d", " 1", "debe ser un número"},
    {"d", "1e999", "fuera de rango"},
    {"f", "1e39", "fuera de rango"},
    {"color", "PURPLE", "debe ser uno de: COLOR_UNSPECIFIED, RED, GREEN, BLUE"},
    {"color", "9", "debe ser uno de"},
    {"raw", "***", "base64"},
    {"inner", "x", "no se puede indicar como texto"},
    {"weekly", "x", "no se puede indicar como texto"},
    {"s", "caf\xc3", "UTF-8"},
    {"s", "\xed\xa0\x80", "UTF-8"},
    {"s", "\xc0\xaf", "UTF-8"},
    {"numbers", "x", "debe ser un número entero"},
};

Test(pbjson, set_text_errors_name_the_parameter)
{
    for (size_t i = 0; i < BP_COUNTOF(text_bads); i++) {
        ProtobufCMessage *msg = bp_pbjson_new(ALL);
        bp_pbjson_error err = {.field = ""};
        int rv = bp_pbjson_set_text(msg, text_bads[i].name, text_bads[i].text, &err);

        cr_expect_eq(rv, BP_EINVAL, "%s=%s: rv %d", text_bads[i].name, text_bads[i].text, rv);
        cr_expect_str_eq(err.field, text_bads[i].name);
        cr_expect_not_null(strstr(err.message, text_bads[i].message), "%s=%s: \"%s\"",
                           text_bads[i].name, text_bads[i].text, err.message);
        /* A refused value leaves the message as it was. */
        json_t *got = bp_pbjson_encode(msg);
        json_t *want = load(EMPTY_ALL);
        expect_json(got, want, text_bads[i].name);
        json_decref(got);
        json_decref(want);
        bp_pbjson_free(msg);
    }
}

Test(pbjson, set_text_replaces_appends_and_ignores)
{
    ProtobufCMessage *msg = NULL;
    bp_pbjson_error err = {.field = ""};

    cr_assert_eq(decode_text(ALL, "{\"s\":\"a\",\"names\":[\"x\"],\"raw\":\"AA==\"}", &msg, &err),
                 0);
    cr_expect_eq(bp_pbjson_set_text(msg, "s", "b", &err), 0);
    cr_expect_eq(bp_pbjson_set_text(msg, "names", "y", &err), 0);
    cr_expect_eq(bp_pbjson_set_text(msg, "names", "z", &err), 0);
    cr_expect_eq(bp_pbjson_set_text(msg, "raw", "AQ==", &err), 0);
    cr_expect_eq(bp_pbjson_set_text(msg, "no_such_field", "1", &err), 0);
    cr_expect_eq(bp_pbjson_set_text(msg, "greeting", "che", &err), 0);
    cr_expect_eq(bp_pbjson_set_text(msg, "greeting", "chau", &err), 0);

    json_t *got = bp_pbjson_encode(msg);
    json_t *want = all_with("{\"s\":\"b\",\"names\":[\"x\",\"y\",\"z\"],\"raw\":\"AQ==\","
                            "\"greeting\":\"chau\"}");
    expect_json(got, want, "after set_text");
    json_decref(got);
    json_decref(want);
    bp_pbjson_free(msg);
}

Test(pbjson, set_text_switches_oneof_member)
{
    ProtobufCMessage *msg = NULL;
    bp_pbjson_error err = {.field = ""};

    cr_assert_eq(decode_text(ALL, "{\"by_inner\":{\"name\":\"n\",\"tags\":[\"t\"]}}", &msg, &err),
                 0);
    cr_expect_eq(bp_pbjson_set_text(msg, "by_name", "ana", &err), 0);
    cr_expect_eq(bp_pbjson_set_text(msg, "by_name", "beto", &err), 0);
    cr_expect_eq(bp_pbjson_set_text(msg, "by_id", "3", &err), 0);

    json_t *got = bp_pbjson_encode(msg);
    json_t *want = all_with("{\"by_id\":3}");
    expect_json(got, want, "oneof after set_text");
    json_decref(got);
    json_decref(want);
    bp_pbjson_free(msg);
}

Test(pbjson, set_text_limits)
{
    ProtobufCMessage *msg = bp_pbjson_new(ALL);
    bp_pbjson_error err = {.field = ""};
    char *big = malloc(BP_PBJSON_MAX_STRING + 2);

    for (int i = 0; i < BP_PBJSON_MAX_ITEMS; i++)
        cr_assert_eq(bp_pbjson_set_text(msg, "names", "n", &err), 0);
    cr_expect_eq(bp_pbjson_set_text(msg, "names", "n", &err), BP_EINVAL);
    cr_expect_str_eq(err.field, "names");
    cr_expect_str_eq(err.message, "admite como máximo 1000 elementos");

    memset(big, 'a', BP_PBJSON_MAX_STRING + 1);
    big[BP_PBJSON_MAX_STRING + 1] = '\0';
    cr_expect_eq(bp_pbjson_set_text(msg, "s", big, &err), BP_EINVAL);
    cr_expect_str_eq(err.message, "supera el máximo de 65536 bytes");
    big[BP_PBJSON_MAX_STRING] = '\0';
    cr_expect_eq(bp_pbjson_set_text(msg, "s", big, &err), 0);
    free(big);
    bp_pbjson_free(msg);
}

/* ---- messages from protobuf_c_message_unpack ---------------------------- */

/* Packs m and unpacks it again, as a reply arrives over the bus. */
static ProtobufCMessage *over_the_wire(const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    ProtobufCMessage *back;

    protobuf_c_message_pack(m, buf);
    back = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
    free(buf);
    cr_assert_not_null(back);
    return back;
}

Test(pbjson, encodes_unpacked_messages)
{
    static const char *docs[] = {
        "{\"s\":\"Turno confirmado ✂\",\"b\":true,\"i32\":-1,\"i64\":1733333333000,"
        "\"u32\":7,\"d\":0.5,\"color\":\"RED\",\"raw\":\"AAEC\","
        "\"inner\":{\"name\":\"in\",\"count\":2,\"tags\":[\"a\"]},\"names\":[\"x\",\"y\"],"
        "\"numbers\":[3,2,1],\"weekly\":[{\"start\":\"09:00\",\"end\":\"18:00\",\"weekday\":2}],"
        "\"u64\":\"18446744073709551615\",\"f\":1.5,\"si32\":-9,\"sf64\":-10,\"fx32\":11,"
        "\"longs\":[-1],\"colors\":[\"GREEN\"],\"blobs\":[\"/w==\"],\"flags\":[true],"
        "\"ratios\":[0.75],\"health\":{\"status\":\"ok\"},\"greeting\":\"hi\",\"answer\":1,"
        "\"by_inner\":{\"name\":null,\"count\":5,\"tags\":[]}}",
        "{\"by_name\":\"n\",\"answer\":42}",
        "{}",
    };

    for (size_t i = 0; i < BP_COUNTOF(docs); i++) {
        ProtobufCMessage *msg = NULL;
        bp_pbjson_error err = {.field = ""};

        cr_assert_eq(decode_text(ALL, docs[i], &msg, &err), 0, "%s: %s", err.field, err.message);
        ProtobufCMessage *back = over_the_wire(msg);
        json_t *direct = bp_pbjson_encode(msg);
        json_t *got = bp_pbjson_encode(back);
        json_t *want = all_with(docs[i]);
        expect_json(direct, want, docs[i]);
        expect_json(got, want, docs[i]);
        json_decref(direct);
        json_decref(got);
        json_decref(want);
        protobuf_c_message_free_unpacked(back, NULL);
        bp_pbjson_free(msg);
    }
}

Test(pbjson, encodes_what_json_cannot_hold)
{
    Bp__Test__AllKinds m = BP__TEST__ALL_KINDS__INIT;
    double ratios[] = {INFINITY, 1.0};
    Bp__Test__Color colors[] = {BP__TEST__COLOR__RED, 77};

    m.s = "a\xff"
          "b\xc3";
    m.has_d = 1;
    m.d = NAN;
    m.n_ratios = 2;
    m.ratios = ratios;
    m.has_color = 1;
    m.color = 77; /* a value from a newer peer */
    m.n_colors = 2;
    m.colors = colors;
    m.has_u64 = 1;
    m.u64 = UINT64_MAX;

    ProtobufCMessage *back = over_the_wire((ProtobufCMessage *)&m);
    json_t *got = bp_pbjson_encode(back);
    json_t *want = all_with("{\"s\":\"a\\ufffdb\\ufffd\",\"d\":null,\"ratios\":[null,1.0],"
                            "\"color\":77,\"colors\":[\"RED\",77],"
                            "\"u64\":\"18446744073709551615\"}");
    expect_json(got, want, "odd values");
    json_decref(got);
    json_decref(want);
    protobuf_c_message_free_unpacked(back, NULL);
}

Test(pbjson, decoded_message_packs_with_proto_defaults)
{
    ProtobufCMessage *msg = NULL;
    bp_pbjson_error err = {.field = ""};

    /* Unset optional fields must not be packed: the reader sees defaults. */
    cr_assert_eq(decode_text(ALL, "{\"i32\":0}", &msg, &err), 0);
    ProtobufCMessage *back = over_the_wire(msg);
    Bp__Test__AllKinds *m = (Bp__Test__AllKinds *)back;
    cr_expect(m->has_i32 && m->i32 == 0);
    cr_expect(!m->has_answer && m->answer == 42);
    cr_expect_str_eq(m->greeting, "hola");
    cr_expect_null(m->s);
    protobuf_c_message_free_unpacked(back, NULL);
    bp_pbjson_free(msg);
}
