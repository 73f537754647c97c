/* Unit tests for the configuration loader (src/core/config.c) and its key
 * tables: every default is valid, vestnik.conf.example documents exactly
 * the keys the tables declare, each with its default, and bad input is
 * refused with the line. The example's path is the first argument. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "xmpp/module.h"

static const char *example_path;

static char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/vn-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static int same_value(const vn_config_t *a, const vn_config_t *b, const vn_cfg_key_t *k)
{
    const char *pa = (const char *)a + k->offset, *pb = (const char *)b + k->offset;
    switch (k->type) {
    case VN_CFG_INT:
    case VN_CFG_BOOL:
    case VN_CFG_CHOICE:
        return *(const int *)pa == *(const int *)pb;
    case VN_CFG_SIZE:
        return *(const size_t *)pa == *(const size_t *)pb;
    case VN_CFG_U32:
        return *(const uint32_t *)pa == *(const uint32_t *)pb;
    case VN_CFG_U64:
        return *(const uint64_t *)pa == *(const uint64_t *)pb;
    case VN_CFG_STR:
    case VN_CFG_URIS: {
        const char *sa = *(char *const *)pa, *sb = *(char *const *)pb;
        return (!sa && !sb) || (sa && sb && !strcmp(sa, sb));
    }
    case VN_CFG_DOMAINS:
        if (a->ndomains != b->ndomains) return 0;
        for (int i = 0; i < a->ndomains; i++)
            if (strcmp(a->domains[i], b->domains[i])) return 0;
        return 1;
    }
    return 0;
}

/* The example sets (or shows commented out) every key with its default. */
static void test_example_matches_tables(void **state)
{
    (void)state;
    const vn_cfg_key_t *const *tables = vn_config_tables();
    vn_config_t defaults, example;
    char *err = NULL;
    assert_int_equal(vn_config_load(write_tmp(""), &defaults, tables, &err), 0);
    if (vn_config_load(example_path, &example, tables, &err) != 0) fail_msg("%s", err);
    FILE *f = fopen(example_path, "r");
    assert_non_null(f);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    int keys = 0;
    for (const vn_cfg_key_t *const *t = tables; *t; t++) {
        for (const vn_cfg_key_t *k = *t; k->name; k++, keys++) {
            if (!same_value(&defaults, &example, k))
                fail_msg("[%s] %s: the example's value is not the default '%s'", k->section,
                         k->name, k->def);
            /* Present in its section, set or commented out. */
            char sect[64], line1[128], line2[128];
            snprintf(sect, sizeof(sect), "\n[%s]\n", k->section);
            const char *s = strstr(text, sect);
            if (!s) fail_msg("the example has no section [%s]", k->section);
            const char *next = strstr(s + 1, "\n[");
            snprintf(line1, sizeof(line1), "\n%s =", k->name);
            snprintf(line2, sizeof(line2), "\n;%s =", k->name);
            const char *h1 = strstr(s, line1), *h2 = strstr(s, line2);
            int found = (h1 && (!next || h1 < next)) || (h2 && (!next || h2 < next));
            if (!found) fail_msg("[%s] %s is not in the example", k->section, k->name);
            if (!k->help || !k->help[0]) fail_msg("[%s] %s has no help", k->section, k->name);
        }
    }
    assert_true(keys > 60);
    vn_config_free(&defaults);
    vn_config_free(&example);
}

static void test_bad_input_refused_with_line(void **state)
{
    (void)state;
    const vn_cfg_key_t *const *tables = vn_config_tables();
    vn_config_t c;
    char *err = NULL;
    assert_int_equal(
        vn_config_load(write_tmp("[c2s]\nmax_depth = 8\nnot_a_key = 1\n"), &c, tables, &err), -1);
    assert_non_null(strstr(err, ":3: unknown key [c2s] not_a_key"));
    free(err);
    assert_int_equal(vn_config_load(write_tmp("[c2s]\nmax_depth = 2\n"), &c, tables, &err), -1);
    assert_non_null(strstr(err, "invalid value for [c2s] max_depth"));
    free(err);
    assert_int_equal(vn_config_load(write_tmp("[pubsub]\ncreate = everyone\n"), &c, tables, &err),
                     -1);
    free(err);
    assert_int_equal(vn_config_load(write_tmp("[tls]\nciphers =\n"), &c, tables, &err), -1);
    free(err);
    assert_int_equal(vn_config_load(write_tmp("[auth]\nallow_plain = maybe\n"), &c, tables, &err),
                     -1);
    free(err);
    /* and good values land where the tables say */
    assert_int_equal(
        vn_config_load(write_tmp("[server]\ndomain = a.example, b.example\n"
                                 "[pubsub]\ncreate = admins\n[tls]\nmin_version = 1.3\n"
                                 "[c2s]\nrate = 0\nlisten =\n"),
                       &c, tables, &err),
        0);
    assert_int_equal(c.ndomains, 2);
    assert_string_equal(c.domains[1], "b.example");
    assert_int_equal(c.pubsub_create_local, 0);
    assert_int_equal(c.tls_min_version, 13);
    assert_int_equal(c.rate, 0);
    assert_null(c.listen);
    vn_config_free(&c);
}

int main(int argc, char **argv)
{
    example_path = argc > 1 ? argv[1] : "vestnik.conf.example";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_matches_tables),
        cmocka_unit_test(test_bad_input_refused_with_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
