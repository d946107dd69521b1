/* test_failpoint.c - the fault-injection points (core/failpoint.c): DM_FAILPOINTS syntax
 * (NAME=ACTION[@HIT];...), unknown names, actions and hits rejected with nothing armed, hits
 * counted per point, and the actions really firing in a child process: `kill` SIGKILLs it on
 * exactly the armed hit, `stop` SIGSTOPs it there and it carries on after SIGCONT. */
#include "testlib.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/failpoint.h"

static void test_parse(void **state)
{
    (void)state;
    static const struct {
        const char *spec;
        bool ok;
        bool armed;
        const char *msg; /* part of the error message */
    } cases[] = {
        {NULL, true, false, NULL},
        {"", true, false, NULL},
        {";", true, false, NULL},
        {"consolidator.watermark_write=kill", true, true, NULL},
        {"scheduler.send_work_items=stop@3", true, true, NULL},
        {"consolidator.batch_write=stop@2;consolidator.batch_write=kill@5", true, true, NULL},
        {"consolidator.watermark=kill", false, false, "unknown failpoint 'consolidator.watermark'"},
        {"nope=kill", false, false, "unknown failpoint 'nope'"},
        {"consolidator.watermark_write", false, false, "not NAME=ACTION"},
        {"consolidator.watermark_write=explode", false, false, "unknown action 'explode'"},
        {"consolidator.watermark_write=kill@0", false, false, "hit after @"},
        {"consolidator.watermark_write=kill@x", false, false, "hit after @"},
        {"consolidator.batch_write=kill;bad=stop", false, false, "unknown failpoint 'bad'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dm_error err = {0};
        assert_int_equal(dm_failpoints_configure(NULL, NULL), DM_OK);
        enum dm_err e = dm_failpoints_configure(cases[i].spec, &err);
        assert_int_equal(e == DM_OK, cases[i].ok);
        assert_int_equal(dm_failpoints_armed, cases[i].armed);
        if (cases[i].msg)
            assert_non_null(strstr(err.message, cases[i].msg));
        /* a rejected spec leaves nothing armed, even after a good one */
        if (!cases[i].ok) {
            assert_int_equal(dm_failpoints_configure("consolidator.batch_write=kill", &err), DM_OK);
            assert_int_equal(dm_failpoints_configure(cases[i].spec, &err), DM_ERR_INVALID);
            assert_true(dm_failpoints_armed); /* the previous arming stays as it was */
            assert_int_equal(dm_failpoints_configure(NULL, &err), DM_OK);
        }
    }
    /* every listed point can be armed by its name */
    for (const char *const *p = dm_failpoint_names(); *p; p++) {
        char spec[128];
        snprintf(spec, sizeof(spec), "%.*s=stop", (int)(strchr(*p, ':') - *p), *p);
        struct dm_error err = {0};
        assert_int_equal(dm_failpoints_configure(spec, &err), DM_OK);
    }
    assert_int_equal(dm_failpoints_configure(NULL, NULL), DM_OK);
}

static void test_hits_counted(void **state)
{
    (void)state;
    assert_int_equal(dm_failpoints_configure(NULL, NULL), DM_OK);
    dm_failpoint("consolidator.batch_write"); /* disarmed: not even counted */
    assert_int_equal(dm_failpoint_hits("consolidator.batch_write"), 0);
    assert_int_equal(dm_failpoints_configure("scheduler.send_work_items=kill@1000", NULL), DM_OK);
    for (int i = 0; i < 7; i++)
        dm_failpoint("consolidator.batch_write");
    dm_failpoint("scheduler.send_work_items");
    assert_int_equal(dm_failpoint_hits("consolidator.batch_write"), 7);
    assert_int_equal(dm_failpoint_hits("scheduler.send_work_items"), 1);
    assert_int_equal(dm_failpoint_hits("unknown.point"), 0);
    assert_int_equal(dm_failpoints_configure(NULL, NULL), DM_OK);
}

/* A child that reaches `point` `n` times, reporting each passage on a pipe, then exits 0. */
static pid_t child(const char *spec, const char *point, int n, int *rd)
{
    int fd;
    pid_t pid = dm_test_fork_pipe(&fd);
    if (pid == 0) {
        if (dm_failpoints_configure(spec, NULL) != DM_OK)
            _exit(3);
        for (int i = 1; i <= n; i++) {
            dm_failpoint(point);
            char c = (char)('0' + i);
            if (write(fd, &c, 1) != 1)
                _exit(4);
        }
        _exit(0);
    }
    *rd = fd;
    return pid;
}

static int passages(int rd, char *buf, size_t cap)
{
    size_t n = 0;
    ssize_t r;
    while (n < cap && (r = read(rd, buf + n, cap - n)) > 0)
        n += (size_t)r;
    return (int)n;
}

static void test_kill_fires_on_its_hit(void **state)
{
    (void)state;
    int rd, status;
    char buf[8];
    pid_t pid =
        child("consolidator.watermark_write=kill@3", "consolidator.watermark_write", 5, &rd);
    assert_int_equal(passages(rd, buf, sizeof(buf)), 2); /* passed twice, died on the third */
    close(rd);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);

    /* another point's hits do not count */
    pid = child("consolidator.watermark_write=kill", "consolidator.batch_write", 3, &rd);
    assert_int_equal(passages(rd, buf, sizeof(buf)), 3);
    close(rd);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_stop_then_continue(void **state)
{
    (void)state;
    int rd, status;
    char buf[8];
    pid_t pid = child("scheduler.send_work_items=stop@2", "scheduler.send_work_items", 3, &rd);
    assert_int_equal(waitpid(pid, &status, WUNTRACED), pid);
    assert_true(WIFSTOPPED(status));
    assert_int_equal(WSTOPSIG(status), SIGSTOP);
    assert_int_equal(read(rd, buf, sizeof(buf)), 1); /* stopped on the second passage */
    assert_int_equal(kill(pid, SIGCONT), 0);
    assert_int_equal(passages(rd, buf, sizeof(buf)), 2);
    close(rd);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_hits_counted),
        cmocka_unit_test(test_kill_fires_on_its_hit),
        cmocka_unit_test(test_stop_then_continue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
