/* Unit tests for the rate-limited logging of src/core/log.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/log.h"

static void test_first_line_passes(void **state)
{
    (void)state;
    vn_log_limit_t rl = {0};
    unsigned sup = 99;
    assert_int_equal(vn_log_limit_pass(&rl, 0, 1000, &sup), 1); /* even at time 0 */
    assert_int_equal(sup, 0);
}

static void test_suppressed_lines_are_counted(void **state)
{
    (void)state;
    vn_log_limit_t rl = {0};
    unsigned sup;
    assert_int_equal(vn_log_limit_pass(&rl, 5000, 1000, &sup), 1);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(vn_log_limit_pass(&rl, 5000 + (uint64_t)i % 1000, 1000, &sup), 0);
    assert_int_equal(vn_log_limit_pass(&rl, 6000, 1000, &sup), 1);
    assert_int_equal(sup, 1000);
    /* The count starts again after each line written. */
    assert_int_equal(vn_log_limit_pass(&rl, 6001, 1000, &sup), 0);
    assert_int_equal(vn_log_limit_pass(&rl, 9000, 1000, &sup), 1);
    assert_int_equal(sup, 1);
    assert_int_equal(vn_log_limit_pass(&rl, 20000, 1000, &sup), 1);
    assert_int_equal(sup, 0);
}

static void test_below_level_not_counted(void **state)
{
    (void)state;
    vn_log_set_level(VN_LOG_ERROR);
    vn_log_limit_t rl = {0};
    for (int i = 0; i < 10; i++)
        vn_log_limited(&rl, 1000, VN_LOG_WARN, "hidden %d", i);
    assert_int_equal(rl.suppressed, 0);
    assert_true(rl.next_ms == 0);
    vn_log_set_level(VN_LOG_INFO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_line_passes),
        cmocka_unit_test(test_suppressed_lines_are_counted),
        cmocka_unit_test(test_below_level_not_counted),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
